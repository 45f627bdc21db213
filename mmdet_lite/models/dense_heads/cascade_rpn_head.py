"""Cascade RPN (MMDetection 2.x ``CascadeRPNHead`` / ``StageCascadeRPNHead``, https://arxiv.org/abs/1909.06720).

A sequence of RPN stages with one anchor per location: each stage regresses the previous stage's
boxes, and its 3x3 convolution samples where those boxes are (``AdaptiveConv``: a dilated convolution
for the initial uniform anchors, a deformable one with offsets computed from arbitrary boxes).

Symbols: N images, L levels, level l has a (Hl, Wl) map and Rl = Hl*Wl boxes (one per location),
R = sum(Rl).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.runner import BaseModule, ModuleList

from ...core.anchor import images_to_levels
from ...core.bbox import RegionAssigner, build_assigner, build_sampler
from ...core.utils import multi_apply
from ...ops import DeformConv2d
from ..builder import HEADS, build_head
from .base_dense_head import BaseDenseHead
from .rpn_head import RPNHead


class AdaptiveConv(BaseModule):
    """3x3 convolution adapted to the anchors (``conv``).

    ``type='dilation'``: ``nn.Conv2d`` with ``dilation`` (and padding = dilation), for uniform anchors.
    ``type='offset'``: ``DeformConv2d`` (stride 1, padding 1, groups 1) whose offsets come from the anchors
    (``StageCascadeRPNHead.anchor_offset``).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 padding: int = 1,
                 dilation: int = 3,
                 groups: int = 1,
                 bias: bool = False,
                 type: str = 'dilation',
                 init_cfg=dict(type='Normal', std=0.01, override=dict(name='conv'))) -> None:
        super().__init__(init_cfg)
        if type not in ('offset', 'dilation'):
            raise ValueError(f"AdaptiveConv type must be 'offset' or 'dilation', got {type!r}")
        if kernel_size != 3:
            raise ValueError(f'AdaptiveConv only supports kernel_size=3, got {kernel_size}')
        self.adapt_type = type
        if type == 'offset':
            if stride != 1 or padding != 1 or groups != 1:
                raise ValueError('AdaptiveConv offset mode only supports stride=1, padding=1, groups=1; got '
                                 f'stride={stride}, padding={padding}, groups={groups}')
            self.conv = DeformConv2d(in_channels, out_channels, kernel_size, padding=padding, stride=stride,
                                     groups=groups, bias=bias)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor, offset: Optional[torch.Tensor]) -> torch.Tensor:
        """x (N, C_in, H, W); offset (N, H*W, 18) in offset mode, None in dilation mode."""
        if self.adapt_type == 'offset':
            num_imgs, _, height, width = x.shape
            if offset is None or offset.shape[1] != height * width:
                raise ValueError(f'offset mode needs (N, {height * width}, 18) offsets, got '
                                 f'{None if offset is None else tuple(offset.shape)}')
            offset = offset.permute(0, 2, 1).reshape(num_imgs, -1, height, width)
            return self.conv(x, offset.contiguous())
        if offset is not None:
            raise ValueError('dilation mode takes no offset')
        return self.conv(x)


