"""Guided anchoring head (MMDetection 2.x ``GuidedAnchorHead``, https://arxiv.org/abs/1901.03278).

Three kinds of boxes: approxs (K = ``approxs_per_octave`` anchors per location, only for assigning
anchor shapes), squares (one per location, the base the predicted shapes deform) and guided anchors
(squares decoded with the predicted (dw, dh)). Symbols: N images, L levels, level l has a (Hl, Wl)
map, A = 1 square per location, Rl = Hl*Wl*A, R = sum(Rl), G ground-truth boxes of an image.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.runner import BaseModule

from ...core.anchor import (anchor_inside_flags, build_prior_generator, calc_region, gt_target_levels,
                            images_to_levels, last_region_owner, points_in_regions)
from ...core.bbox import build_assigner, build_bbox_coder, build_sampler
from ...core.fp16 import force_fp32
from ...core.post_processing import multiclass_nms
from ...core.utils import multi_apply, unmap
from ...ops import DeformConv2d, MaskedConv2d
from ..builder import HEADS, build_loss
from .anchor_head import AnchorHead


class FeatureAdaption(BaseModule):
    """Deformable 3x3 convolution whose offsets come from the predicted anchor shape (not the features).

    ``conv_offset`` (1x1, no bias) maps the (N, 2, H, W) shape prediction to offsets of
    ``conv_adaption`` (``DeformConv2d``, no bias), followed by ReLU.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 deform_groups: int = 4,
                 init_cfg=dict(type='Normal', layer='Conv2d', std=0.1,
                               override=dict(type='Normal', name='conv_adaption', std=0.01))) -> None:
        super().__init__(init_cfg)
        offset_channels = kernel_size * kernel_size * 2
        self.conv_offset = nn.Conv2d(2, deform_groups * offset_channels, 1, bias=False)
        self.conv_adaption = DeformConv2d(in_channels, out_channels, kernel_size=kernel_size,
                                          padding=(kernel_size - 1) // 2, deform_groups=deform_groups)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """x (N, C_in, H, W), shape (N, 2, H, W) (detached) -> (N, C_out, H, W)."""
        offset = self.conv_offset(shape.detach())
        return self.relu(self.conv_adaption(x, offset))


@HEADS.register_module()
class GuidedAnchorHead(AnchorHead):
    """Predicts where anchors should be (``conv_loc``) and their shape (``conv_shape``), adapts the features
    to the shapes (``feature_adaption``) and classifies / regresses the guided anchors (``conv_cls``,
    ``conv_reg``, masked convolutions that skip filtered locations at test time).

    Training losses: ``loss_loc`` on location maps (centre regions of boxes, on the level of their scale),
    ``loss_shape`` between guided anchors and the boxes their squares were assigned to by the approxs
    (``ga_assigner``), and the usual ``loss_cls`` / ``loss_bbox`` on guided anchors (``assigner``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 feat_channels: int = 256,
                 approx_anchor_generator: dict = dict(type='AnchorGenerator', octave_base_scale=8,
                                                      scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                                      strides=[4, 8, 16, 32, 64]),
                 square_anchor_generator: dict = dict(type='AnchorGenerator', ratios=[1.0], scales=[8],
                                                      strides=[4, 8, 16, 32, 64]),
                 anchor_coder: dict = dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                                           target_stds=[1.0, 1.0, 1.0, 1.0]),
                 bbox_coder: dict = dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                                         target_stds=[1.0, 1.0, 1.0, 1.0]),
                 reg_decoded_bbox: bool = False,
                 deform_groups: int = 4,
                 loc_filter_thr: float = 0.01,
                 train_cfg=None,
                 test_cfg=None,
                 loss_loc: dict = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                 loss_shape: dict = dict(type='BoundedIoULoss', beta=0.2, loss_weight=1.0),
                 loss_cls: dict = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                 loss_bbox: dict = dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
                 init_cfg=dict(type='Normal', layer='Conv2d', std=0.01,
                               override=dict(type='Normal', name='conv_loc', std=0.01, bias_prob=0.01))) -> None:
        super(AnchorHead, self).__init__(init_cfg)
        if approx_anchor_generator.get('octave_base_scale') != square_anchor_generator['scales'][0]:
            raise ValueError('approx_anchor_generator.octave_base_scale '
                             f'({approx_anchor_generator.get("octave_base_scale")}) must equal '
                             f'square_anchor_generator.scales[0] ({square_anchor_generator["scales"][0]})')
        if list(approx_anchor_generator['strides']) != list(square_anchor_generator['strides']):
            raise ValueError(f'approx_anchor_generator.strides {approx_anchor_generator["strides"]} must equal '
                             f'square_anchor_generator.strides {square_anchor_generator["strides"]}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.feat_channels = feat_channels
        self.deform_groups = deform_groups
        self.loc_filter_thr = loc_filter_thr
        self.approx_anchor_generator = build_prior_generator(approx_anchor_generator)
        self.square_anchor_generator = build_prior_generator(square_anchor_generator)
        self.prior_generator = self.square_anchor_generator
        self.approxs_per_octave = self.approx_anchor_generator.num_base_priors[0]
        self.reg_decoded_bbox = reg_decoded_bbox
        self.num_base_priors = self.square_anchor_generator.num_base_priors[0]
        self.use_sigmoid_cls = loss_cls.get('use_sigmoid', False)
        self.loc_focal_loss = loss_loc['type'] in ['FocalLoss']
        self.sampling = loss_cls['type'] not in ['FocalLoss']
        self.ga_sampling = train_cfg is not None and 'ga_sampler' in train_cfg
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        self.anchor_coder = build_bbox_coder(anchor_coder)
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.loss_loc = build_loss(loss_loc)
        self.loss_shape = build_loss(loss_shape)
        self.loss_cls = build_loss(loss_cls)
        self.loss_bbox = build_loss(loss_bbox)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        if self.train_cfg:
            self.assigner = build_assigner(self.train_cfg['assigner'])
            sampler_cfg = (self.train_cfg['sampler'] if self.sampling and 'sampler' in self.train_cfg else
                           dict(type='PseudoSampler'))
            self.sampler = build_sampler(sampler_cfg, context=self)
            self.ga_assigner = build_assigner(self.train_cfg['ga_assigner'])
            ga_sampler_cfg = self.train_cfg['ga_sampler'] if self.ga_sampling else dict(type='PseudoSampler')
            self.ga_sampler = build_sampler(ga_sampler_cfg, context=self)
        self.fp16_enabled = False
        self._init_layers()

    def _init_layers(self) -> None:
        self.relu = nn.ReLU(inplace=True)
        self.conv_loc = nn.Conv2d(self.in_channels, 1, 1)
        self.conv_shape = nn.Conv2d(self.in_channels, self.num_base_priors * 2, 1)
        self.feature_adaption = FeatureAdaption(self.in_channels, self.feat_channels, kernel_size=3,
                                                deform_groups=self.deform_groups)
        self.conv_cls = MaskedConv2d(self.feat_channels, self.num_base_priors * self.cls_out_channels, 1)
        self.conv_reg = MaskedConv2d(self.feat_channels, self.num_base_priors * 4, 1)

    def forward_single(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """x (N, C_in, H, W) -> cls (N, A*C, H, W), deltas (N, A*4, H, W), shape (N, A*2, H, W),
        loc (N, 1, H, W). In eval mode cls / deltas are zero where sigmoid(loc) < ``loc_filter_thr`` (each image
        by its own mask; 2.28's CUDA masked conv takes image 0's mask and handles batch size 1 only)."""
        loc_pred = self.conv_loc(x)
        shape_pred = self.conv_shape(x)
        x = self.feature_adaption(x, shape_pred)
        mask = None if self.training else loc_pred.sigmoid() >= self.loc_filter_thr
        return self.conv_cls(x, mask), self.conv_reg(x, mask), shape_pred, loc_pred

    # ------------------------------------------------------------------ anchors
    def get_sampled_approxs(self, featmap_sizes: List[Tuple[int, int]], img_metas: List[dict],
                            device='cuda') -> Tuple[List[List[torch.Tensor]], List[List[torch.Tensor]]]:
        """Approxs (N lists of L (Rl*K, 4)) and per-location inside flags (N lists of L (Rl,)): a location
        is inside when any of its K approxs is."""
        multi_level_approxs = self.approx_anchor_generator.grid_priors(featmap_sizes, device=device)
        inside_flag_list = []
        for img_meta in img_metas:
            valid_flags = self.approx_anchor_generator.valid_flags(featmap_sizes, img_meta['pad_shape'], device)
            inside_flag_list.append([
                anchor_inside_flags(approxs, flags, img_meta['img_shape'][:2],
                                    self.train_cfg['allowed_border']).view(-1, self.approxs_per_octave).any(dim=1)
                for approxs, flags in zip(multi_level_approxs, valid_flags)
            ])
        return [multi_level_approxs for _ in img_metas], inside_flag_list

    def get_anchors(self, featmap_sizes, shape_preds, loc_preds, img_metas, use_loc_filter=False,
                    device='cuda') -> tuple:  # type: ignore[override]
        """Squares, guided anchors and location masks.

        Returns:
            squares_list: N lists of L (Rl, 4); guided_anchors_list: N lists of L (kept, 4) (all Rl without
            ``use_loc_filter``); loc_mask_list: N lists of L bool (Rl,).
        """
        multi_level_squares = self.square_anchor_generator.grid_priors(featmap_sizes, device=device)
        guided_anchors_list = [[] for _ in img_metas]
        loc_mask_list = [[] for _ in img_metas]
        for squares, shape_pred, loc_pred in zip(multi_level_squares, shape_preds, loc_preds):
            num_imgs = shape_pred.size(0)
            loc_prob = loc_pred.sigmoid().detach()
            thr = self.loc_filter_thr if use_loc_filter else 0.0
            masks = (loc_prob >= thr).permute(0, 2, 3, 1).expand(-1, -1, -1, self.num_base_priors).reshape(
                num_imgs, -1)
            anchor_deltas = shape_pred.detach().permute(0, 2, 3, 1).reshape(num_imgs, -1, 2)
            bbox_deltas = torch.cat([torch.zeros_like(anchor_deltas), anchor_deltas], dim=-1)
            guided = self.anchor_coder.decode(squares.expand(num_imgs, -1, -1), bbox_deltas, wh_ratio_clip=1e-6)
            for img_id in range(num_imgs):
                guided_anchors_list[img_id].append(guided[img_id][masks[img_id]])
                loc_mask_list[img_id].append(masks[img_id])
        return [multi_level_squares for _ in img_metas], guided_anchors_list, loc_mask_list

    # ------------------------------------------------------------------ targets
    def ga_loc_targets(self, gt_bboxes_list: List[torch.Tensor],
                       featmap_sizes: List[Tuple[int, int]]) -> Tuple[List[torch.Tensor], List[torch.Tensor], float]:
        """Location targets and weights, each L tensors (N, 1, Hl, Wl), and the average factor.

        Each box belongs to the level of its scale. On that level, cells in its centre region
        (``center_ratio``) get target 1, weight 1; cells in its ignore region (``ignore_ratio``) weight 0
        (boxes painted in order, ignore then centre, later boxes on top). Cells in a box's ignore region on
        the neighbouring levels that no box painted get weight 0; all other cells target 0, weight 0.1.
        The average factor is (sum over levels of N*Hl*Wl) / 200.
        """
        strides = self.approx_anchor_generator.strides
        if any(stride_w != stride_h for stride_w, stride_h in strides):
            raise ValueError(f'guided anchoring needs square strides, got {strides}')
        strides = [stride[0] for stride in strides]
        center_cut = (1 - self.train_cfg['center_ratio']) / 2
        ignore_cut = (1 - self.train_cfg['ignore_ratio']) / 2
        num_levels = len(featmap_sizes)
        min_anchor_size = self.approx_anchor_generator.octave_base_scale * strides[0]
        device = gt_bboxes_list[0].device
        mlvl_target_levels = [gt_target_levels(gt_bboxes, min_anchor_size, num_levels) for gt_bboxes in gt_bboxes_list]
        all_targets, all_weights = [], []
        for level, (feat_h, feat_w) in enumerate(featmap_sizes):
            ys, xs = torch.meshgrid(torch.arange(feat_h, device=device), torch.arange(feat_w, device=device),
                                    indexing='ij')
            xs, ys = xs.reshape(-1), ys.reshape(-1)
            level_targets, level_weights = [], []
            for gt_bboxes, target_levels in zip(gt_bboxes_list, mlvl_target_levels):
                scaled = gt_bboxes[:, :4] / strides[level]
                own = scaled[target_levels == level]
                in_center = points_in_regions(xs, ys, calc_region(own, center_cut, (feat_h, feat_w)))
                owner = last_region_owner(points_in_regions(xs, ys, calc_region(own, ignore_cut, (feat_h, feat_w))),
                                          in_center)
                near = scaled[(target_levels - level).abs() == 1]
                near_ignore = points_in_regions(xs, ys, calc_region(near, ignore_cut, (feat_h, feat_w))).any(dim=0)
                weights = torch.full((feat_h * feat_w, ), 0.1, device=device)
                weights[(owner == 0) & near_ignore] = 0
                weights[owner == -1] = 0
                weights[owner > 0] = 1
                level_targets.append(in_center.any(dim=0).float())
                level_weights.append(weights)
            all_targets.append(torch.stack(level_targets).view(-1, 1, feat_h, feat_w))
            all_weights.append(torch.stack(level_weights).view(-1, 1, feat_h, feat_w))
        loc_avg_factor = sum(t.size(0) * t.size(-1) * t.size(-2) for t in all_targets) / 200
        return all_targets, all_weights, loc_avg_factor

    def _ga_shape_target_single(self, flat_approxs: torch.Tensor, inside_flags: torch.Tensor,
                                flat_squares: torch.Tensor, gt_bboxes: torch.Tensor,
                                gt_bboxes_ignore: Optional[torch.Tensor], img_meta: dict,
                                unmap_outputs: bool = True) -> tuple:
        """Squares (R, 4) assigned by their approxs (R*K, 4): returns the positive squares and their boxes
        (``bbox_anchors``, ``bbox_gts``, ``bbox_weights``, each (R, 4)), pos_inds, neg_inds; Nones when no
        location is inside."""
        if not inside_flags.any():
            return (None, ) * 5
        expand_inside_flags = inside_flags[:, None].expand(-1, self.approxs_per_octave).reshape(-1)
        approxs = flat_approxs[expand_inside_flags]
        squares = flat_squares[inside_flags]
        assign_result = self.ga_assigner.assign(approxs, squares, self.approxs_per_octave, gt_bboxes,
                                                gt_bboxes_ignore)
        sampling_result = self.ga_sampler.sample(assign_result, squares, gt_bboxes)
        bbox_anchors = torch.zeros_like(squares)
        bbox_gts = torch.zeros_like(squares)
        bbox_weights = torch.zeros_like(squares)
        pos_inds = sampling_result.pos_inds
        if len(pos_inds) > 0:
            bbox_anchors[pos_inds] = sampling_result.pos_bboxes
            bbox_gts[pos_inds] = sampling_result.pos_gt_bboxes
            bbox_weights[pos_inds] = 1.0
        if unmap_outputs:
            num_total = flat_squares.size(0)
            bbox_anchors = unmap(bbox_anchors, num_total, inside_flags)
            bbox_gts = unmap(bbox_gts, num_total, inside_flags)
            bbox_weights = unmap(bbox_weights, num_total, inside_flags)
        return bbox_anchors, bbox_gts, bbox_weights, pos_inds, sampling_result.neg_inds

    def ga_shape_targets(self, approx_list, inside_flag_list, square_list, gt_bboxes_list, img_metas,
                         gt_bboxes_ignore_list=None, unmap_outputs: bool = True) -> Optional[tuple]:
        """Shape targets split into levels: bbox_anchors, bbox_gts, bbox_weights (L tensors (N, Rl, 4)),
        num_total_pos, num_total_neg; None when an image has no inside location."""
        num_imgs = len(img_metas)
        if not len(approx_list) == len(inside_flag_list) == len(square_list) == num_imgs:
            raise ValueError(f'approx_list ({len(approx_list)}), inside_flag_list ({len(inside_flag_list)}) and '
                             f'square_list ({len(square_list)}) need one entry per image ({num_imgs})')
        num_level_squares = [squares.size(0) for squares in square_list[0]]
        if gt_bboxes_ignore_list is None:
            gt_bboxes_ignore_list = [None] * num_imgs
        (all_bbox_anchors, all_bbox_gts, all_bbox_weights, pos_inds_list, neg_inds_list) = multi_apply(
            self._ga_shape_target_single, [torch.cat(a) for a in approx_list],
            [torch.cat(f) for f in inside_flag_list], [torch.cat(s) for s in square_list], gt_bboxes_list,
            gt_bboxes_ignore_list, img_metas, unmap_outputs=unmap_outputs)
        if any(bbox_anchors is None for bbox_anchors in all_bbox_anchors):
            return None
        num_total_pos = sum(max(inds.numel(), 1) for inds in pos_inds_list)
        num_total_neg = sum(max(inds.numel(), 1) for inds in neg_inds_list)
        return (images_to_levels(all_bbox_anchors, num_level_squares),
                images_to_levels(all_bbox_gts, num_level_squares),
                images_to_levels(all_bbox_weights, num_level_squares), num_total_pos, num_total_neg)

    # ------------------------------------------------------------------ losses
    def loss_shape_single(self, shape_pred: torch.Tensor, bbox_anchors: torch.Tensor, bbox_gts: torch.Tensor,
                          anchor_weights: torch.Tensor, anchor_total_num: int) -> torch.Tensor:
        """Bounded-IoU loss of the positive guided anchors: shape_pred (N, A*2, H, W), the rest (N, Rl, 4)."""
        shape_pred = shape_pred.permute(0, 2, 3, 1).reshape(-1, 2)
        bbox_anchors = bbox_anchors.reshape(-1, 4)
        bbox_gts = bbox_gts.reshape(-1, 4)
        anchor_weights = anchor_weights.reshape(-1, 4)
        inds = torch.nonzero(anchor_weights[:, 0] > 0).squeeze(1)
        bbox_deltas = torch.cat([shape_pred.new_zeros(inds.numel(), 2), shape_pred[inds]], dim=1)
        pred_anchors = self.anchor_coder.decode(bbox_anchors[inds], bbox_deltas, wh_ratio_clip=1e-6)
        return self.loss_shape(pred_anchors, bbox_gts[inds], anchor_weights[inds], avg_factor=anchor_total_num)

    def loss_loc_single(self, loc_pred: torch.Tensor, loc_target: torch.Tensor, loc_weight: torch.Tensor,
                        loc_avg_factor: float) -> torch.Tensor:
        """``loss_loc`` of one level; the (0/1) targets go in as class labels, as in 2.28."""
        return self.loss_loc(loc_pred.reshape(-1, 1), loc_target.reshape(-1).long(), loc_weight.reshape(-1),
                             avg_factor=loc_avg_factor)

    @force_fp32
    def loss(self, cls_scores, bbox_preds, shape_preds, loc_preds, gt_bboxes, gt_labels, img_metas,
             gt_bboxes_ignore=None) -> Optional[dict]:  # type: ignore[override]
        """``dict(loss_cls=[L], loss_bbox=[L], loss_shape=[L], loss_loc=[L])`` (None when an image has
        no inside location, as in 2.28)."""
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        if len(featmap_sizes) != self.approx_anchor_generator.num_levels:
            raise ValueError(f'got {len(featmap_sizes)} levels, expected {self.approx_anchor_generator.num_levels}')
        device = cls_scores[0].device
        loc_targets, loc_weights, loc_avg_factor = self.ga_loc_targets(gt_bboxes, featmap_sizes)
        approxs_list, inside_flag_list = self.get_sampled_approxs(featmap_sizes, img_metas, device=device)
        squares_list, guided_anchors_list, _ = self.get_anchors(featmap_sizes, shape_preds, loc_preds, img_metas,
                                                                device=device)
        shape_targets = self.ga_shape_targets(approxs_list, inside_flag_list, squares_list, gt_bboxes, img_metas)
        if shape_targets is None:
            return None
        bbox_anchors_list, bbox_gts_list, anchor_weights_list, anchor_fg_num, anchor_bg_num = shape_targets
        anchor_total_num = anchor_fg_num + anchor_bg_num if self.ga_sampling else anchor_fg_num

        label_channels = self.cls_out_channels if self.use_sigmoid_cls else 1
        (labels_list, label_weights_list, bbox_targets_list, bbox_weights_list, num_total_pos,
         num_total_neg) = self.get_targets(guided_anchors_list, inside_flag_list, gt_bboxes, img_metas,
                                           gt_bboxes_ignore_list=gt_bboxes_ignore, gt_labels_list=gt_labels,
                                           label_channels=label_channels)
        num_total_samples = num_total_pos + num_total_neg if self.sampling else num_total_pos
        num_level_anchors = [anchors.size(0) for anchors in guided_anchors_list[0]]
        all_anchor_list = images_to_levels([torch.cat(anchors) for anchors in guided_anchors_list],
                                           num_level_anchors)
        losses_cls, losses_bbox = multi_apply(self.loss_single, cls_scores, bbox_preds, all_anchor_list,
                                              labels_list, label_weights_list, bbox_targets_list,
                                              bbox_weights_list, num_total_samples=num_total_samples)
        losses_loc = [
            self.loss_loc_single(loc_pred, loc_target, loc_weight, loc_avg_factor)
            for loc_pred, loc_target, loc_weight in zip(loc_preds, loc_targets, loc_weights)
        ]
        losses_shape = [
            self.loss_shape_single(shape_pred, bbox_anchors, bbox_gts, anchor_weights, anchor_total_num)
            for shape_pred, bbox_anchors, bbox_gts, anchor_weights in zip(shape_preds, bbox_anchors_list,
                                                                           bbox_gts_list, anchor_weights_list)
        ]
        return dict(loss_cls=losses_cls, loss_bbox=losses_bbox, loss_shape=losses_shape, loss_loc=losses_loc)

    # ------------------------------------------------------------------ inference
    @force_fp32
    def get_bboxes(self, cls_scores, bbox_preds, shape_preds, loc_preds, img_metas, cfg=None,
                   rescale: bool = False) -> list:  # type: ignore[override]
        """Per image results of ``_get_bboxes_single`` on the guided anchors (filtered by location
        outside training)."""
        if not len(cls_scores) == len(bbox_preds) == len(shape_preds) == len(loc_preds):
            raise ValueError(f'level counts differ: cls {len(cls_scores)}, bbox {len(bbox_preds)}, shape '
                             f'{len(shape_preds)}, loc {len(loc_preds)}')
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        _, guided_anchors, loc_masks = self.get_anchors(featmap_sizes, shape_preds, loc_preds, img_metas,
                                                        use_loc_filter=not self.training,
                                                        device=cls_scores[0].device)
        return [
            self._get_bboxes_single([score[img_id].detach() for score in cls_scores],
                                    [pred[img_id].detach() for pred in bbox_preds], guided_anchors[img_id],
                                    loc_masks[img_id], img_meta['img_shape'], img_meta['scale_factor'], cfg,
                                    rescale) for img_id, img_meta in enumerate(img_metas)
        ]

    def _get_bboxes_single(self, cls_scores: List[torch.Tensor], bbox_preds: List[torch.Tensor],
                           mlvl_anchors: List[torch.Tensor], mlvl_masks: List[torch.Tensor], img_shape,
                           scale_factor, cfg, rescale: bool = False):
        """Detections ``(dets (k, 5), labels (k,))`` of one image: masked locations, per-level top
        ``nms_pre``, decoding and multiclass NMS."""
        cfg = self.test_cfg if cfg is None else cfg
        mlvl_bboxes, mlvl_scores = [], []
        for cls_score, bbox_pred, anchors, mask in zip(cls_scores, bbox_preds, mlvl_anchors, mlvl_masks):
            if mask.sum() == 0:
                continue
            cls_score = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels)
            scores = cls_score.sigmoid() if self.use_sigmoid_cls else cls_score.softmax(-1)
            scores = scores[mask]
            bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, 4)[mask]
            nms_pre = cfg.get('nms_pre', -1)
            if 0 < nms_pre < scores.shape[0]:
                max_scores = scores.max(dim=1)[0] if self.use_sigmoid_cls else scores[:, :-1].max(dim=1)[0]
                _, topk_inds = max_scores.topk(nms_pre)
                anchors, bbox_pred, scores = anchors[topk_inds], bbox_pred[topk_inds], scores[topk_inds]
            mlvl_bboxes.append(self.bbox_coder.decode(anchors, bbox_pred, max_shape=img_shape))
            mlvl_scores.append(scores)
        bboxes = torch.cat(mlvl_bboxes)
        if rescale:
            bboxes = bboxes / bboxes.new_tensor(scale_factor)
        scores = torch.cat(mlvl_scores)
        if self.use_sigmoid_cls:
            scores = torch.cat([scores, scores.new_zeros(scores.shape[0], 1)], dim=1)
        return multiclass_nms(bboxes, scores, cfg['score_thr'], cfg['nms'], cfg['max_per_img'])
