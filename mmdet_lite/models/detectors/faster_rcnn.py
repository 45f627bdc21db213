"""Faster R-CNN (MMDetection 2.x ``FasterRCNN``)."""
from typing import Optional

from ..builder import DETECTORS
from .two_stage import TwoStageDetector


@DETECTORS.register_module()
class FasterRCNN(TwoStageDetector):
    """`Faster R-CNN <https://arxiv.org/abs/1506.01497>`_: a ``TwoStageDetector`` with an RPN."""

    def __init__(self,
                 backbone: dict,
                 rpn_head: dict,
                 roi_head: dict,
                 train_cfg,
                 test_cfg,
                 neck: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg=None,
                 channels_last: Optional[bool] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head, train_cfg=train_cfg,
                         test_cfg=test_cfg, pretrained=pretrained, init_cfg=init_cfg, channels_last=channels_last)