def anchor_offset(anchors: torch.Tensor, stride: int, featmap_size: Tuple[int, int], kernel_size: int = 3,
                  dilation: int = 1) -> torch.Tensor:
    """Deformable-conv offsets that move a 3x3 kernel onto each location's box.

    Tap (i, j) (i, j in {-1, 0, 1}) of location (y, x) samples at
    ``(cy / s + i * (h / s / 2), cx / s + j * (w / s / 2))`` for the box's centre (cx, cy) and size (w, h);
    the offset is that minus the plain conv's ``(y + i, x + j)``.

    Args:
        anchors: (..., Hl*Wl, 4) one box per location, row ``y * Wl + x``.
        stride: stride s of the level.
        featmap_size: (Hl, Wl).

    Returns:
        (..., Hl*Wl, 18), channel ``2k`` the y and ``2k + 1`` the x offset of tap k = (i + 1) * 3 + (j + 1).
    """
    if kernel_size != 3 or dilation != 1:
        raise ValueError(f'anchor_offset supports kernel_size=3, dilation=1; got {kernel_size}, {dilation}')
    feat_h, feat_w = featmap_size
    if anchors.shape[-2] != feat_h * feat_w:
        raise ValueError(f'{anchors.shape[-2]} anchors for a {feat_h}x{feat_w} map, expected one per location')
    pad = (kernel_size - 1) // 2
    idx = torch.arange(-pad, pad + 1, dtype=anchors.dtype, device=anchors.device)
    tap_y, tap_x = torch.meshgrid(idx, idx, indexing='ij')
    tap_x, tap_y = tap_x.reshape(-1), tap_y.reshape(-1)
    widths = (anchors[..., 2] - anchors[..., 0]) / stride / (kernel_size - 1) - dilation
    heights = (anchors[..., 3] - anchors[..., 1]) / stride / (kernel_size - 1) - dilation
    grid_y, grid_x = torch.meshgrid(torch.arange(feat_h, device=anchors.device),
                                    torch.arange(feat_w, device=anchors.device), indexing='ij')
    ctr_x = (anchors[..., 0] + anchors[..., 2]) * 0.5 / stride - grid_x.reshape(-1).to(anchors.dtype)
    ctr_y = (anchors[..., 1] + anchors[..., 3]) * 0.5 / stride - grid_y.reshape(-1).to(anchors.dtype)
    offset_x = widths[..., None] * tap_x + ctr_x[..., None]
    offset_y = heights[..., None] * tap_y + ctr_y[..., None]
    return torch.stack([offset_y, offset_x], dim=-1).flatten(-2)


