"""Common entry points of dense (per-location) heads: ``forward_train`` and ``simple_test``."""
from abc import ABCMeta, abstractmethod
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmcv.runner import BaseModule


class BaseDenseHead(BaseModule, metaclass=ABCMeta):
    """Base class: subclasses implement ``forward`` (tensors only), ``loss`` and ``get_bboxes``."""

    def init_weights(self) -> None:
        super().init_weights()

    @abstractmethod
    def loss(self, **kwargs):
        """Compute losses of the head."""

    @abstractmethod
    def get_bboxes(self, **kwargs):
        """Turn head outputs into per-image boxes."""

    def forward_train(self,
                      x: Sequence[torch.Tensor],
                      img_metas: List[dict],
                      gt_bboxes: List[torch.Tensor],
                      gt_labels: Optional[List[torch.Tensor]] = None,
                      gt_bboxes_ignore: Optional[List[torch.Tensor]] = None,
                      proposal_cfg=None) -> Union[dict, Tuple[dict, list]]:
        """Losses of the head on FPN features ``x``; with ``proposal_cfg`` also the (detached) proposals.

        Args:
            x: L maps (N, C, Hi, Wi).
            img_metas: N image meta dicts (``img_shape``, ``pad_shape``, ``scale_factor`` ...).
            gt_bboxes: N tensors (Gi, 4) x1y1x2y2.
            gt_labels: N tensors (Gi,) or None (class-agnostic RPN).
            gt_bboxes_ignore: N tensors (Ii, 4) or None.
            proposal_cfg: test-style config for ``get_bboxes`` (e.g. ``train_cfg.rpn_proposal``).
        """
        outs = self(x)
        if gt_labels is None:
            losses = self.loss(*outs, gt_bboxes, img_metas, gt_bboxes_ignore=gt_bboxes_ignore)
        else:
            losses = self.loss(*outs, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore=gt_bboxes_ignore)
        if proposal_cfg is None:
            return losses
        proposal_list = self.get_bboxes(*outs, img_metas=img_metas, cfg=proposal_cfg)
        return losses, proposal_list

    def simple_test(self, feats: Sequence[torch.Tensor], img_metas: List[dict], rescale: bool = False) -> list:
        """Detections of each image without augmentation (``get_bboxes`` with ``test_cfg``)."""
        outs = self(feats)
        return self.get_bboxes(*outs, img_metas=img_metas, rescale=rescale)
