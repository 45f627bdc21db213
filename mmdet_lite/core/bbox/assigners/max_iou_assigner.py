"""Assign boxes to the ground truth they overlap most (MMDetection 2.x ``MaxIoUAssigner``).

Symbols: G ground-truth boxes, N candidate boxes (anchors or proposals), overlaps (G, N).
"""
from typing import Optional, Tuple, Union

import torch

from ..builder import BBOX_ASSIGNERS
from ..iou_calculators import build_iou_calculator
from .assign_result import AssignResult
from .base_assigner import BaseAssigner


@BBOX_ASSIGNERS.register_module()
class MaxIoUAssigner(BaseAssigner):
    """Assign a ground truth to every box by maximum IoU.

    Every box gets -1 (ignore), 0 (negative) or i + 1 (positive, ground truth i):

    1. all boxes start at -1;
    2. boxes with ``0 <= max IoU < neg_iou_thr`` (or inside the ``(lo, hi)`` range) become 0;
    3. boxes with ``max IoU >= pos_iou_thr`` get their best ground truth;
    4. with ``match_low_quality``, each ground truth whose best IoU is ``>= min_pos_iou`` takes the
       boxes reaching that best IoU (all of them with ``gt_max_assign_all``, else the first);
       later ground truths overwrite earlier ones.

    Args:
        pos_iou_thr: IoU threshold of positives.
        neg_iou_thr: IoU threshold of negatives, or a (lo, hi) range.
        min_pos_iou: minimum IoU for a low-quality match.
        gt_max_assign_all: assign every box tied at a ground truth's best IoU.
        ignore_iof_thr: boxes whose IoF with ``gt_bboxes_ignore`` exceeds this are ignored
            (disabled when <= 0).
        ignore_wrt_candidates: IoF is over the candidate box (True) or over the ignore box.
        match_low_quality: enable step 4.
        gpu_assign_thr: assign on CPU when G exceeds this (disabled when <= 0).
        iou_calculator: config of the IoU calculator.
    """

    def __init__(self,
                 pos_iou_thr: float,
                 neg_iou_thr: Union[float, Tuple[float, float]],
                 min_pos_iou: float = .0,
                 gt_max_assign_all: bool = True,
                 ignore_iof_thr: float = -1,
                 ignore_wrt_candidates: bool = True,
                 match_low_quality: bool = True,
                 gpu_assign_thr: float = -1,
                 iou_calculator: dict = dict(type='BboxOverlaps2D')) -> None:
        if isinstance(neg_iou_thr, (tuple, list)):
            if len(neg_iou_thr) != 2:
                raise ValueError(f'neg_iou_thr as a range must have 2 entries, got {neg_iou_thr}')
            neg_iou_thr = tuple(neg_iou_thr)
        elif not isinstance(neg_iou_thr, (float, int)):
            raise TypeError(f'neg_iou_thr must be a float or a (lo, hi) pair, got {neg_iou_thr!r}')
        self.pos_iou_thr = pos_iou_thr
        self.neg_iou_thr = neg_iou_thr
        self.min_pos_iou = min_pos_iou
        self.gt_max_assign_all = gt_max_assign_all
        self.ignore_iof_thr = ignore_iof_thr
        self.ignore_wrt_candidates = ignore_wrt_candidates
        self.gpu_assign_thr = gpu_assign_thr
        self.match_low_quality = match_low_quality
        self.iou_calculator = build_iou_calculator(iou_calculator)

    def assign(self,
               bboxes: torch.Tensor,
               gt_bboxes: torch.Tensor,
               gt_bboxes_ignore: Optional[torch.Tensor] = None,
               gt_labels: Optional[torch.Tensor] = None) -> AssignResult:
        """Assign (G, 4) ``gt_bboxes`` to (N, 4|5) ``bboxes``.

        Args:
            bboxes: (N, 4) candidate boxes (a 5th score column is ignored).
            gt_bboxes: (G, 4) ground-truth boxes.
            gt_bboxes_ignore: (K, 4) regions whose overlapping candidates are ignored.
            gt_labels: (G,) labels; when given, ``AssignResult.labels`` is filled.

        Returns:
            AssignResult with (N,) ``gt_inds``, ``max_overlaps`` and (optionally) ``labels``.
        """
        assign_on_cpu = self.gpu_assign_thr > 0 and gt_bboxes.shape[0] > self.gpu_assign_thr
        if assign_on_cpu:
            device = bboxes.device
            bboxes = bboxes.cpu()
            gt_bboxes = gt_bboxes.cpu()
            gt_bboxes_ignore = None if gt_bboxes_ignore is None else gt_bboxes_ignore.cpu()
            gt_labels = None if gt_labels is None else gt_labels.cpu()

        overlaps = self.iou_calculator(gt_bboxes, bboxes)
        if (self.ignore_iof_thr > 0 and gt_bboxes_ignore is not None
                and gt_bboxes_ignore.numel() > 0 and bboxes.numel() > 0):
            if self.ignore_wrt_candidates:
                ignore_overlaps = self.iou_calculator(bboxes, gt_bboxes_ignore, mode='iof')
                ignore_max_overlaps, _ = ignore_overlaps.max(dim=1)
            else:
                ignore_overlaps = self.iou_calculator(gt_bboxes_ignore, bboxes, mode='iof')
                ignore_max_overlaps, _ = ignore_overlaps.max(dim=0)
            overlaps[:, ignore_max_overlaps > self.ignore_iof_thr] = -1

        assign_result = self.assign_wrt_overlaps(overlaps, gt_labels)
        if assign_on_cpu:
            assign_result.gt_inds = assign_result.gt_inds.to(device)
            assign_result.max_overlaps = assign_result.max_overlaps.to(device)
            if assign_result.labels is not None:
                assign_result.labels = assign_result.labels.to(device)
        return assign_result

    def assign_wrt_overlaps(self,
                            overlaps: torch.Tensor,
                            gt_labels: Optional[torch.Tensor] = None) -> AssignResult:
        """Assign from a (G, N) overlap matrix (ignored candidates hold -1)."""
        num_gts, num_bboxes = overlaps.size(0), overlaps.size(1)
        assigned_gt_inds = overlaps.new_full((num_bboxes, ), -1, dtype=torch.long)

        if num_gts == 0 or num_bboxes == 0:
            max_overlaps = overlaps.new_zeros((num_bboxes, ))
            if num_gts == 0:
                assigned_gt_inds[:] = 0
            assigned_labels = (None if gt_labels is None else overlaps.new_full(
                (num_bboxes, ), -1, dtype=torch.long))
            return AssignResult(num_gts, assigned_gt_inds, max_overlaps, labels=assigned_labels)

        max_overlaps, argmax_overlaps = overlaps.max(dim=0)
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)

        if isinstance(self.neg_iou_thr, tuple):
            neg_lo, neg_hi = self.neg_iou_thr
            assigned_gt_inds[(max_overlaps >= neg_lo) & (max_overlaps < neg_hi)] = 0
        else:
            assigned_gt_inds[(max_overlaps >= 0) & (max_overlaps < self.neg_iou_thr)] = 0

        pos_inds = max_overlaps >= self.pos_iou_thr
        assigned_gt_inds[pos_inds] = argmax_overlaps[pos_inds] + 1

        if self.match_low_quality:
            self._assign_low_quality_(assigned_gt_inds, overlaps, gt_max_overlaps,
                                      gt_argmax_overlaps)

        if gt_labels is not None:
            assigned_labels = assigned_gt_inds.new_full((num_bboxes, ), -1)
            pos_mask = assigned_gt_inds > 0
            assigned_labels[pos_mask] = gt_labels[assigned_gt_inds[pos_mask] - 1].long()
        else:
            assigned_labels = None
        return AssignResult(num_gts, assigned_gt_inds, max_overlaps, labels=assigned_labels)

    def _assign_low_quality_(self, assigned_gt_inds: torch.Tensor, overlaps: torch.Tensor,
                             gt_max_overlaps: torch.Tensor,
                             gt_argmax_overlaps: torch.Tensor) -> None:
        """Step 4 in place, vectorised: for each box the last qualifying ground truth wins."""
        num_gts, num_bboxes = overlaps.shape
        gt_ok = (gt_max_overlaps >= self.min_pos_iou)[:, None]
        if self.gt_max_assign_all:
            match = (overlaps == gt_max_overlaps[:, None]) & gt_ok
        else:
            box_ids = torch.arange(num_bboxes, device=overlaps.device)
            match = (box_ids[None, :] == gt_argmax_overlaps[:, None]) & gt_ok
        # GTs are applied in order, so the last matching GT wins: the largest 1-based GT id among a
        # box's matches, 0 for none (a max over int16 ids is ~100x faster than an argmax over bools).
        id_dtype = torch.int16 if num_gts < 2**15 else torch.int32
        gt_ids = torch.arange(1, num_gts + 1, dtype=id_dtype, device=overlaps.device)[:, None]
        last_match = (gt_ids * match).amax(dim=0)
        matched = last_match > 0
        assigned_gt_inds[matched] = last_match[matched].long()