@HEADS.register_module()
class StageCascadeRPNHead(RPNHead):
    """One Cascade RPN stage: ``rpn_conv`` (``AdaptiveConv``), optional ``rpn_cls``, ``rpn_reg``.

    Args:
        in_channels: input channels.
        anchor_generator: only the first stage's is used (to make the initial anchors).
        adapt_cfg: ``AdaptiveConv`` arguments (``type`` 'dilation' or 'offset').
        bridged_feature: pass ``relu(rpn_conv(x))`` on to the next stage instead of ``x``.
        with_cls: predict objectness (only the last stage in the configs).
        sampling: sample anchors with ``train_cfg.sampler``; without sampling the losses are averaged
            over (number of anchors of the batch) / 200, as guided anchoring does.
    """

    def __init__(self,
                 in_channels: int,
                 anchor_generator: dict = dict(type='AnchorGenerator', scales=[8], ratios=[1.0],
                                               strides=[4, 8, 16, 32, 64]),
                 adapt_cfg: dict = dict(type='dilation', dilation=3),
                 bridged_feature: bool = False,
                 with_cls: bool = True,
                 sampling: bool = True,
                 feat_channels: int = 256,
                 bbox_coder: dict = dict(type='DeltaXYWHBBoxCoder', target_means=(.0, .0, .0, .0),
                                         target_stds=(1.0, 1.0, 1.0, 1.0)),
                 reg_decoded_bbox: bool = False,
                 loss_cls: dict = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                 loss_bbox: dict = dict(type='L1Loss', loss_weight=1.0),
                 train_cfg=None,
                 test_cfg=None,
                 init_cfg=None) -> None:
        self.with_cls = with_cls
        self.anchor_strides = anchor_generator['strides']
        self.anchor_scales = anchor_generator['scales']
        self.bridged_feature = bridged_feature
        self.adapt_cfg = adapt_cfg
        super().__init__(in_channels, feat_channels=feat_channels, anchor_generator=anchor_generator,
                         bbox_coder=bbox_coder, reg_decoded_bbox=reg_decoded_bbox, loss_cls=loss_cls,
                         loss_bbox=loss_bbox, train_cfg=train_cfg, test_cfg=test_cfg, init_cfg=init_cfg)
        if self.num_base_priors != 1:
            raise ValueError(f'StageCascadeRPNHead needs one anchor per location, anchor_generator gives '
                             f'{self.num_base_priors}')
        self.sampling = sampling
        if self.train_cfg:
            self.assigner = build_assigner(self.train_cfg['assigner'])
            sampler_cfg = (self.train_cfg['sampler'] if self.sampling and 'sampler' in self.train_cfg else
                           dict(type='PseudoSampler'))
            self.sampler = build_sampler(sampler_cfg, context=self)
        if init_cfg is None:
            self.init_cfg = dict(type='Normal', std=0.01, override=[dict(name='rpn_reg')])
            if self.with_cls:
                self.init_cfg['override'].append(dict(name='rpn_cls'))

    def _init_layers(self) -> None:
        self.rpn_conv = AdaptiveConv(self.in_channels, self.feat_channels, **self.adapt_cfg)
        if self.with_cls:
            self.rpn_cls = nn.Conv2d(self.feat_channels, self.num_base_priors * self.cls_out_channels, 1)
        self.rpn_reg = nn.Conv2d(self.feat_channels, self.num_base_priors * 4, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward_single(self, x: torch.Tensor, offset: Optional[torch.Tensor]):  # type: ignore[override]
        """x (N, C, H, W) -> (features for the next stage, cls (N, C, H, W) or None, deltas (N, 4, H, W))."""
        bridged_x = x
        x = self.relu(self.rpn_conv(x, offset))
        if self.bridged_feature:
            bridged_x = x
        cls_score = self.rpn_cls(x) if self.with_cls else None
        return bridged_x, cls_score, self.rpn_reg(x)

    def forward(self, feats: Sequence[torch.Tensor], offset_list: Optional[List[torch.Tensor]] = None):
        """feats: L maps; offset_list: L tensors (N, Rl, 18) or None."""
        if offset_list is None:
            offset_list = [None] * len(feats)
        return multi_apply(self.forward_single, feats, offset_list)

    def anchor_offset(self, anchor_list: List[List[torch.Tensor]], anchor_strides: Sequence[int],
                      featmap_sizes: List[Tuple[int, int]]) -> List[torch.Tensor]:
        """Offsets of every level: L tensors (N, Rl, 18) from N lists of L (Rl, 4) boxes."""
        return [
            anchor_offset(torch.stack([anchors[level] for anchors in anchor_list]), stride, featmap_size)
            for level, (stride, featmap_size) in enumerate(zip(anchor_strides, featmap_sizes))
        ]

    # ------------------------------------------------------------------ targets
    def _region_targets_single(self, anchors: List[torch.Tensor], valid_flags: List[torch.Tensor],
                               gt_bboxes: torch.Tensor, gt_bboxes_ignore: Optional[torch.Tensor], img_meta: dict,
                               featmap_sizes: List[Tuple[int, int]]) -> tuple:
        """RegionAssigner targets of one image over its R boxes (levels concatenated).

        Labels follow this project's convention (positive 0, background ``num_classes``); 2.28 writes
        1 on positives and 0 elsewhere here, which no config reads (the region stage has no ``rpn_cls``).
        """
        assign_result = self.assigner.assign(anchors, valid_flags, gt_bboxes, img_meta, featmap_sizes,
                                             self.anchor_scales[0], self.anchor_strides,
                                             gt_bboxes_ignore=gt_bboxes_ignore, gt_labels=None,
                                             allowed_border=self.train_cfg['allowed_border'])
        flat_anchors = torch.cat(anchors)
        sampling_result = self.sampler.sample(assign_result, flat_anchors, gt_bboxes)
        num_anchors = flat_anchors.shape[0]
        bbox_targets = torch.zeros_like(flat_anchors)
        bbox_weights = torch.zeros_like(flat_anchors)
        labels = flat_anchors.new_full((num_anchors, ), self.num_classes, dtype=torch.long)
        label_weights = flat_anchors.new_zeros(num_anchors, dtype=torch.float)
        pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
        if len(pos_inds) > 0:
            if self.reg_decoded_bbox:
                bbox_targets[pos_inds] = sampling_result.pos_gt_bboxes
            else:
                bbox_targets[pos_inds] = self.bbox_coder.encode(sampling_result.pos_bboxes,
                                                                sampling_result.pos_gt_bboxes)
            bbox_weights[pos_inds] = 1.0
            labels[pos_inds] = 0
            pos_weight = self.train_cfg['pos_weight']
            label_weights[pos_inds] = 1.0 if pos_weight <= 0 else pos_weight
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0
        return labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds

    def region_targets(self, anchor_list, valid_flag_list, gt_bboxes_list, img_metas, featmap_sizes,
                       gt_bboxes_ignore_list=None) -> tuple:
        """``_region_targets_single`` of every image, split into L levels (N, Rl[, 4])."""
        num_imgs = len(img_metas)
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        if gt_bboxes_ignore_list is None:
            gt_bboxes_ignore_list = [None] * num_imgs
        (all_labels, all_label_weights, all_bbox_targets, all_bbox_weights, pos_inds_list,
         neg_inds_list) = multi_apply(self._region_targets_single, anchor_list, valid_flag_list, gt_bboxes_list,
                                      gt_bboxes_ignore_list, img_metas, featmap_sizes=featmap_sizes)
        num_total_pos = sum(max(inds.numel(), 1) for inds in pos_inds_list)
        num_total_neg = sum(max(inds.numel(), 1) for inds in neg_inds_list)
        return (images_to_levels(all_labels, num_level_anchors),
                images_to_levels(all_label_weights, num_level_anchors),
                images_to_levels(all_bbox_targets, num_level_anchors),
                images_to_levels(all_bbox_weights, num_level_anchors), num_total_pos, num_total_neg)

    def get_targets(self, anchor_list, valid_flag_list, gt_bboxes, img_metas, featmap_sizes,
                    gt_bboxes_ignore=None, label_channels: int = 1) -> tuple:  # type: ignore[override]
        """Region targets with a ``RegionAssigner``, otherwise ``AnchorHead.get_targets`` (class-agnostic)."""
        if isinstance(self.assigner, RegionAssigner):
            return self.region_targets(anchor_list, valid_flag_list, gt_bboxes, img_metas, featmap_sizes,
                                       gt_bboxes_ignore_list=gt_bboxes_ignore)
        return super().get_targets(anchor_list, valid_flag_list, gt_bboxes, img_metas,
                                   gt_bboxes_ignore_list=gt_bboxes_ignore, label_channels=label_channels)

    # ------------------------------------------------------------------ losses
    def loss_single(self, cls_score, bbox_pred, anchors, labels, label_weights, bbox_targets, bbox_weights,
                    num_total_samples):
        """(loss_cls or None, loss_reg) of one level; anchors (N, Rl, 4)."""
        loss_cls = None
        if self.with_cls:
            cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
            loss_cls = self.loss_cls(cls_score, labels.reshape(-1), label_weights.reshape(-1),
                                     avg_factor=num_total_samples)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 4)
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(anchors.reshape(-1, 4), bbox_pred)
        loss_reg = self.loss_bbox(bbox_pred, bbox_targets.reshape(-1, 4), bbox_weights.reshape(-1, 4),
                                  avg_factor=num_total_samples)
        return loss_cls, loss_reg

    def loss(self, anchor_list, valid_flag_list, cls_scores, bbox_preds, gt_bboxes, img_metas,
             gt_bboxes_ignore=None) -> dict:  # type: ignore[override]
        """``dict(loss_rpn_cls=[L], loss_rpn_reg=[L])`` (no ``loss_rpn_cls`` without ``with_cls``)."""
        featmap_sizes = [featmap.size()[-2:] for featmap in bbox_preds]
        label_channels = self.cls_out_channels if self.use_sigmoid_cls else 1
        (labels_list, label_weights_list, bbox_targets_list, bbox_weights_list, num_total_pos,
         num_total_neg) = self.get_targets(anchor_list, valid_flag_list, gt_bboxes, img_metas, featmap_sizes,
                                           gt_bboxes_ignore=gt_bboxes_ignore, label_channels=label_channels)
        if self.sampling:
            num_total_samples = num_total_pos + num_total_neg
        else:  # the fixed 200 follows guided anchoring
            num_total_samples = sum(labels.numel() for labels in labels_list) / 200.0
        mlvl_anchors = [torch.stack(level_anchors) for level_anchors in zip(*anchor_list)]
        if cls_scores is None or not self.with_cls:
            cls_scores = [None] * len(bbox_preds)
        losses_cls, losses_reg = multi_apply(self.loss_single, cls_scores, bbox_preds, mlvl_anchors, labels_list,
                                             label_weights_list, bbox_targets_list, bbox_weights_list,
                                             num_total_samples=num_total_samples)
        if self.with_cls:
            return dict(loss_rpn_cls=losses_cls, loss_rpn_reg=losses_reg)
        return dict(loss_rpn_reg=losses_reg)

    # ------------------------------------------------------------------ boxes
    def refine_bboxes(self, anchor_list: List[List[torch.Tensor]], bbox_preds: List[torch.Tensor],
                      img_metas: List[dict]) -> List[List[torch.Tensor]]:
        """Boxes of the next stage: each image's anchors decoded with this stage's (detached) deltas,
        clipped to the image."""
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        new_anchor_list = []
        for img_id, img_meta in enumerate(img_metas):
            deltas = torch.cat([pred[img_id].detach().permute(1, 2, 0).reshape(-1, 4) for pred in bbox_preds])
            bboxes = self.bbox_coder.decode(torch.cat(anchor_list[img_id]), deltas, img_meta['img_shape'])
            new_anchor_list.append(list(bboxes.split(num_level_anchors)))
        return new_anchor_list

    def get_bboxes(self, anchor_list, cls_scores, bbox_preds, img_metas, cfg=None,
                   rescale: bool = False) -> List[torch.Tensor]:  # type: ignore[override]
        """Proposals (k, 5) per image: per level the top ``nms_pre`` scores, decoding, size filter and NMS
        keyed by level, at most ``max_per_img`` (``RPNHead._bbox_post_process``, one call for all images).
        ``rescale`` is not applied, as in 2.28."""
        cfg = self.test_cfg if cfg is None else cfg
        if len(cls_scores) != len(bbox_preds):
            raise ValueError(f'{len(cls_scores)} score levels but {len(bbox_preds)} delta levels')
        nms_pre = cfg.get('nms_pre', -1)
        img_scores, img_proposals = [], []
        for img_id, img_meta in enumerate(img_metas):
            mlvl_scores, mlvl_deltas, mlvl_anchors, mlvl_ids = [], [], [], []
            for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
                cls_score = cls_score[img_id].detach().permute(1, 2, 0)
                if self.use_sigmoid_cls:
                    scores = cls_score.reshape(-1).sigmoid()
                else:
                    scores = cls_score.reshape(-1, 2).softmax(dim=1)[:, 0]
                deltas = bbox_pred[img_id].detach().permute(1, 2, 0).reshape(-1, 4)
                anchors = anchor_list[img_id][level]
                if 0 < nms_pre < scores.shape[0]:
                    scores, rank_inds = scores.sort(descending=True)
                    scores, topk_inds = scores[:nms_pre], rank_inds[:nms_pre]
                    deltas, anchors = deltas[topk_inds], anchors[topk_inds]
                mlvl_scores.append(scores)
                mlvl_deltas.append(deltas)
                mlvl_anchors.append(anchors)
                mlvl_ids.append(torch.full_like(scores, level, dtype=torch.long))
            proposals = self.bbox_coder.decode(torch.cat(mlvl_anchors), torch.cat(mlvl_deltas),
                                               max_shape=img_meta['img_shape'])
            img_scores.append(torch.cat(mlvl_scores))
            img_proposals.append(proposals)
        # every image keeps the same number of candidates per level, so the level ids are shared
        return self._bbox_post_process(torch.stack(img_scores), torch.stack(img_proposals), torch.cat(mlvl_ids),
                                       len(cls_scores), cfg)


