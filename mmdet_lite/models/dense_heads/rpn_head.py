"""Region Proposal Network head (MMDetection 2.x ``RPNHead``).

Training reuses ``AnchorHead``'s targets and losses (one foreground class, losses renamed to
``loss_rpn_cls``/``loss_rpn_bbox``). Proposals: per level the top ``nms_pre`` scores, levels concatenated,
decoding and size filter batched over images, then NMS keyed by level, one call per image (one call for
all images with ``nms_images_at_once``).

Symbols as in ``anchor_head``: N images, L levels, A anchors per location, K kept candidates per image.
"""
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torchvision.ops import nms

from ...core.bbox import bbox_mapping_back
from ...core.fp16 import force_fp32
from ...core.post_processing import batched_nms
from ..builder import HEADS
from .anchor_head import AnchorHead


@HEADS.register_module()
class RPNHead(AnchorHead):
    """``rpn_conv`` (3x3, ReLU) then ``rpn_cls`` (A*C channels) and ``rpn_reg`` (A*4 channels).

    ``nms_images_at_once``: proposals of all images go through one NMS call (True) or one call per image
    (False, the default). One call saves a host wait per image on a GPU, but its work grows with the
    square of its boxes (on a CPU, two images in one call took 1.7x as long, docs/benchmarks.md); which
    wins on a GPU is not measured yet.
    """

    nms_images_at_once: bool = False

    def __init__(self,
                 in_channels: int,
                 feat_channels: int = 256,
                 num_convs: int = 1,
                 anchor_generator: dict = dict(type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0],
                                               strides=[4, 8, 16, 32, 64]),
                 bbox_coder: dict = dict(type='DeltaXYWHBBoxCoder', target_means=(.0, .0, .0, .0),
                                         target_stds=(1.0, 1.0, 1.0, 1.0)),
                 reg_decoded_bbox: bool = False,
                 loss_cls: dict = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                 loss_bbox: dict = dict(type='L1Loss', loss_weight=1.0),
                 train_cfg=None,
                 test_cfg=None,
                 init_cfg=dict(type='Normal', layer='Conv2d', std=0.01)) -> None:
        self.num_convs = num_convs
        super().__init__(1, in_channels, feat_channels=feat_channels, anchor_generator=anchor_generator,
                         bbox_coder=bbox_coder, reg_decoded_bbox=reg_decoded_bbox, loss_cls=loss_cls,
                         loss_bbox=loss_bbox, train_cfg=train_cfg, test_cfg=test_cfg, init_cfg=init_cfg)

    def _init_layers(self) -> None:
        if self.num_convs > 1:
            self.rpn_conv = nn.Sequential(*[
                ConvModule(self.in_channels if i == 0 else self.feat_channels, self.feat_channels, 3, padding=1,
                           inplace=False) for i in range(self.num_convs)
            ])
        else:
            self.rpn_conv = nn.Conv2d(self.in_channels, self.feat_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(self.feat_channels, self.num_base_priors * self.cls_out_channels, 1)
        self.rpn_reg = nn.Conv2d(self.feat_channels, self.num_base_priors * 4, 1)

    def forward_single(self, x: torch.Tensor):
        """x: (N, C_in, H, W) -> objectness (N, A*C, H, W), deltas (N, A*4, H, W)."""
        x = F.relu(self.rpn_conv(x), inplace=True)
        return self.rpn_cls(x), self.rpn_reg(x)

    def loss(self,
             cls_scores: List[torch.Tensor],
             bbox_preds: List[torch.Tensor],
             gt_bboxes: List[torch.Tensor],
             img_metas: List[dict],
             gt_bboxes_ignore: Optional[List[torch.Tensor]] = None) -> dict:
        """``dict(loss_rpn_cls=[L], loss_rpn_bbox=[L])``, normalised by the batch's sampled anchors."""
        losses = super().loss(cls_scores, bbox_preds, gt_bboxes, None, img_metas,
                              gt_bboxes_ignore=gt_bboxes_ignore)
        return dict(loss_rpn_cls=losses['loss_cls'], loss_rpn_bbox=losses['loss_bbox'])

    @force_fp32
    def get_bboxes(self,
                   cls_scores: List[torch.Tensor],
                   bbox_preds: List[torch.Tensor],
                   score_factors=None,
                   img_metas: Optional[List[dict]] = None,
                   cfg=None,
                   rescale: bool = False,
                   with_nms: bool = True) -> List[torch.Tensor]:
        """Proposals per image, ``(k, 5)`` = x1, y1, x2, y2, score sorted by score (``(0, 5)`` if none).

        All images and levels at once: per level the top ``nms_pre`` scores, levels concatenated, one
        decode with each image's clip shape, then :meth:`_bbox_post_process`. Predictions are detached.
        Boxes are in the resized image (``rescale`` divides by ``scale_factor``).
        """
        if len(cls_scores) != len(bbox_preds):
            raise ValueError(f'{len(cls_scores)} score levels but {len(bbox_preds)} delta levels')
        if img_metas is None or len(img_metas) != cls_scores[0].size(0):
            raise ValueError(f'img_metas must have one dict per image ({cls_scores[0].size(0)})')
        cfg = self.test_cfg if cfg is None else cfg
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        mlvl_priors = self.prior_generator.grid_priors(featmap_sizes, dtype=cls_scores[0].dtype,
                                                       device=cls_scores[0].device)
        scores, deltas, anchors, level_ids = self._topk_per_level(cls_scores, bbox_preds, mlvl_priors,
                                                                  cfg.get('nms_pre', -1))
        img_shapes = scores.new_tensor([img_meta['img_shape'][:2] for img_meta in img_metas])
        proposals = self.bbox_coder.decode(anchors, deltas, max_shape=img_shapes)
        scale_factors = None
        if rescale:
            scale_factors = scores.new_tensor(np.array([img_meta['scale_factor'] for img_meta in img_metas]))
            scale_factors = scale_factors.reshape(len(img_metas), -1)
        return self._bbox_post_process(scores, proposals, level_ids, len(cls_scores), cfg, scale_factors)

    def _topk_per_level(self, cls_scores: List[torch.Tensor], bbox_preds: List[torch.Tensor],
                        mlvl_priors: List[torch.Tensor], nms_pre: int):
        """Each level's top ``nms_pre`` candidates of every image (all of a level with fewer), levels
        concatenated: scores (N, K), deltas (N, K, 4), anchors (N, K, 4), level_ids (K,)."""
        num_imgs = cls_scores[0].size(0)
        mlvl_scores, mlvl_deltas, mlvl_anchors, mlvl_ids = [], [], [], []
        for level, (cls_score, bbox_pred, priors) in enumerate(zip(cls_scores, bbox_preds, mlvl_priors)):
            cls_score = cls_score.detach().permute(0, 2, 3, 1)
            if self.use_sigmoid_cls:
                scores = cls_score.reshape(num_imgs, -1).sigmoid()
            else:  # two-way softmax, foreground is channel 0
                scores = cls_score.reshape(num_imgs, -1, 2).softmax(dim=-1)[..., 0]
            deltas = bbox_pred.detach().permute(0, 2, 3, 1).reshape(num_imgs, -1, 4)
            anchors = priors.expand(num_imgs, -1, -1)
            if 0 < nms_pre < scores.shape[1]:
                scores, topk_inds = scores.topk(nms_pre, dim=1)
                deltas = deltas.gather(1, topk_inds[..., None].expand(-1, -1, 4))
                anchors = priors[topk_inds]
            mlvl_scores.append(scores)
            mlvl_deltas.append(deltas)
            mlvl_anchors.append(anchors)
            mlvl_ids.append(torch.full((scores.size(1), ), level, dtype=torch.long, device=scores.device))
        return (torch.cat(mlvl_scores, dim=1), torch.cat(mlvl_deltas, dim=1), torch.cat(mlvl_anchors, dim=1),
                torch.cat(mlvl_ids))

    def _bbox_post_process(self,
                           scores: torch.Tensor,
                           proposals: torch.Tensor,
                           level_ids: torch.Tensor,
                           num_levels: int,
                           cfg,
                           scale_factors: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
        """Size filter, NMS per image and level, and each image's best ``max_per_img``: the same boxes,
        in the same order, as MMDetection's ``batched_nms`` of each image keyed by level. One NMS
        call per image (the default) takes only its valid candidates; their counts and the split's
        sizes below are read back to the host once each.

        With ``nms_images_at_once``, one NMS call covers all images, keyed by ``image * L + level``;
        boxes with a side ``<= min_bbox_size`` (when it is >= 0) stay in it with score -inf: they sort
        after every valid box of their group, so they suppress none, and are cut when the kept boxes
        are split per image. The split's sizes are the only values read back to the host (one
        ``tolist``; torchvision's CUDA NMS itself reads back once per call). Ties in score keep the
        candidate order where the NMS kernel's sort is stable (torchvision's CPU kernel is). NMS
        separates its groups by shifting them ``group * (max coordinate + 1)`` apart; the shifted
        coordinates of one call for all images round differently from those of one call per image,
        which can change a decision only for an IoU within float32 rounding of the threshold.

        Args:
            scores: (N, K) objectness of each image's K candidates.
            proposals: (N, K, 4) decoded candidates.
            level_ids: (K,) level of each candidate, in [0, num_levels) (L = num_levels).
            scale_factors: (N, 4) divisors of each image's kept boxes (``rescale``), or None.

        Returns:
            N tensors (k_i, 5) = x1, y1, x2, y2, score sorted by score, k_i <= ``max_per_img``.
        """
        num_imgs, num_cands = scores.shape
        nms_cfg = dict(cfg['nms'])
        max_per_img = cfg['max_per_img']
        if max_per_img <= 0:
            raise ValueError(f'max_per_img must be positive, got {max_per_img}')
        # the per-image NMS options act per image here: its max_num caps each image, class_agnostic
        # merges an image's levels but never two images
        max_num = nms_cfg.pop('max_num', -1)
        max_per_img = min(max_per_img, max_num) if max_num > 0 else max_per_img
        level_agnostic = nms_cfg.pop('class_agnostic', False)
        min_bbox_size = cfg.get('min_bbox_size', -1)
        if min_bbox_size >= 0:
            valid = ((proposals[..., 2] - proposals[..., 0] > min_bbox_size)
                     & (proposals[..., 3] - proposals[..., 1] > min_bbox_size))
            scores = scores.masked_fill(~valid, float('-inf'))
        else:
            valid = torch.ones_like(scores, dtype=torch.bool)
        # NMS never splits into one call per group (each reads back to the host)
        nms_cfg['split_thr'] = float('inf')
        level_ids = level_ids.new_zeros(()) if level_agnostic else level_ids
        if self.nms_images_at_once:
            img_ids = torch.arange(num_imgs, device=scores.device)[:, None]
            group_ids = (img_ids * num_levels + level_ids).expand(num_imgs, num_cands)
            dets, keep = batched_nms(proposals.reshape(-1, 4), scores.reshape(-1), group_ids.reshape(-1),
                                     nms_cfg)
        else:  # only the valid boxes: the -inf ones would cost NMS time
            level_ids = level_ids.expand(num_cands)
            # each image's valid candidates first, in candidate order: one read of the counts, not a
            # nonzero per image
            valid_first = torch.argsort(~valid, dim=1, stable=True)
            all_dets, all_keep = [], []
            for img_id, num_valid_cands in enumerate(valid.sum(dim=1).tolist()):
                inds = valid_first[img_id, :num_valid_cands]
                img_dets, img_keep = batched_nms(proposals[img_id, inds], scores[img_id, inds], level_ids[inds],
                                                 nms_cfg)
                all_dets.append(img_dets)
                all_keep.append(inds[img_keep] + img_id * num_cands)
            dets, keep = torch.cat(all_dets), torch.cat(all_keep)
        # kept boxes grouped by image, each image's in NMS (= score) order, valid ones first
        kept_img_ids, order = torch.sort(keep // num_cands, stable=True)
        dets, keep = dets[order], keep[order]
        # searchsorted and index_add_, not bincount, which reads its input's max back on a GPU
        starts = torch.searchsorted(kept_img_ids, torch.arange(num_imgs, device=keep.device))
        num_valid = torch.zeros_like(starts).index_add_(0, kept_img_ids, valid.reshape(-1)[keep].long())
        if scale_factors is not None:
            dets = torch.cat([dets[:, :4] / scale_factors[kept_img_ids], dets[:, 4:]], dim=1)
        starts, num_dets = torch.stack([starts, num_valid.clamp(max=max_per_img)]).tolist()
        return [dets[start:start + num] for start, num in zip(starts, num_dets)]

    def simple_test_rpn(self, x: Sequence[torch.Tensor], img_metas: List[dict]) -> List[torch.Tensor]:
        """Proposals (k, 5) of each image with ``test_cfg``."""
        rpn_outs = self(x)
        return self.get_bboxes(*rpn_outs, img_metas=img_metas)

    def aug_test_rpn(self, feats: List[Sequence[torch.Tensor]], img_metas: List[List[dict]]) -> List[torch.Tensor]:
        """Proposals of each image merged over augmentations: mapped back to the original image, NMS,
        then the best ``max_per_img`` (MMDetection's ``merge_aug_proposals``).

        Args:
            feats: one feature tuple per augmentation.
            img_metas: one list of N meta dicts per augmentation.
        """
        num_imgs = len(img_metas[0])
        aug_proposals = [[] for _ in range(num_imgs)]
        for x, img_meta in zip(feats, img_metas):
            for i, proposals in enumerate(self.simple_test_rpn(x, img_meta)):
                aug_proposals[i].append(proposals)
        return [
            self._merge_aug_proposals(proposals, [img_meta[i] for img_meta in img_metas])
            for i, proposals in enumerate(aug_proposals)
        ]

    def _merge_aug_proposals(self, aug_proposals: List[torch.Tensor], img_metas: List[dict]) -> torch.Tensor:
        """Map each augmentation's (k, 5) proposals back to the original image, NMS, keep the best."""
        recovered = []
        for proposals, img_info in zip(aug_proposals, img_metas):
            boxes = bbox_mapping_back(proposals[:, :4], img_info['img_shape'], img_info['scale_factor'],
                                      img_info['flip'], img_info.get('flip_direction', 'horizontal'))
            recovered.append(torch.cat([boxes, proposals[:, 4:]], dim=-1))
        merged = torch.cat(recovered, dim=0)
        keep = nms(merged[:, :4].contiguous(), merged[:, 4].contiguous(), self.test_cfg['nms']['iou_threshold'])
        merged = merged[keep]
        order = merged[:, 4].sort(descending=True)[1][:self.test_cfg['max_per_img']]
        return merged[order]
