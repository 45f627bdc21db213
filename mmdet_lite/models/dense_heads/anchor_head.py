"""Anchor-based dense head (MMDetection 2.x ``AnchorHead``): forward, targets, losses and boxes in one file.

Symbols: N images, L levels, A anchors per location (``num_base_priors``), C = ``cls_out_channels``,
level l has a (Hl, Wl) map and Rl = Hl*Wl*A anchors, R = sum(Rl). Anchor row ``(y*Wl + x)*A + a`` matches
the flattening ``(N, A*C, Hl, Wl) -> permute(0, 2, 3, 1) -> (N, Rl, C)``.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence

from ...core.anchor import anchor_inside_flags, batch_anchor_inside_flags, build_prior_generator, images_to_levels
from ...core.bbox import (MaxIoUAssigner, PseudoSampler, RandomSampler, build_assigner, build_bbox_coder,
                          build_sampler, pad_boxes)
from ...core.fp16 import force_fp32
from ...core.post_processing import multiclass_nms
from ...core.utils import multi_apply, unmap
from ..builder import HEADS, build_loss
from ..losses import CrossEntropyLoss, L1Loss, SmoothL1Loss
from .base_dense_head import BaseDenseHead


@HEADS.register_module()
class AnchorHead(BaseDenseHead):
    """One 1x1 conv for classification and one for box deltas on every level.

    ``use_sigmoid_cls`` (from ``loss_cls.use_sigmoid``) gives C = num_classes, otherwise num_classes + 1
    with the background last. Label ``num_classes`` means background in targets.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 feat_channels: int = 256,
                 anchor_generator: dict = dict(type='AnchorGenerator', scales=[8, 16, 32],
                                               ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64]),
                 bbox_coder: dict = dict(type='DeltaXYWHBBoxCoder', clip_border=True,
                                         target_means=(.0, .0, .0, .0), target_stds=(1.0, 1.0, 1.0, 1.0)),
                 reg_decoded_bbox: bool = False,
                 loss_cls: dict = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                 loss_bbox: dict = dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0),
                 train_cfg=None,
                 test_cfg=None,
                 init_cfg=dict(type='Normal', layer='Conv2d', std=0.01)) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.feat_channels = feat_channels
        self.use_sigmoid_cls = loss_cls.get('use_sigmoid', False)
        # focal-style losses weigh all anchors instead of sampling them
        self.sampling = loss_cls['type'] not in ['FocalLoss', 'GHMC', 'QualityFocalLoss']
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        if self.cls_out_channels <= 0:
            raise ValueError(f'num_classes={num_classes} is too small')
        self.reg_decoded_bbox = reg_decoded_bbox
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.loss_cls = build_loss(loss_cls)
        self.loss_bbox = build_loss(loss_bbox)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        if self.train_cfg:
            self.assigner = build_assigner(self.train_cfg['assigner'])
            if self.sampling and 'sampler' in self.train_cfg:
                sampler_cfg = self.train_cfg['sampler']
            else:
                sampler_cfg = dict(type='PseudoSampler')
            self.sampler = build_sampler(sampler_cfg, context=self)
        self.fp16_enabled = False
        self.prior_generator = build_prior_generator(anchor_generator)
        self.num_base_priors = self.prior_generator.num_base_priors[0]
        self._init_layers()

    @property
    def anchor_generator(self):
        """Deprecated name of ``prior_generator``."""
        return self.prior_generator

    @property
    def num_anchors(self) -> int:
        """Deprecated name of ``num_base_priors``."""
        return self.num_base_priors

    def _init_layers(self) -> None:
        self.conv_cls = nn.Conv2d(self.in_channels, self.num_base_priors * self.cls_out_channels, 1)
        self.conv_reg = nn.Conv2d(self.in_channels, self.num_base_priors * 4, 1)

    def forward_single(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x: (N, C_in, H, W) -> cls (N, A*C, H, W), deltas (N, A*4, H, W)."""
        return self.conv_cls(x), self.conv_reg(x)

    def forward(self, feats: Sequence[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """feats: L maps -> (L cls maps, L delta maps)."""
        return multi_apply(self.forward_single, feats)

    # ------------------------------------------------------------------ targets
    def get_anchors(self, featmap_sizes: List[Tuple[int, int]], img_metas: List[dict],
                    device='cuda') -> Tuple[List[List[torch.Tensor]], List[List[torch.Tensor]]]:
        """Anchors (shared by all images) and per-image valid flags.

        Returns:
            anchor_list: N lists of L tensors (Rl, 4); valid_flag_list: N lists of L bool tensors (Rl,).
        """
        multi_level_anchors = self.prior_generator.grid_priors(featmap_sizes, device=device)
        anchor_list = [multi_level_anchors for _ in img_metas]
        pad_shapes = [img_meta['pad_shape'] for img_meta in img_metas]
        mlvl_flags = self.prior_generator.batch_valid_flags(featmap_sizes, pad_shapes, device)
        valid_flag_list = [list(img_flags) for img_flags in zip(*[level_flags.unbind(0) for level_flags in mlvl_flags])]
        return anchor_list, valid_flag_list

    def _get_targets_single(self,
                            flat_anchors: torch.Tensor,
                            valid_flags: torch.Tensor,
                            gt_bboxes: torch.Tensor,
                            gt_bboxes_ignore: Optional[torch.Tensor],
                            gt_labels: Optional[torch.Tensor],
                            img_meta: dict,
                            label_channels: int = 1,
                            unmap_outputs: bool = True) -> tuple:
        """Assign and sample the R anchors (all levels) of one image.

        Returns:
            labels (R,) long (``num_classes`` = background), label_weights (R,), bbox_targets (R, 4),
            bbox_weights (R, 4), pos_inds, neg_inds (indices into the inside anchors), sampling_result.
        """
        inside_flags = anchor_inside_flags(flat_anchors, valid_flags, img_meta['img_shape'][:2],
                                           self.train_cfg['allowed_border'])
        anchors = flat_anchors[inside_flags]
        assign_result = self.assigner.assign(anchors, gt_bboxes, gt_bboxes_ignore,
                                             None if self.sampling else gt_labels)
        sampling_result = self.sampler.sample(assign_result, anchors, gt_bboxes)

        num_valid_anchors = anchors.shape[0]
        bbox_targets = torch.zeros_like(anchors)
        bbox_weights = torch.zeros_like(anchors)
        labels = anchors.new_full((num_valid_anchors, ), self.num_classes, dtype=torch.long)
        label_weights = anchors.new_zeros(num_valid_anchors, dtype=torch.float)

        pos_inds = sampling_result.pos_inds
        neg_inds = sampling_result.neg_inds
        if len(pos_inds) > 0:
            if self.reg_decoded_bbox:
                pos_bbox_targets = sampling_result.pos_gt_bboxes
            else:
                pos_bbox_targets = self.bbox_coder.encode(sampling_result.pos_bboxes,
                                                          sampling_result.pos_gt_bboxes)
            bbox_targets[pos_inds, :] = pos_bbox_targets
            bbox_weights[pos_inds, :] = 1.0
            if gt_labels is None:
                labels[pos_inds] = 0  # RPN: one foreground class
            else:
                labels[pos_inds] = gt_labels[sampling_result.pos_assigned_gt_inds]
            pos_weight = self.train_cfg['pos_weight']
            label_weights[pos_inds] = 1.0 if pos_weight <= 0 else pos_weight
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0

        if unmap_outputs:
            num_total_anchors = flat_anchors.size(0)
            labels = unmap(labels, num_total_anchors, inside_flags, fill=self.num_classes)
            label_weights = unmap(label_weights, num_total_anchors, inside_flags)
            bbox_targets = unmap(bbox_targets, num_total_anchors, inside_flags)
            bbox_weights = unmap(bbox_weights, num_total_anchors, inside_flags)
        return labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds, sampling_result

    def get_targets(self,
                    anchor_list: List[List[torch.Tensor]],
                    valid_flag_list: List[List[torch.Tensor]],
                    gt_bboxes_list: List[torch.Tensor],
                    img_metas: List[dict],
                    gt_bboxes_ignore_list: Optional[List[torch.Tensor]] = None,
                    gt_labels_list: Optional[List[torch.Tensor]] = None,
                    label_channels: int = 1,
                    unmap_outputs: bool = True,
                    return_sampling_results: bool = False) -> tuple:
        """Targets of the whole batch, split back into levels.

        Levels are concatenated per image for assignment (R anchors), then the N per-image results are
        stacked and split into L tensors of shape (N, Rl[, 4]).

        Returns:
            labels_list, label_weights_list, bbox_targets_list, bbox_weights_list (each L tensors),
            num_total_pos, num_total_neg (sum over images of max(count, 1), as in MMDetection; 0-dim
            tensors on the batched path), and the N sampling results when ``return_sampling_results``.

        With a ``MaxIoUAssigner`` and a ``RandomSampler``/``PseudoSampler`` (every RPN), no sampling results
        and ``unmap_outputs``, all images go through :meth:`_get_targets_batched` at once.
        """
        num_imgs = len(img_metas)
        if len(anchor_list) != num_imgs or len(valid_flag_list) != num_imgs:
            raise ValueError(f'anchor_list ({len(anchor_list)}) and valid_flag_list ({len(valid_flag_list)}) '
                             f'must have one entry per image ({num_imgs})')
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        if unmap_outputs and not return_sampling_results and self._batched_targets_apply(gt_bboxes_list):
            # images sharing one anchor list (the usual case) need no stacked copy
            shared = all(anchors is anchor_list[0] for anchors in anchor_list)
            anchors = torch.cat(anchor_list[0]) if shared else torch.stack([torch.cat(a) for a in anchor_list])
            valid_flags = torch.stack([torch.cat(flags) for flags in valid_flag_list])
            *targets, num_total_pos, num_total_neg = self._get_targets_batched(
                anchors, valid_flags, gt_bboxes_list, img_metas, gt_bboxes_ignore_list, gt_labels_list)
            return (*(list(target.split(num_level_anchors, dim=1)) for target in targets), num_total_pos,
                    num_total_neg)
        concat_anchor_list = [torch.cat(anchors) for anchors in anchor_list]
        concat_valid_flag_list = [torch.cat(flags) for flags in valid_flag_list]
        if gt_bboxes_ignore_list is None:
            gt_bboxes_ignore_list = [None] * num_imgs
        if gt_labels_list is None:
            gt_labels_list = [None] * num_imgs
        (all_labels, all_label_weights, all_bbox_targets, all_bbox_weights, pos_inds_list, neg_inds_list,
         sampling_results_list) = multi_apply(
             self._get_targets_single, concat_anchor_list, concat_valid_flag_list, gt_bboxes_list,
             gt_bboxes_ignore_list, gt_labels_list, img_metas, label_channels=label_channels,
             unmap_outputs=unmap_outputs)
        num_total_pos = sum(max(inds.numel(), 1) for inds in pos_inds_list)
        num_total_neg = sum(max(inds.numel(), 1) for inds in neg_inds_list)
        res = (images_to_levels(all_labels, num_level_anchors),
               images_to_levels(all_label_weights, num_level_anchors),
               images_to_levels(all_bbox_targets, num_level_anchors),
               images_to_levels(all_bbox_weights, num_level_anchors), num_total_pos, num_total_neg)
        if return_sampling_results:
            res = res + (sampling_results_list, )
        return res

    def _batched_targets_apply(self, gt_bboxes_list: Sequence[torch.Tensor]) -> bool:
        """Whether :meth:`_get_targets_batched` gives this head's targets (exactly the assigner and sampler
        classes it reimplements, no overridden per-image targets, no ground truths added as proposals)."""
        sampler = getattr(self, 'sampler', None)
        assigner = getattr(self, 'assigner', None)
        if type(assigner) is not MaxIoUAssigner or type(sampler) not in (RandomSampler, PseudoSampler):
            return False
        if type(self)._get_targets_single is not AnchorHead._get_targets_single:
            return False
        if getattr(sampler, 'add_gt_as_proposals', False):
            return False
        max_gts = max((gt_bboxes.size(0) for gt_bboxes in gt_bboxes_list), default=0)
        return not (assigner.gpu_assign_thr > 0 and max_gts > assigner.gpu_assign_thr)

    def _get_targets_batched(self,
                             anchors: torch.Tensor,
                             valid_flags: torch.Tensor,
                             gt_bboxes_list: List[torch.Tensor],
                             img_metas: List[dict],
                             gt_bboxes_ignore_list: Optional[List[Optional[torch.Tensor]]] = None,
                             gt_labels_list: Optional[List[torch.Tensor]] = None) -> tuple:
        """:meth:`get_targets` of all N images in one computation, without host-device syncs.

        Ground truths are padded to the largest count G; every anchor is assigned (outside ones are left
        out of the matching), sampled by masks, and its deltas to its ground truth kept where positive.

        Args:
            anchors: (R, 4) anchors shared by the images, or (N, R, 4).
            valid_flags: (N, R) bool.

        Returns:
            labels, label_weights (N, R), bbox_targets, bbox_weights (N, R, 4), not split into levels,
            and num_total_pos, num_total_neg as :meth:`get_targets` counts them (0-dim long tensors).
        """
        num_imgs, num_anchors = valid_flags.shape
        device = valid_flags.device
        batch_anchors = anchors.expand(num_imgs, num_anchors, 4)
        inside_flags = batch_anchor_inside_flags(anchors, valid_flags, [meta['img_shape'] for meta in img_metas],
                                                 self.train_cfg['allowed_border'])
        gt_bboxes, gt_valid = pad_boxes(gt_bboxes_list, device)
        gt_bboxes_ignore, ignore_valid = None, None
        if gt_bboxes_ignore_list is not None and any(ignore is not None for ignore in gt_bboxes_ignore_list):
            gt_bboxes_ignore, ignore_valid = pad_boxes(
                [gt_bboxes.new_zeros((0, 4)) if ignore is None else ignore for ignore in gt_bboxes_ignore_list],
                device)
        gt_inds, _ = self.assigner.batch_assign(batch_anchors, gt_bboxes, gt_valid, inside_flags,
                                                gt_bboxes_ignore, ignore_valid)
        pos_mask, neg_mask = self.sampler.batch_sample_masks(gt_inds)

        labels = torch.full((num_imgs, num_anchors), self.num_classes, dtype=torch.long, device=device)
        bbox_targets = batch_anchors.new_zeros((num_imgs, num_anchors, 4))
        if gt_bboxes.size(1) > 0:  # a shape check: with no ground truth at all there is no positive
            # row of each anchor's ground truth in the flattened (N * G, 4) padding (row 0 of its image if none)
            num_max_gts = gt_bboxes.size(1)
            assigned = (gt_inds - 1).clamp(min=0)
            flat_assigned = assigned + torch.arange(num_imgs, device=device)[:, None] * num_max_gts
            if isinstance(self.sampler, RandomSampler):
                # at most num * pos_fraction positives per image: encode those rows only, not all R anchors
                max_pos = min(int(self.sampler.num * self.sampler.pos_fraction), num_anchors)
                picked, rows = pos_mask.to(torch.uint8).topk(max_pos, dim=1)
                rows4 = rows[..., None].expand(-1, -1, 4)
                row_anchors = batch_anchors.gather(1, rows4)
                row_gts = gt_bboxes.to(batch_anchors.dtype).view(-1, 4)[flat_assigned.gather(1, rows)]
                row_targets = row_gts if self.reg_decoded_bbox else self.bbox_coder.encode(row_anchors, row_gts)
                # picked rows that are not positives (an image with fewer) get 0, which they hold anyway
                row_targets = torch.where(picked.bool()[..., None], row_targets.to(bbox_targets.dtype), 0.)
                bbox_targets = bbox_targets.scatter(1, rows4, row_targets)
            else:
                matched_gt = gt_bboxes.to(batch_anchors.dtype).view(-1, 4)[flat_assigned]
                pos_targets = matched_gt if self.reg_decoded_bbox else self.bbox_coder.encode(batch_anchors, matched_gt)
                bbox_targets = torch.where(pos_mask[..., None], pos_targets.to(bbox_targets.dtype), bbox_targets)
            if gt_labels_list is None or gt_labels_list[0] is None:
                pos_labels = torch.zeros_like(labels)  # RPN: one foreground class
            else:
                pos_labels = pad_sequence([gt_labels.long() for gt_labels in gt_labels_list], batch_first=True)
                pos_labels = pos_labels.view(-1)[flat_assigned]
            labels = torch.where(pos_mask, pos_labels, labels)
        bbox_weights = pos_mask[..., None].expand(-1, -1, 4).to(bbox_targets.dtype)
        pos_weight = self.train_cfg['pos_weight']
        label_weights = torch.where(pos_mask, 1.0 if pos_weight <= 0 else float(pos_weight), neg_mask.float())
        num_total_pos = pos_mask.sum(dim=1).clamp(min=1).sum()
        num_total_neg = neg_mask.sum(dim=1).clamp(min=1).sum()
        return labels, label_weights, bbox_targets, bbox_weights, num_total_pos, num_total_neg

    # ------------------------------------------------------------------ losses
    def loss_single(self, cls_score: torch.Tensor, bbox_pred: torch.Tensor, anchors: torch.Tensor,
                    labels: torch.Tensor, label_weights: torch.Tensor, bbox_targets: torch.Tensor,
                    bbox_weights: torch.Tensor, num_total_samples: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Losses of one level: cls (N, A*C, H, W), deltas (N, A*4, H, W), anchors (N, Rl, 4),
        labels/label_weights (N, Rl), bbox_targets/bbox_weights (N, Rl, 4); both normalised by
        ``num_total_samples``."""
        labels = labels.reshape(-1)
        label_weights = label_weights.reshape(-1)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
        loss_cls = self.loss_cls(cls_score, labels, label_weights, avg_factor=num_total_samples)
        bbox_targets = bbox_targets.reshape(-1, 4)
        bbox_weights = bbox_weights.reshape(-1, 4)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 4)
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(anchors.reshape(-1, 4), bbox_pred)
        loss_bbox = self.loss_bbox(bbox_pred, bbox_targets, bbox_weights, avg_factor=num_total_samples)
        return loss_cls, loss_bbox

    @force_fp32
    def loss(self,
             cls_scores: List[torch.Tensor],
             bbox_preds: List[torch.Tensor],
             gt_bboxes: List[torch.Tensor],
             gt_labels: Optional[List[torch.Tensor]],
             img_metas: List[dict],
             gt_bboxes_ignore: Optional[List[torch.Tensor]] = None) -> dict:
        """Per-level losses ``dict(loss_cls=[L], loss_bbox=[L])``.

        Both are sums over sampled anchors divided by the number of sampled anchors of the batch
        (positives only when the head does not sample).
        """
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        if len(featmap_sizes) != self.prior_generator.num_levels:
            raise ValueError(f'got {len(featmap_sizes)} levels of scores, expected '
                             f'{self.prior_generator.num_levels}')
        device = cls_scores[0].device
        if type(self).get_targets is AnchorHead.get_targets and self._batched_targets_apply(gt_bboxes):
            # the anchors and valid flags of all images as two tensors: no per-image lists to stack
            mlvl_anchors = self.prior_generator.grid_priors(featmap_sizes, device=device)
            num_level_anchors = [anchors.size(0) for anchors in mlvl_anchors]
            pad_shapes = [img_meta['pad_shape'] for img_meta in img_metas]
            valid_flags = self.prior_generator.batch_valid_flags(featmap_sizes, pad_shapes, device, flat=True)
            flat_anchors = torch.cat(mlvl_anchors)
            *targets, num_total_pos, num_total_neg = self._get_targets_batched(
                flat_anchors, valid_flags, gt_bboxes, img_metas, gt_bboxes_ignore, gt_labels)
            all_anchors = flat_anchors.expand(len(img_metas), -1, -1)
            num_total_samples = num_total_pos + num_total_neg if self.sampling else num_total_pos
            if self._loss_all_levels_applies():
                losses_cls, losses_bbox = self._loss_all_levels(cls_scores, bbox_preds, all_anchors, *targets,
                                                                num_level_anchors, num_total_samples)
                return dict(loss_cls=losses_cls, loss_bbox=losses_bbox)
            targets = [list(target.split(num_level_anchors, dim=1)) for target in targets]
        else:
            anchor_list, valid_flag_list = self.get_anchors(featmap_sizes, img_metas, device=device)
            label_channels = self.cls_out_channels if self.use_sigmoid_cls else 1
            *targets, num_total_pos, num_total_neg = self.get_targets(
                anchor_list, valid_flag_list, gt_bboxes, img_metas, gt_bboxes_ignore_list=gt_bboxes_ignore,
                gt_labels_list=gt_labels, label_channels=label_channels)
            num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
            all_anchors = torch.stack([torch.cat(anchors) for anchors in anchor_list])
            num_total_samples = num_total_pos + num_total_neg if self.sampling else num_total_pos
        anchors_per_level = list(torch.split(all_anchors, num_level_anchors, dim=1))
        losses_cls, losses_bbox = multi_apply(self.loss_single, cls_scores, bbox_preds, anchors_per_level,
                                              *targets, num_total_samples=num_total_samples)
        return dict(loss_cls=losses_cls, loss_bbox=losses_bbox)

    def _loss_all_levels_applies(self) -> bool:
        """Whether :meth:`_loss_all_levels` gives :meth:`loss_single`'s values: the loss classes whose
        ``'none'`` reduction it sums as their ``'mean'`` with ``avg_factor`` does, ``loss_single`` not
        overridden."""
        return (type(self).loss_single is AnchorHead.loss_single and type(self.loss_cls) is CrossEntropyLoss
                and type(self.loss_bbox) in (L1Loss, SmoothL1Loss))

    def _loss_all_levels(self, cls_scores: List[torch.Tensor], bbox_preds: List[torch.Tensor],
                         anchors: torch.Tensor, labels: torch.Tensor, label_weights: torch.Tensor,
                         bbox_targets: torch.Tensor, bbox_weights: torch.Tensor, num_level_anchors: List[int],
                         num_total_samples: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """:meth:`loss_single` of every level from one element-wise loss of all levels: each level's
        sum divided by ``num_total_samples`` as ``'mean'`` with ``avg_factor`` divides (about a fifth
        of the operators of a call per level, the same values to float rounding).

        Args:
            anchors: (N, R, 4); labels, label_weights: (N, R); bbox_targets, bbox_weights: (N, R, 4).
        """
        num_imgs, num_anchors = labels.shape
        cls_score = torch.cat([score.permute(0, 2, 3, 1).reshape(num_imgs, -1, self.cls_out_channels)
                               for score in cls_scores], dim=1)
        bbox_pred = torch.cat([pred.permute(0, 2, 3, 1).reshape(num_imgs, -1, 4) for pred in bbox_preds], dim=1)
        loss_cls = self.loss_cls(cls_score.reshape(-1, self.cls_out_channels), labels.reshape(-1),
                                 label_weights.reshape(-1), avg_factor=num_total_samples, reduction_override='none')
        bbox_pred = bbox_pred.reshape(-1, 4)
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(anchors.reshape(-1, 4), bbox_pred)
        loss_bbox = self.loss_bbox(bbox_pred, bbox_targets.reshape(-1, 4), bbox_weights.reshape(-1, 4),
                                   avg_factor=num_total_samples, reduction_override='none')
        per_anchor = torch.stack([loss.reshape(num_imgs, num_anchors, -1).sum(dim=(0, 2))
                                  for loss in (loss_cls, loss_bbox)])
        per_level = torch.stack([level.sum(dim=1) for level in per_anchor.split(num_level_anchors, dim=1)], dim=1)
        per_level = per_level / (num_total_samples + torch.finfo(torch.float32).eps)
        return list(per_level[0].unbind()), list(per_level[1].unbind())

    # ------------------------------------------------------------------ inference
    @force_fp32
    def get_bboxes(self,
                   cls_scores: List[torch.Tensor],
                   bbox_preds: List[torch.Tensor],
                   score_factors=None,
                   img_metas: Optional[List[dict]] = None,
                   cfg=None,
                   rescale: bool = False,
                   with_nms: bool = True) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """Per image ``(dets (k, 5), labels (k,))`` after per-level top-k, decoding and multiclass NMS."""
        if len(cls_scores) != len(bbox_preds):
            raise ValueError(f'{len(cls_scores)} score levels but {len(bbox_preds)} delta levels')
        cfg = self.test_cfg if cfg is None else cfg
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        mlvl_anchors = self.prior_generator.grid_priors(featmap_sizes, dtype=cls_scores[0].dtype,
                                                        device=cls_scores[0].device)
        nms_pre = cfg.get('nms_pre', -1)
        result_list = []
        for img_id, img_meta in enumerate(img_metas):
            mlvl_bboxes, mlvl_scores = [], []
            for cls_score, bbox_pred, anchors in zip(cls_scores, bbox_preds, mlvl_anchors):
                scores = cls_score[img_id].detach().permute(1, 2, 0).reshape(-1, self.cls_out_channels)
                scores = scores.sigmoid() if self.use_sigmoid_cls else scores.softmax(-1)
                deltas = bbox_pred[img_id].detach().permute(1, 2, 0).reshape(-1, 4)
                if 0 < nms_pre < scores.shape[0]:
                    fg_scores = scores if self.use_sigmoid_cls else scores[:, :-1]
                    _, topk_inds = fg_scores.max(dim=1)[0].topk(nms_pre)
                    anchors, deltas, scores = anchors[topk_inds], deltas[topk_inds], scores[topk_inds]
                mlvl_bboxes.append(self.bbox_coder.decode(anchors, deltas, max_shape=img_meta['img_shape']))
                mlvl_scores.append(scores)
            bboxes = torch.cat(mlvl_bboxes)
            if rescale:
                bboxes = bboxes / bboxes.new_tensor(img_meta['scale_factor'])
            scores = torch.cat(mlvl_scores)
            if self.use_sigmoid_cls:  # multiclass_nms expects a trailing background column
                scores = torch.cat([scores, scores.new_zeros(scores.shape[0], 1)], dim=1)
            if not with_nms:
                result_list.append((bboxes, scores))
                continue
            result_list.append(multiclass_nms(bboxes, scores, cfg['score_thr'], cfg['nms'], cfg['max_per_img']))
        return result_list
