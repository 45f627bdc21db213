"""RoI head of Dynamic R-CNN (MMDetection 2.x ``DynamicRoIHead``, https://arxiv.org/abs/2004.06002).

Symbols: N images, R sampled RoIs, P positive RoIs of the batch.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..builder import HEADS
from ..losses import SmoothL1Loss
from .standard_roi_head import StandardRoIHead

EPS = 1e-15


@HEADS.register_module()
class DynamicRoIHead(StandardRoIHead):
    """StandardRoIHead that raises its assigner's IoU thresholds and lowers the SmoothL1 ``beta`` as proposals
    improve.

    Every training step records, averaged over images, the ``iou_topk``-th largest max IoU of each image's
    candidates (ground truths added as proposals included), and the ``beta_topk * N``-th smallest
    ``mean(|dx|, |dy|)`` regression target of the batch's positives. When the number of recorded steps is a
    multiple of ``update_iter_interval`` (``train_cfg.dynamic_rcnn``), ``update_hyperparameters`` sets
    ``pos_iou_thr = neg_iou_thr = min_pos_iou = max(initial_iou, mean(IoU history))`` and
    ``beta = min(initial_beta, median(beta history))`` (kept when that median is below 1e-15), and clears both
    histories. Needs a ``SmoothL1Loss`` as ``bbox_head.loss_bbox``. A step without positives records no beta
    (MMDetection 2.28 fails on ``kthvalue(k=0)``); an interval without any beta keeps the current one.
    """

    def __init__(self, **roi_head_args) -> None:
        super().__init__(**roi_head_args)
        if not isinstance(self.bbox_head.loss_bbox, SmoothL1Loss):
            raise TypeError(f'DynamicRoIHead needs bbox_head.loss_bbox of type SmoothL1Loss, '
                            f'got {type(self.bbox_head.loss_bbox).__name__}')
        self.iou_history: List[float] = []
        self.beta_history: List[float] = []

    def forward_train(self,
                      x: Sequence[torch.Tensor],
                      img_metas: List[dict],
                      proposal_list: List[torch.Tensor],
                      gt_bboxes: List[torch.Tensor],
                      gt_labels: List[torch.Tensor],
                      gt_bboxes_ignore: Optional[List[torch.Tensor]] = None,
                      gt_masks=None) -> dict:
        """Losses as StandardRoIHead; records this step's IoU / beta and updates them every interval."""
        if gt_bboxes_ignore is None:
            gt_bboxes_ignore = [None] * len(img_metas)
        assign_results, sampling_results = self._assign_and_sample(proposal_list, gt_bboxes, gt_labels,
                                                                   gt_bboxes_ignore, x)
        iou_topk = self.train_cfg['dynamic_rcnn']['iou_topk']
        self.iou_history.append(float(np.mean([self.topk_iou(res.max_overlaps, iou_topk) for res in assign_results])))
        bbox_results = self._bbox_forward_train(x, sampling_results, gt_bboxes, gt_labels, img_metas)
        if len(self.iou_history) % self.train_cfg['dynamic_rcnn']['update_iter_interval'] == 0:
            self.update_hyperparameters()
        return dict(bbox_results['loss_bbox'])

    @staticmethod
    def topk_iou(max_overlaps: torch.Tensor, iou_topk: int) -> float:
        """The ``min(iou_topk, N)``-th largest of (N,) ``max_overlaps`` (N >= 1)."""
        ious, _ = torch.topk(max_overlaps, min(iou_topk, max_overlaps.numel()))
        return ious[-1].item()

    @staticmethod
    def kth_smallest_target(bbox_targets: torch.Tensor, bbox_weights: torch.Tensor, k: int) -> Optional[float]:
        """The ``min(k, P)``-th smallest ``mean(|dx|, |dy|)`` of the positive rows (weight > 0) of (R, 4)
        ``bbox_targets``; None without positives."""
        pos_targets = bbox_targets[bbox_weights[:, 0] > 0, :2].abs().mean(dim=1)
        if pos_targets.numel() == 0:
            return None
        return torch.kthvalue(pos_targets, min(k, pos_targets.numel()))[0].item()

    def _get_bbox_targets(self, sampling_results: list, gt_bboxes: List[torch.Tensor],
                          gt_labels: List[torch.Tensor]) -> tuple:
        bbox_targets = super()._get_bbox_targets(sampling_results, gt_bboxes, gt_labels)
        beta_topk = self.train_cfg['dynamic_rcnn']['beta_topk'] * len(sampling_results)
        cur_target = self.kth_smallest_target(bbox_targets[2], bbox_targets[3], beta_topk)
        if cur_target is not None:
            self.beta_history.append(cur_target)
        return bbox_targets

    def update_hyperparameters(self) -> Tuple[float, float]:
        """Set the assigner's thresholds and the loss's beta from the histories, clear them; returns both."""
        dynamic_cfg = self.train_cfg['dynamic_rcnn']
        new_iou_thr = max(dynamic_cfg['initial_iou'], float(np.mean(self.iou_history)))
        self.iou_history = []
        self.bbox_assigner.pos_iou_thr = new_iou_thr
        self.bbox_assigner.neg_iou_thr = new_iou_thr
        self.bbox_assigner.min_pos_iou = new_iou_thr
        new_beta = self.bbox_head.loss_bbox.beta
        if self.beta_history and np.median(self.beta_history) >= EPS:
            new_beta = min(dynamic_cfg['initial_beta'], float(np.median(self.beta_history)))
        self.beta_history = []
        self.bbox_head.loss_bbox.beta = new_beta
        return new_iou_thr, new_beta