@HEADS.register_module()
class CascadeRPNHead(BaseDenseHead):
    """``num_stages`` ``StageCascadeRPNHead``s in ``stages``; stage i gets ``train_cfg[i]`` and the shared
    ``test_cfg``. Losses are named ``s{i}.<stage loss name>``."""

    def __init__(self, num_stages: int, stages: List[dict], train_cfg, test_cfg, init_cfg=None) -> None:
        super().__init__(init_cfg)
        if num_stages != len(stages):
            raise ValueError(f'num_stages={num_stages} but {len(stages)} stage configs given')
        if train_cfg is not None and len(train_cfg) != num_stages:
            raise ValueError(f'train_cfg needs one entry per stage ({num_stages}), got {len(train_cfg)}')
        self.num_stages = num_stages
        self.stages = ModuleList()
        for i, stage in enumerate(stages):
            stage = dict(stage)
            stage.update(train_cfg=train_cfg[i] if train_cfg is not None else None, test_cfg=test_cfg)
            self.stages.append(build_head(stage))
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def loss(self, **kwargs):
        raise NotImplementedError('CascadeRPNHead: losses are computed by its stages')

    def get_bboxes(self, **kwargs):
        raise NotImplementedError('CascadeRPNHead: proposals are computed by its last stage')

    def _run_stages(self, x, img_metas, gt_bboxes=None):
        """All stages on features x; with ``gt_bboxes`` also their losses. Returns (losses, last stage's
        anchors, cls scores, deltas)."""
        featmap_sizes = [featmap.size()[-2:] for featmap in x]
        anchor_list, valid_flag_list = self.stages[0].get_anchors(featmap_sizes, img_metas, device=x[0].device)
        losses = dict()
        for i, stage in enumerate(self.stages):
            offset_list = None
            if stage.adapt_cfg['type'] == 'offset':
                offset_list = stage.anchor_offset(anchor_list, stage.anchor_strides, featmap_sizes)
            x, cls_score, bbox_pred = stage(x, offset_list)
            if gt_bboxes is not None:
                stage_loss = stage.loss(anchor_list, valid_flag_list, cls_score, bbox_pred, gt_bboxes, img_metas)
                losses.update({f's{i}.{name}': value for name, value in stage_loss.items()})
            if i < self.num_stages - 1:
                anchor_list = stage.refine_bboxes(anchor_list, bbox_pred, img_metas)
        return losses, anchor_list, cls_score, bbox_pred

    def forward_train(self, x, img_metas, gt_bboxes, gt_labels=None, gt_bboxes_ignore=None, proposal_cfg=None):
        """Losses of all stages; with ``proposal_cfg`` also the last stage's proposals, made with
        ``test_cfg`` (2.28 ignores ``proposal_cfg``'s values, only its presence counts, and never passes
        ``gt_bboxes_ignore`` to the stages)."""
        if gt_labels is not None:
            raise ValueError('CascadeRPNHead is class-agnostic: gt_labels must be None')
        losses, anchor_list, cls_score, bbox_pred = self._run_stages(x, img_metas, gt_bboxes)
        if proposal_cfg is None:
            return losses
        return losses, self.stages[-1].get_bboxes(anchor_list, cls_score, bbox_pred, img_metas, self.test_cfg)

    def simple_test_rpn(self, x, img_metas: List[dict]) -> List[torch.Tensor]:
        """Proposals (k, 5) of each image."""
        _, anchor_list, cls_score, bbox_pred = self._run_stages(x, img_metas)
        return self.stages[-1].get_bboxes(anchor_list, cls_score, bbox_pred, img_metas, self.test_cfg)

    def aug_test_rpn(self, x, img_metas):
        raise NotImplementedError('CascadeRPNHead does not support test-time augmentation')
