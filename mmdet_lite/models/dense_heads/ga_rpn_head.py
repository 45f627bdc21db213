"""Guided-anchoring RPN head (MMDetection 2.x ``GARPNHead``): ``GuidedAnchorHead`` with one foreground class
after a 3x3 ``rpn_conv``, and proposals by per-level NMS.

Symbols as in ``guided_anchor_head``: N images, L levels, Rl locations of level l.
"""
import copy
import warnings
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import nms

from ..builder import HEADS
from .guided_anchor_head import GuidedAnchorHead


@HEADS.register_module()
class GARPNHead(GuidedAnchorHead):
    """``rpn_conv`` (3x3, ReLU), then the guided-anchor branches on its output."""

    def __init__(self,
                 in_channels: int,
                 init_cfg=dict(type='Normal', layer='Conv2d', std=0.01,
                               override=dict(type='Normal', name='conv_loc', std=0.01, bias_prob=0.01)),
                 **kwargs) -> None:
        super().__init__(1, in_channels, init_cfg=init_cfg, **kwargs)

    def _init_layers(self) -> None:
        self.rpn_conv = nn.Conv2d(self.in_channels, self.feat_channels, 3, padding=1)
        super()._init_layers()

    def forward_single(self, x: torch.Tensor):
        """x (N, C_in, H, W) -> cls, deltas, shape, loc as ``GuidedAnchorHead`` (on ``relu(rpn_conv(x))``)."""
        return super().forward_single(F.relu(self.rpn_conv(x), inplace=True))

    def loss(self, cls_scores, bbox_preds, shape_preds, loc_preds, gt_bboxes, img_metas,
             gt_bboxes_ignore=None) -> dict:  # type: ignore[override]
        """``dict(loss_rpn_cls, loss_rpn_bbox, loss_anchor_shape, loss_anchor_loc)``, each L values."""
        losses = super().loss(cls_scores, bbox_preds, shape_preds, loc_preds, gt_bboxes, None, img_metas,
                              gt_bboxes_ignore=gt_bboxes_ignore)
        return dict(loss_rpn_cls=losses['loss_cls'], loss_rpn_bbox=losses['loss_bbox'],
                    loss_anchor_shape=losses['loss_shape'], loss_anchor_loc=losses['loss_loc'])

    @staticmethod
    def _proposal_cfg(cfg) -> dict:
        """Resolve 2.28's deprecated keys: ``nms_thr`` -> ``nms.iou_threshold``, ``max_num`` -> ``max_per_img``."""
        cfg = copy.deepcopy(dict(cfg))
        if 'nms' not in cfg or 'max_num' in cfg or 'nms_thr' in cfg:
            warnings.warn('In rpn_proposal or test_cfg, nms_thr has been moved to a dict named nms as '
                          'iou_threshold, max_num has been renamed as max_per_img, name of original arguments '
                          'and the way to specify iou_threshold of NMS will be deprecated.')
        if 'nms' not in cfg:
            cfg['nms'] = dict(type='nms', iou_threshold=cfg['nms_thr'])
        if 'max_num' in cfg:
            if 'max_per_img' in cfg and cfg['max_per_img'] != cfg['max_num']:
                raise ValueError(f'max_num={cfg["max_num"]} and max_per_img={cfg["max_per_img"]} disagree')
            cfg['max_per_img'] = cfg['max_num']
        if 'nms_thr' in cfg and cfg['nms']['iou_threshold'] != cfg['nms_thr']:
            raise ValueError(f'nms.iou_threshold={cfg["nms"]["iou_threshold"]} and nms_thr={cfg["nms_thr"]} disagree')
        if cfg['nms'].get('type', 'nms') != 'nms':
            raise ValueError(f'GARPNHead only supports naive nms, got nms.type={cfg["nms"]["type"]!r}')
        return cfg

    def _get_bboxes_single(self, cls_scores, bbox_preds, mlvl_anchors, mlvl_masks, img_shape, scale_factor,
                           cfg, rescale: bool = False) -> torch.Tensor:
        """Proposals (k, 5) of one image: per level the kept locations' top ``nms_pre`` scores, decoding,
        boxes of side >= ``min_bbox_size`` (when > 0), NMS, the first ``nms_post``; then across levels NMS
        (``nms_across_levels``) or the top scores, at most ``max_per_img``. ``rescale`` is not applied, as in
        2.28."""
        cfg = self._proposal_cfg(self.test_cfg if cfg is None else cfg)
        iou_threshold = cfg['nms']['iou_threshold']
        mlvl_proposals = []
        for cls_score, bbox_pred, anchors, mask in zip(cls_scores, bbox_preds, mlvl_anchors, mlvl_masks):
            if mask.sum() == 0:
                continue
            cls_score = cls_score.permute(1, 2, 0)
            if self.use_sigmoid_cls:
                scores = cls_score.reshape(-1).sigmoid()
            else:
                scores = cls_score.reshape(-1, 2).softmax(dim=1)[:, 0]
            scores = scores[mask]
            bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, 4)[mask]
            if 0 < cfg['nms_pre'] < scores.shape[0]:
                _, topk_inds = scores.topk(cfg['nms_pre'])
                bbox_pred, anchors, scores = bbox_pred[topk_inds], anchors[topk_inds], scores[topk_inds]
            proposals = self.bbox_coder.decode(anchors, bbox_pred, max_shape=img_shape)
            if cfg['min_bbox_size'] > 0:
                widths = proposals[:, 2] - proposals[:, 0]
                heights = proposals[:, 3] - proposals[:, 1]
                valid = (widths >= cfg['min_bbox_size']) & (heights >= cfg['min_bbox_size'])
                proposals, scores = proposals[valid], scores[valid]
            keep = nms(proposals, scores, iou_threshold)[:cfg['nms_post']]
            mlvl_proposals.append(torch.cat([proposals[keep], scores[keep, None]], dim=-1))
        if not mlvl_proposals:
            return cls_scores[0].new_zeros(0, 5)
        proposals = torch.cat(mlvl_proposals, 0)
        if cfg.get('nms_across_levels', False):
            keep = nms(proposals[:, :4].contiguous(), proposals[:, 4].contiguous(), iou_threshold)
            return proposals[keep][:cfg['max_per_img']]
        num = min(cfg['max_per_img'], proposals.shape[0])
        _, topk_inds = proposals[:, 4].topk(num)
        return proposals[topk_inds]

    def simple_test_rpn(self, x: Sequence[torch.Tensor], img_metas: List[dict]) -> List[torch.Tensor]:
        """Proposals (k, 5) of each image with ``test_cfg``."""
        return self.get_bboxes(*self(x), img_metas=img_metas)
