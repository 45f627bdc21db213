"""RoI head of Double-Head R-CNN (MMDetection 2.x ``DoubleHeadRoIHead``)."""
from typing import Sequence

import torch

from ..builder import HEADS
from .standard_roi_head import StandardRoIHead


@HEADS.register_module()
class DoubleHeadRoIHead(StandardRoIHead):
    """StandardRoIHead whose box head gets two pooled features: the RoIs as they are (classification) and the
    RoIs scaled about their centres by ``reg_roi_scale_factor`` (regression, pooled at the original RoI's
    level)."""

    def __init__(self, reg_roi_scale_factor: float, **roi_head_args) -> None:
        super().__init__(**roi_head_args)
        self.reg_roi_scale_factor = reg_roi_scale_factor

    def _bbox_forward(self, x: Sequence[torch.Tensor], rois: torch.Tensor) -> dict:
        """rois (R, 5) -> dict(cls_score (R, K+1), bbox_pred (R, 4K), bbox_feats (R, C, S, S) of the cls branch)."""
        feats = x[:self.bbox_roi_extractor.num_inputs]
        bbox_cls_feats = self.bbox_roi_extractor(feats, rois)
        bbox_reg_feats = self.bbox_roi_extractor(feats, rois, roi_scale_factor=self.reg_roi_scale_factor)
        if self.with_shared_head:
            bbox_cls_feats = self.shared_head(bbox_cls_feats)
            bbox_reg_feats = self.shared_head(bbox_reg_feats)
        cls_score, bbox_pred = self.bbox_head(bbox_cls_feats, bbox_reg_feats)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_cls_feats)
