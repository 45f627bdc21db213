"""Box classification/regression head on pooled RoI features (MMDetection 2.x ``BBoxHead``):
layers, targets, losses and test-time boxes in one file.

Symbols: R sampled RoIs of the batch, K = num_classes (label K is background), S x S the RoI feature size,
rois ``(R, 5)`` = (batch_idx, x1, y1, x2, y2).
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.runner import BaseModule
from torch.nn.modules.utils import _pair

from ....core.bbox import build_bbox_coder
from ....core.fp16 import force_fp32
from ....core.post_processing import multiclass_nms
from ....core.utils import host_index
from ...builder import HEADS, build_loss
from ...losses import accuracy


@HEADS.register_module()
class BBoxHead(BaseModule):
    """Simplest RoI head: optional average pooling, then ``fc_cls`` (K+1 logits) and ``fc_reg``
    (4 deltas, or 4*K class-specific ones ordered class-major).

    A classification loss with ``custom_cls_channels`` / ``custom_activation`` / ``custom_accuracy``
    set (e.g. 2.28's SeesawLoss) gives the number of ``fc_cls`` outputs (``get_cls_channels``), the
    test-time scores (``get_activation``) and the accuracy entries (``get_accuracy``).
    """

    def __init__(self,
                 with_avg_pool: bool = False,
                 with_cls: bool = True,
                 with_reg: bool = True,
                 roi_feat_size: Union[int, Tuple[int, int]] = 7,
                 in_channels: int = 256,
                 num_classes: int = 80,
                 bbox_coder: dict = dict(type='DeltaXYWHBBoxCoder', clip_border=True,
                                         target_means=[0., 0., 0., 0.], target_stds=[0.1, 0.1, 0.2, 0.2]),
                 reg_class_agnostic: bool = False,
                 reg_decoded_bbox: bool = False,
                 loss_cls: dict = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                 loss_bbox: dict = dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if not (with_cls or with_reg):
            raise ValueError('BBoxHead needs with_cls or with_reg')
        self.with_avg_pool = with_avg_pool
        self.with_cls = with_cls
        self.with_reg = with_reg
        self.roi_feat_size = _pair(roi_feat_size)
        self.roi_feat_area = self.roi_feat_size[0] * self.roi_feat_size[1]
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.reg_class_agnostic = reg_class_agnostic
        self.reg_decoded_bbox = reg_decoded_bbox
        self.fp16_enabled = False
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.loss_cls = build_loss(loss_cls)
        self.loss_bbox = build_loss(loss_bbox)

        in_channels = self.in_channels
        if self.with_avg_pool:
            self.avg_pool = nn.AvgPool2d(self.roi_feat_size)
        else:
            in_channels *= self.roi_feat_area
        if self.with_cls:
            self.fc_cls = nn.Linear(in_channels, self.cls_channels)
        if self.with_reg:
            out_dim_reg = 4 if reg_class_agnostic else 4 * num_classes
            self.fc_reg = nn.Linear(in_channels, out_dim_reg)
        self.debug_imgs = None
        if init_cfg is None:
            self.init_cfg = []
            if self.with_cls:
                self.init_cfg += [dict(type='Normal', std=0.01, override=dict(name='fc_cls'))]
            if self.with_reg:
                self.init_cfg += [dict(type='Normal', std=0.001, override=dict(name='fc_reg'))]

    @property
    def custom_cls_channels(self) -> bool:
        """Whether ``loss_cls`` sets the number of classification outputs (False by default)."""
        return getattr(self.loss_cls, 'custom_cls_channels', False)

    @property
    def custom_activation(self) -> bool:
        """Whether ``loss_cls`` turns logits into scores (False by default: softmax)."""
        return getattr(self.loss_cls, 'custom_activation', False)

    @property
    def custom_accuracy(self) -> bool:
        """Whether ``loss_cls`` computes the accuracy entries (False by default)."""
        return getattr(self.loss_cls, 'custom_accuracy', False)

    @property
    def cls_channels(self) -> int:
        """Outputs of ``fc_cls``: K+1, or what a custom ``loss_cls`` asks for."""
        if self.custom_cls_channels:
            return self.loss_cls.get_cls_channels(self.num_classes)
        return self.num_classes + 1

    def forward(self, x: torch.Tensor) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """x: (R, C, S, S) -> cls_score (R, K+1), bbox_pred (R, 4 or 4K)."""
        if self.with_avg_pool:
            x = self.avg_pool(x)
        x = x.flatten(1)
        cls_score = self.fc_cls(x) if self.with_cls else None
        bbox_pred = self.fc_reg(x) if self.with_reg else None
        return cls_score, bbox_pred

    # ------------------------------------------------------------------ targets
    @force_fp32
    def get_targets(self, sampling_results: list, gt_bboxes: List[torch.Tensor], gt_labels: List[torch.Tensor],
                    rcnn_train_cfg, concat: bool = True) -> Tuple:
        """Targets of the R sampled RoIs: per image its Pi positives then its Qi negatives (the RoI order of
        ``bbox2roi``), images concatenated; lists of per-image (Pi+Qi, ...) tensors unless ``concat``.

        Returns labels (R,) (K for negatives), label_weights (R,) (``pos_weight`` for positives, 1 for
        negatives), bbox_targets (R, 4) and bbox_weights (R, 4) (1 for positives, 0 for negatives).
        """
        num_pos = np.array([res.pos_bboxes.size(0) for res in sampling_results], dtype=np.int64)
        num_neg = np.array([res.neg_bboxes.size(0) for res in sampling_results], dtype=np.int64)
        pos_bboxes = torch.cat([res.pos_bboxes for res in sampling_results])
        pos_gt_bboxes = torch.cat([res.pos_gt_bboxes for res in sampling_results])
        pos_gt_labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        # row of each positive: its index among all positives plus the negatives of the images before it
        pos_rows = host_index(np.arange(num_pos.sum()) + np.repeat(np.cumsum(num_neg) - num_neg, num_pos),
                              pos_bboxes.device)
        num_rois = int(num_pos.sum() + num_neg.sum())
        labels = pos_bboxes.new_full((num_rois, ), self.num_classes, dtype=torch.long)
        labels = labels.index_copy(0, pos_rows, pos_gt_labels)
        pos_weight = 1.0 if rcnn_train_cfg['pos_weight'] <= 0 else rcnn_train_cfg['pos_weight']
        label_weights = pos_bboxes.new_ones(num_rois).index_fill(0, pos_rows, pos_weight)
        if self.reg_decoded_bbox:
            pos_bbox_targets = pos_gt_bboxes
        else:
            pos_bbox_targets = self.bbox_coder.encode(pos_bboxes, pos_gt_bboxes)
        bbox_targets = pos_bboxes.new_zeros(num_rois, 4).index_copy(0, pos_rows, pos_bbox_targets)
        bbox_weights = pos_bboxes.new_zeros(num_rois, 4).index_fill(0, pos_rows, 1)
        targets = (labels, label_weights, bbox_targets, bbox_weights)
        if not concat:
            split_sizes = (num_pos + num_neg).tolist()
            targets = tuple(list(target.split(split_sizes)) for target in targets)
        return targets

    # ------------------------------------------------------------------ losses
    @force_fp32
    def loss(self,
             cls_score: Optional[torch.Tensor],
             bbox_pred: Optional[torch.Tensor],
             rois: torch.Tensor,
             labels: torch.Tensor,
             label_weights: torch.Tensor,
             bbox_targets: torch.Tensor,
             bbox_weights: torch.Tensor,
             reduction_override: Optional[str] = None) -> dict:
        """``loss_cls`` (mean over sampled RoIs), ``acc`` (percent) and ``loss_bbox`` (sum over positives of
        the GT class's deltas divided by R, the number of sampled RoIs; zero without positives).

        The box loss runs over all R rows with the non-positive rows weighted 0, so no step waits for the
        device to count the positives; with ``reduction_override='none'`` it returns the positives' rows.
        """
        losses = dict()
        if cls_score is not None:
            avg_factor = torch.sum(label_weights > 0).float().clamp(min=1.)
            if cls_score.numel() > 0:
                loss_cls = self.loss_cls(cls_score, labels, label_weights, avg_factor=avg_factor,
                                         reduction_override=reduction_override)
                if isinstance(loss_cls, dict):
                    losses.update(loss_cls)
                else:
                    losses['loss_cls'] = loss_cls
                # 2.28 asks a custom loss for accuracy whenever it has a custom activation
                if self.custom_activation:
                    losses.update(self.loss_cls.get_accuracy(cls_score, labels))
                else:
                    losses['acc'] = accuracy(cls_score, labels)
        if bbox_pred is not None:
            is_pos = (labels >= 0) & (labels < self.num_classes)
            if self.reg_decoded_bbox:
                bbox_pred = self.bbox_coder.decode(rois[:, 1:], bbox_pred)
            num_rois = bbox_pred.size(0)
            if self.reg_class_agnostic:
                row_pred = bbox_pred.view(num_rois, 4)
            else:
                # each RoI's prediction for its label; non-positive rows take class 0's (weighted 0 below)
                pred_classes = torch.where(is_pos, labels, 0)
                row_pred = bbox_pred.view(num_rois, -1, 4)[torch.arange(num_rois, device=labels.device),
                                                           pred_classes]
            loss_bbox = self.loss_bbox(row_pred, bbox_targets, bbox_weights * is_pos[:, None],
                                       avg_factor=bbox_targets.size(0), reduction_override=reduction_override)
            losses['loss_bbox'] = loss_bbox[is_pos] if reduction_override == 'none' else loss_bbox
        return losses

    # ------------------------------------------------------------------ inference
    @force_fp32
    def get_bboxes(self,
                   rois: torch.Tensor,
                   cls_score: Union[torch.Tensor, List[torch.Tensor], None],
                   bbox_pred: Optional[torch.Tensor],
                   img_shape: Optional[Sequence[int]],
                   scale_factor: Union[float, Sequence[float], torch.Tensor],
                   rescale: bool = False,
                   cfg=None):
        """Boxes of one image's Ri RoIs.

        Returns ``(bboxes (Ri, 4K), scores (Ri, K+1))`` when ``cfg`` is None, otherwise the multiclass-NMS
        result ``(det_bboxes (k, 5), det_labels (k,))``. With ``rescale`` boxes are divided by
        ``scale_factor`` (back to original-image pixels).
        """
        if isinstance(cls_score, list):
            cls_score = sum(cls_score) / float(len(cls_score))
        if cls_score is None:
            scores = None
        elif self.custom_cls_channels:
            scores = self.loss_cls.get_activation(cls_score)
        else:
            scores = F.softmax(cls_score, dim=-1)
        if bbox_pred is not None:
            bboxes = self.bbox_coder.decode(rois[..., 1:], bbox_pred, max_shape=img_shape)
        else:
            bboxes = rois[:, 1:].clone()
            if img_shape is not None:
                bboxes[:, [0, 2]] = bboxes[:, [0, 2]].clamp(min=0, max=img_shape[1])
                bboxes[:, [1, 3]] = bboxes[:, [1, 3]].clamp(min=0, max=img_shape[0])
        if rescale and bboxes.size(0) > 0:
            scale_factor = bboxes.new_tensor(scale_factor)
            bboxes = (bboxes.view(bboxes.size(0), -1, 4) / scale_factor).view(bboxes.size(0), -1)
        if cfg is None:
            return bboxes, scores
        return multiclass_nms(bboxes, scores, cfg['score_thr'], cfg['nms'], cfg['max_per_img'])
