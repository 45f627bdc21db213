"""Region Proposal Network head (MMDetection 2.x ``RPNHead``).

Training reuses ``AnchorHead``'s targets and losses (one foreground class, losses renamed to
``loss_rpn_cls``/``loss_rpn_bbox``). Proposals: per level the top ``nms_pre`` scores (batched over images),
levels concatenated, then per image decode, size filter and NMS keyed by level.

Symbols as in ``anchor_head``: N images, L levels, A anchors per location, K kept candidates per image.
"""
from typing import List, Optional, Sequence

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
    """``rpn_conv`` (3x3, ReLU) then ``rpn_cls`` (A*C channels) and ``rpn_reg`` (A*4 channels)."""

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

        Predictions are detached. Boxes are in the resized image (``rescale`` divides by ``scale_factor``).
        """
        if len(cls_scores) != len(bbox_preds):
            raise ValueError(f'{len(cls_scores)} score levels but {len(bbox_preds)} delta levels')
        if img_metas is None or len(img_metas) != cls_scores[0].size(0):
            raise ValueError(f'img_metas must have one dict per image ({cls_scores[0].size(0)})')
        cfg = self.test_cfg if cfg is None else cfg
        num_imgs = cls_scores[0].size(0)
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        mlvl_priors = self.prior_generator.grid_priors(featmap_sizes, dtype=cls_scores[0].dtype,
                                                       device=cls_scores[0].device)
        nms_pre = cfg.get('nms_pre', -1)
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
            mlvl_ids.append(torch.full_like(scores, level, dtype=torch.long))
        scores = torch.cat(mlvl_scores, dim=1)
        deltas = torch.cat(mlvl_deltas, dim=1)
        anchors = torch.cat(mlvl_anchors, dim=1)
        level_ids = torch.cat(mlvl_ids, dim=1)

        result_list = []
        for img_id, img_meta in enumerate(img_metas):
            proposals = self.bbox_coder.decode(anchors[img_id], deltas[img_id], max_shape=img_meta['img_shape'])
            dets = self._bbox_post_process(scores[img_id], proposals, level_ids[img_id], cfg)
            if rescale and dets.numel() > 0:
                dets[:, :4] = dets[:, :4] / dets.new_tensor(img_meta['scale_factor'])
            result_list.append(dets)
        return result_list

    def _bbox_post_process(self, scores: torch.Tensor, proposals: torch.Tensor, level_ids: torch.Tensor,
                           cfg) -> torch.Tensor:
        """Size filter and per-level NMS of one image: scores (K,), proposals (K, 4), level_ids (K,)
        -> (k, 5) sorted by score, at most ``max_per_img``."""
        min_bbox_size = cfg.get('min_bbox_size', -1)
        if min_bbox_size >= 0:
            widths = proposals[:, 2] - proposals[:, 0]
            heights = proposals[:, 3] - proposals[:, 1]
            valid_mask = (widths > min_bbox_size) & (heights > min_bbox_size)
            if not valid_mask.all():
                proposals, scores, level_ids = proposals[valid_mask], scores[valid_mask], level_ids[valid_mask]
        if proposals.numel() == 0:
            return proposals.new_zeros(0, 5)
        dets, _ = batched_nms(proposals, scores, level_ids, cfg['nms'])
        return dets[:cfg['max_per_img']]

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
