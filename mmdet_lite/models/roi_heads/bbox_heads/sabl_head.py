"""Side-Aware Boundary Localization RoI head (MMDetection 2.x ``SABLHead``, https://arxiv.org/abs/1912.04260).

Classification: flatten -> ``cls_fcs`` -> ``fc_cls``. Localisation: 2-D convs, attention pooling of the
(R, C, S, S) features along y (giving x-direction features (R, C, S)) and along x (y-direction ones),
1-D convs, x``reg_feat_up_ratio`` transposed-conv upsampling to U = S * ratio = B positions, then per position
a bucket logit and an offset; each direction's U positions are split into its two sides (first half, and
the reversed second half, so both count inwards) matching :class:`BucketingBBoxCoder`'s order.

Symbols: R RoIs, C channels, S x S the RoI size, B ``num_buckets``, Sb = ceil(B / 2) buckets per side,
K classes.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.runner import BaseModule

from ....core.bbox import build_bbox_coder
from ....core.fp16 import force_fp32
from ....core.post_processing import multiclass_nms
from ....core.utils import multi_apply
from ...builder import HEADS, build_loss
from ...losses import accuracy

BBoxPred = Tuple[torch.Tensor, torch.Tensor]


@HEADS.register_module()
class SABLHead(BaseModule):
    """forward: (R, C, S, S) -> cls_score (R, K+1), bbox_pred = (bucket logits (R, 4Sb), offsets (R, 4Sb))."""

    def __init__(self,
                 num_classes: int,
                 cls_in_channels: int = 256,
                 reg_in_channels: int = 256,
                 roi_feat_size: int = 7,
                 reg_feat_up_ratio: int = 2,
                 reg_pre_kernel: int = 3,
                 reg_post_kernel: int = 3,
                 reg_pre_num: int = 2,
                 reg_post_num: int = 1,
                 cls_out_channels: int = 1024,
                 reg_offset_out_channels: int = 256,
                 reg_cls_out_channels: int = 256,
                 num_cls_fcs: int = 1,
                 num_reg_fcs: int = 0,
                 reg_class_agnostic: bool = True,
                 norm_cfg: Optional[dict] = None,
                 bbox_coder: dict = dict(type='BucketingBBoxCoder', num_buckets=14, scale_factor=1.7),
                 loss_cls: dict = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                 loss_bbox_cls: dict = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                 loss_bbox_reg: dict = dict(type='SmoothL1Loss', beta=0.1, loss_weight=1.0),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.cls_in_channels = cls_in_channels
        self.reg_in_channels = reg_in_channels
        self.roi_feat_size = roi_feat_size
        self.reg_feat_up_ratio = int(reg_feat_up_ratio)
        self.num_buckets = bbox_coder['num_buckets']
        if self.reg_feat_up_ratio // 2 < 1:
            raise ValueError(f'SABLHead reg_feat_up_ratio must be >= 2, got {reg_feat_up_ratio}')
        self.up_reg_feat_size = roi_feat_size * self.reg_feat_up_ratio
        if self.up_reg_feat_size != self.num_buckets:
            raise ValueError(f'SABLHead needs roi_feat_size * reg_feat_up_ratio == bbox_coder.num_buckets, got '
                             f'{roi_feat_size} * {reg_feat_up_ratio} != {self.num_buckets}')
        if not reg_class_agnostic:
            raise ValueError('SABLHead only supports reg_class_agnostic=True')
        self.reg_pre_kernel = reg_pre_kernel
        self.reg_post_kernel = reg_post_kernel
        self.reg_pre_num = reg_pre_num
        self.reg_post_num = reg_post_num
        self.num_classes = num_classes
        self.cls_out_channels = cls_out_channels
        self.reg_offset_out_channels = reg_offset_out_channels
        self.reg_cls_out_channels = reg_cls_out_channels
        self.num_cls_fcs = num_cls_fcs
        self.num_reg_fcs = num_reg_fcs
        self.reg_class_agnostic = reg_class_agnostic
        self.norm_cfg = norm_cfg
        self.fp16_enabled = False

        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.loss_cls = build_loss(loss_cls)
        self.loss_bbox_cls = build_loss(loss_bbox_cls)
        self.loss_bbox_reg = build_loss(loss_bbox_reg)

        self.cls_fcs = self._add_fc_branch(num_cls_fcs, cls_in_channels, roi_feat_size, cls_out_channels)
        self.side_num = int(np.ceil(self.num_buckets / 2))
        if self.reg_feat_up_ratio > 1:
            self.upsample_x = nn.ConvTranspose1d(reg_in_channels, reg_in_channels, self.reg_feat_up_ratio,
                                                 stride=self.reg_feat_up_ratio)
            self.upsample_y = nn.ConvTranspose1d(reg_in_channels, reg_in_channels, self.reg_feat_up_ratio,
                                                 stride=self.reg_feat_up_ratio)
        relu = dict(type='ReLU')
        self.reg_pre_convs = nn.ModuleList([
            ConvModule(reg_in_channels, reg_in_channels, kernel_size=reg_pre_kernel, padding=reg_pre_kernel // 2,
                       norm_cfg=norm_cfg, act_cfg=relu) for _ in range(reg_pre_num)
        ])
        self.reg_post_conv_xs = nn.ModuleList([
            ConvModule(reg_in_channels, reg_in_channels, kernel_size=(1, reg_post_kernel),
                       padding=(0, reg_post_kernel // 2), norm_cfg=norm_cfg, act_cfg=relu)
            for _ in range(reg_post_num)
        ])
        self.reg_post_conv_ys = nn.ModuleList([
            ConvModule(reg_in_channels, reg_in_channels, kernel_size=(reg_post_kernel, 1),
                       padding=(reg_post_kernel // 2, 0), norm_cfg=norm_cfg, act_cfg=relu)
            for _ in range(reg_post_num)
        ])
        self.reg_conv_att_x = nn.Conv2d(reg_in_channels, 1, 1)
        self.reg_conv_att_y = nn.Conv2d(reg_in_channels, 1, 1)
        self.fc_cls = nn.Linear(cls_out_channels, num_classes + 1)
        self.relu = nn.ReLU(inplace=True)
        self.reg_cls_fcs = self._add_fc_branch(num_reg_fcs, reg_in_channels, 1, reg_cls_out_channels)
        self.reg_offset_fcs = self._add_fc_branch(num_reg_fcs, reg_in_channels, 1, reg_offset_out_channels)
        self.fc_reg_cls = nn.Linear(reg_cls_out_channels, 1)
        self.fc_reg_offset = nn.Linear(reg_offset_out_channels, 1)

        if init_cfg is None:
            self.init_cfg = [
                dict(type='Xavier', layer='Linear', distribution='uniform',
                     override=[
                         dict(type='Normal', name='reg_conv_att_x', std=0.01),
                         dict(type='Normal', name='reg_conv_att_y', std=0.01),
                         dict(type='Normal', name='fc_reg_cls', std=0.01),
                         dict(type='Normal', name='fc_cls', std=0.01),
                         dict(type='Normal', name='fc_reg_offset', std=0.001)
                     ])
            ]
            if self.reg_feat_up_ratio > 1:
                self.init_cfg += [
                    dict(type='Kaiming', distribution='normal',
                         override=[dict(name='upsample_x'), dict(name='upsample_y')])
                ]

    @staticmethod
    def _add_fc_branch(num_branch_fcs: int, in_channels: int, roi_feat_size: int,
                       fc_out_channels: int) -> nn.ModuleList:
        in_channels = in_channels * roi_feat_size * roi_feat_size
        return nn.ModuleList([
            nn.Linear(in_channels if i == 0 else fc_out_channels, fc_out_channels) for i in range(num_branch_fcs)
        ])

    # ------------------------------------------------------------------ forward
    def cls_forward(self, cls_x: torch.Tensor) -> torch.Tensor:
        """(R, C, S, S) -> (R, K+1)."""
        cls_x = cls_x.flatten(1)
        for fc in self.cls_fcs:
            cls_x = self.relu(fc(cls_x))
        return self.fc_cls(cls_x)

    def attention_pool(self, reg_x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(R, C, S, S) -> x-direction features (R, C, S) (pooled over rows with attention normalised along
        each column) and y-direction features (R, C, S) (pooled over columns)."""
        att_x = self.reg_conv_att_x(reg_x).sigmoid()
        att_y = self.reg_conv_att_y(reg_x).sigmoid()
        att_x = att_x / att_x.sum(dim=2, keepdim=True)
        att_y = att_y / att_y.sum(dim=3, keepdim=True)
        return (reg_x * att_x).sum(dim=2), (reg_x * att_y).sum(dim=3)

    def side_aware_feature_extractor(self, reg_x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(R, C, S, S) -> x and y features (R, U, C), U = S * reg_feat_up_ratio."""
        for reg_pre_conv in self.reg_pre_convs:
            reg_x = reg_pre_conv(reg_x)
        reg_fx, reg_fy = self.attention_pool(reg_x)
        if self.reg_post_num > 0:
            reg_fx = reg_fx.unsqueeze(2)
            reg_fy = reg_fy.unsqueeze(3)
            for conv_x, conv_y in zip(self.reg_post_conv_xs, self.reg_post_conv_ys):
                reg_fx = conv_x(reg_fx)
                reg_fy = conv_y(reg_fy)
            reg_fx = reg_fx.squeeze(2)
            reg_fy = reg_fy.squeeze(3)
        if self.reg_feat_up_ratio > 1:
            reg_fx = self.relu(self.upsample_x(reg_fx))
            reg_fy = self.relu(self.upsample_y(reg_fy))
        return reg_fx.transpose(1, 2).contiguous(), reg_fy.transpose(1, 2).contiguous()

    def reg_pred(self, x: torch.Tensor, offset_fcs: nn.ModuleList,
                 cls_fcs: nn.ModuleList) -> Tuple[torch.Tensor, torch.Tensor]:
        """(R, U, C) -> offsets (R, U), bucket logits (R, U)."""
        x_offset = x.view(-1, self.reg_in_channels)
        x_cls = x_offset
        for fc in offset_fcs:
            x_offset = self.relu(fc(x_offset))
        for fc in cls_fcs:
            x_cls = self.relu(fc(x_cls))
        offset_pred = self.fc_reg_offset(x_offset).view(x.size(0), -1)
        cls_pred = self.fc_reg_cls(x_cls).view(x.size(0), -1)
        return offset_pred, cls_pred

    def side_aware_split(self, feat: torch.Tensor) -> torch.Tensor:
        """(R, U) -> (R, 2 * Sb): the first ceil(U/2) positions, then the last ones reversed (inwards)."""
        l_end = int(np.ceil(self.up_reg_feat_size / 2))
        r_start = int(np.floor(self.up_reg_feat_size / 2))
        return torch.cat([feat[:, :l_end], feat[:, r_start:].flip(dims=(1, ))], dim=-1)

    def bbox_pred_split(self, bbox_pred: BBoxPred, num_proposals_per_img: Sequence[int]) -> Tuple[BBoxPred, ...]:
        """Split the batch's (logits, offsets) into one pair per image."""
        bucket_cls_preds, bucket_offset_preds = bbox_pred
        return tuple(zip(bucket_cls_preds.split(num_proposals_per_img, 0),
                         bucket_offset_preds.split(num_proposals_per_img, 0)))

    def reg_forward(self, reg_x: torch.Tensor) -> BBoxPred:
        """(R, C, S, S) -> bucket logits (R, 4Sb), offsets (R, 4Sb), sides ordered left, right, top, down."""
        reg_fx, reg_fy = self.side_aware_feature_extractor(reg_x)
        offset_pred_x, cls_pred_x = self.reg_pred(reg_fx, self.reg_offset_fcs, self.reg_cls_fcs)
        offset_pred_y, cls_pred_y = self.reg_pred(reg_fy, self.reg_offset_fcs, self.reg_cls_fcs)
        edge_offset_preds = torch.cat([self.side_aware_split(offset_pred_x), self.side_aware_split(offset_pred_y)],
                                      dim=-1)
        edge_cls_preds = torch.cat([self.side_aware_split(cls_pred_x), self.side_aware_split(cls_pred_y)], dim=-1)
        return edge_cls_preds, edge_offset_preds

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, BBoxPred]:
        bbox_pred = self.reg_forward(x)
        cls_score = self.cls_forward(x)
        return cls_score, bbox_pred

    # ------------------------------------------------------------------ targets
    def get_targets(self, sampling_results: list, gt_bboxes: List[torch.Tensor], gt_labels: List[torch.Tensor],
                    rcnn_train_cfg) -> tuple:
        """labels (R,), label_weights (R,), (bucket_cls_targets, bucket_offset_targets),
        (bucket_cls_weights, bucket_offset_weights), the four bucket tensors (R, 4Sb)."""
        (labels, label_weights, bucket_cls_targets, bucket_cls_weights, bucket_offset_targets,
         bucket_offset_weights) = self.bucket_target([res.pos_bboxes for res in sampling_results],
                                                     [res.neg_bboxes for res in sampling_results],
                                                     [res.pos_gt_bboxes for res in sampling_results],
                                                     [res.pos_gt_labels for res in sampling_results],
                                                     rcnn_train_cfg)
        return (labels, label_weights, (bucket_cls_targets, bucket_offset_targets),
                (bucket_cls_weights, bucket_offset_weights))

    def bucket_target(self, pos_proposals_list: List[torch.Tensor], neg_proposals_list: List[torch.Tensor],
                      pos_gt_bboxes_list: List[torch.Tensor], pos_gt_labels_list: List[torch.Tensor],
                      rcnn_train_cfg, concat: bool = True) -> tuple:
        outputs = multi_apply(self._bucket_target_single, pos_proposals_list, neg_proposals_list,
                              pos_gt_bboxes_list, pos_gt_labels_list, cfg=rcnn_train_cfg)
        if concat:
            outputs = tuple(torch.cat(output, 0) for output in outputs)
        return outputs

    def _bucket_target_single(self, pos_proposals: torch.Tensor, neg_proposals: torch.Tensor,
                              pos_gt_bboxes: torch.Tensor, pos_gt_labels: torch.Tensor, cfg) -> tuple:
        """One image's P positives then Q negatives: labels (P+Q,) (K for negatives), label_weights (P+Q,)
        and the bucket cls targets/weights and offset targets/weights (P+Q, 4Sb), zero for negatives."""
        num_pos = pos_proposals.size(0)
        num_neg = neg_proposals.size(0)
        num_samples = num_pos + num_neg
        labels = pos_gt_bboxes.new_full((num_samples, ), self.num_classes, dtype=torch.long)
        label_weights = pos_proposals.new_zeros(num_samples)
        bucket_targets = [pos_proposals.new_zeros(num_samples, 4 * self.side_num) for _ in range(4)]
        if num_pos > 0:
            labels[:num_pos] = pos_gt_labels
            label_weights[:num_pos] = 1.0
            offsets, offset_weights, cls_targets, cls_weights = self.bbox_coder.encode(pos_proposals, pos_gt_bboxes)
            for target, value in zip(bucket_targets, (cls_targets, cls_weights, offsets, offset_weights)):
                target[:num_pos] = value
        if num_neg > 0:
            label_weights[-num_neg:] = 1.0
        return (labels, label_weights, *bucket_targets)

    # ------------------------------------------------------------------ losses
    @force_fp32
    def loss(self,
             cls_score: Optional[torch.Tensor],
             bbox_pred: Optional[BBoxPred],
             rois: Optional[torch.Tensor],
             labels: torch.Tensor,
             label_weights: torch.Tensor,
             bbox_targets: Optional[BBoxPred],
             bbox_weights: Optional[BBoxPred],
             reduction_override: Optional[str] = None) -> dict:
        """``loss_cls`` and ``acc``; ``loss_bbox_cls`` (sigmoid CE per bucket, over R*4 sides) and
        ``loss_bbox_reg`` (over the R RoIs)."""
        losses = dict()
        if cls_score is not None:
            avg_factor = max(torch.sum(label_weights > 0).float().item(), 1.)
            losses['loss_cls'] = self.loss_cls(cls_score, labels, label_weights, avg_factor=avg_factor,
                                               reduction_override=reduction_override)
            losses['acc'] = accuracy(cls_score, labels)
        if bbox_pred is not None:
            bucket_cls_preds, bucket_offset_preds = bbox_pred
            bucket_cls_targets, bucket_offset_targets = bbox_targets
            bucket_cls_weights, bucket_offset_weights = bbox_weights
            bucket_cls_targets = bucket_cls_targets.view(-1, self.side_num)
            losses['loss_bbox_cls'] = self.loss_bbox_cls(
                bucket_cls_preds.view(-1, self.side_num), bucket_cls_targets,
                bucket_cls_weights.view(-1, self.side_num), avg_factor=bucket_cls_targets.size(0),
                reduction_override=reduction_override)
            losses['loss_bbox_reg'] = self.loss_bbox_reg(
                bucket_offset_preds, bucket_offset_targets, bucket_offset_weights,
                avg_factor=bucket_offset_targets.size(0), reduction_override=reduction_override)
        return losses

    # ------------------------------------------------------------------ inference
    @force_fp32
    def get_bboxes(self,
                   rois: torch.Tensor,
                   cls_score: Union[torch.Tensor, List[torch.Tensor], None],
                   bbox_pred: Optional[BBoxPred],
                   img_shape: Optional[Sequence[int]],
                   scale_factor: Union[float, Sequence[float], torch.Tensor],
                   rescale: bool = False,
                   cfg=None):
        """Class-agnostic boxes (Ri, 4) and scores (Ri, K+1) of one image's (Ri, 5) RoIs when ``cfg`` is None,
        else multiclass NMS with the localisation confidences as score factors: (det_bboxes (k, 5),
        det_labels (k,))."""
        if isinstance(cls_score, list):
            cls_score = sum(cls_score) / float(len(cls_score))
        scores = F.softmax(cls_score, dim=1) if cls_score is not None else None
        confidences = None
        if bbox_pred is not None:
            bboxes, confidences = self.bbox_coder.decode(rois[:, 1:], bbox_pred, img_shape)
        else:
            bboxes = rois[:, 1:].clone()
            if img_shape is not None:
                bboxes[:, [0, 2]] = bboxes[:, [0, 2]].clamp(min=0, max=img_shape[1] - 1)
                bboxes[:, [1, 3]] = bboxes[:, [1, 3]].clamp(min=0, max=img_shape[0] - 1)
        if rescale and bboxes.size(0) > 0:
            bboxes = bboxes / bboxes.new_tensor(scale_factor)
        if cfg is None:
            return bboxes, scores
        return multiclass_nms(bboxes, scores, cfg['score_thr'], cfg['nms'], cfg['max_per_img'],
                              score_factors=confidences)
