"""Fast R-CNN (MMDetection 2.x ``FastRCNN``): a two-stage detector fed precomputed proposals."""
from typing import List, Optional

import torch

from ..builder import DETECTORS
from .two_stage import TwoStageDetector


@DETECTORS.register_module()
class FastRCNN(TwoStageDetector):
    """`Fast R-CNN <https://arxiv.org/abs/1504.08083>`_: a ``TwoStageDetector`` without an RPN.

    Proposals come with the data (``proposal_file`` in the dataset, ``LoadProposals`` in the pipeline):
    ``forward_train(..., proposals=N tensors (Pi, 4 or 5))`` and ``forward_test(imgs, img_metas, proposals)``.
    The RoI head gets ``train_cfg.rcnn`` / ``test_cfg.rcnn``.
    """

    def __init__(self,
                 backbone: dict,
                 roi_head: dict,
                 train_cfg,
                 test_cfg,
                 neck: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg=None,
                 channels_last: Optional[bool] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, roi_head=roi_head, train_cfg=train_cfg, test_cfg=test_cfg,
                         pretrained=pretrained, init_cfg=init_cfg, channels_last=channels_last)

    def forward_test(self, imgs: List[torch.Tensor], img_metas: List[List[dict]],
                     proposals: Optional[List[List[torch.Tensor]]] = None, rescale: bool = False):
        """imgs: A tensors (N, 3, H, W); img_metas: A lists of N dicts; proposals: A lists of N tensors
        (Pi, 4 or 5). Only one augmentation (A = 1) is supported, as in MMDetection."""
        if proposals is None:
            raise ValueError('FastRCNN needs proposals at test time: give the dataset a proposal_file and '
                             "put LoadProposals in the test pipeline and 'proposals' in its Collect keys")
        if not isinstance(imgs, list) or not isinstance(img_metas, list):
            raise TypeError(f'imgs and img_metas must be lists, got {type(imgs)} and {type(img_metas)}')
        if len(imgs) != 1 or len(img_metas) != 1:
            raise ValueError(f'FastRCNN supports one test augmentation, got {len(imgs)} images and '
                             f'{len(img_metas)} img_metas lists')
        return super().forward_test(imgs, img_metas, proposals=proposals, rescale=rescale)
