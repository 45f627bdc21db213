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
            overlaps = overlaps.masked_fill(self._ignored(bboxes[None], gt_bboxes_ignore[None])[0][None, :], -1)

        assign_result = self.assign_wrt_overlaps(overlaps, gt_labels)
        if assign_on_cpu:
            assign_result.gt_inds = assign_result.gt_inds.to(device)
            assign_result.max_overlaps = assign_result.max_overlaps.to(device)
            if assign_result.labels is not None:
                assign_result.labels = assign_result.labels.to(device)
        return assign_result

    def batch_assign(self,
                     bboxes: torch.Tensor,
                     gt_bboxes: torch.Tensor,
                     gt_valid: torch.Tensor,
                     bboxes_valid: Optional[torch.Tensor] = None,
                     gt_bboxes_ignore: Optional[torch.Tensor] = None,
                     ignore_valid: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Assign B images at once; ground truths and ignore regions are padded to a common count.

        Args:
            bboxes: (B, R, 4) candidates of each image.
            gt_bboxes: (B, G, 4) ground truths, padded; gt_valid: (B, G) bool, true on real ones.
            bboxes_valid: (B, R) bool, candidates taking part (the others get gt_inds -1); None: all.
            gt_bboxes_ignore: (B, K, 4) ignore regions, padded; ignore_valid: (B, K) bool.

        Returns:
            gt_inds (B, R) long and max_overlaps (B, R), each row equal to ``assign`` of that image's
            real ground truths on its taking-part candidates.
        """
        overlaps = self.iou_calculator(gt_bboxes, bboxes)
        if (self.ignore_iof_thr > 0 and gt_bboxes_ignore is not None
                and gt_bboxes_ignore.size(1) > 0 and bboxes.size(1) > 0):
            ignored = self._ignored(bboxes, gt_bboxes_ignore, ignore_valid)
            overlaps = overlaps.masked_fill(ignored[:, None, :], -1)
        if bboxes_valid is not None:
            # -inf never ties with a real overlap, so left-out candidates change no ground truth's best match
            overlaps = overlaps.masked_fill(~bboxes_valid[:, None, :], float('-inf'))
        gt_inds, max_overlaps = self.batch_assign_wrt_overlaps(overlaps, gt_valid)
        if bboxes_valid is not None:
            gt_inds = torch.where(bboxes_valid, gt_inds, -1)
        return gt_inds, max_overlaps

    def _ignored(self, bboxes: torch.Tensor, gt_bboxes_ignore: torch.Tensor,
                 ignore_valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, R) bool: candidates whose best IoF with a (valid) ignore region exceeds ``ignore_iof_thr``."""
        if self.ignore_wrt_candidates:
            ignore_overlaps = self.iou_calculator(bboxes, gt_bboxes_ignore, mode='iof')  # (B, R, K)
            if ignore_valid is not None:
                ignore_overlaps = ignore_overlaps.masked_fill(~ignore_valid[:, None, :], float('-inf'))
            ignore_max_overlaps = ignore_overlaps.amax(dim=2)
        else:
            ignore_overlaps = self.iou_calculator(gt_bboxes_ignore, bboxes, mode='iof')  # (B, K, R)
            if ignore_valid is not None:
                ignore_overlaps = ignore_overlaps.masked_fill(~ignore_valid[:, :, None], float('-inf'))
            ignore_max_overlaps = ignore_overlaps.amax(dim=1)
        return ignore_max_overlaps > self.ignore_iof_thr

    def assign_wrt_overlaps(self,
                            overlaps: torch.Tensor,
                            gt_labels: Optional[torch.Tensor] = None) -> AssignResult:
        """Assign from a (G, N) overlap matrix (ignored candidates hold -1)."""
        num_gts, num_bboxes = overlaps.size(0), overlaps.size(1)
        gt_inds, max_overlaps = self.batch_assign_wrt_overlaps(overlaps[None])
        gt_inds, max_overlaps = gt_inds[0], max_overlaps[0]
        assigned_labels = None
        if gt_labels is not None:
            assigned_labels = gt_inds.new_full((num_bboxes, ), -1)
            if num_gts > 0:
                pos_labels = gt_labels.long()[(gt_inds - 1).clamp(min=0)]
                assigned_labels = torch.where(gt_inds > 0, pos_labels, assigned_labels)
        return AssignResult(num_gts, gt_inds, max_overlaps, labels=assigned_labels)

    def batch_assign_wrt_overlaps(self, overlaps: torch.Tensor,
                                  gt_valid: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Assign from (B, G, N) overlaps (ignored candidates hold -1, left-out ones -inf).

        Args:
            overlaps: (B, G, N) IoUs of each image's G (padded) ground truths with its N candidates.
            gt_valid: (B, G) bool, true on real ground truths (padding last); None: all real.

        Returns:
            gt_inds (B, N) long (0 for every candidate of an image without ground truth) and
            max_overlaps (B, N) (0 there); no host-device sync.
        """
        batch_size, num_gts, num_bboxes = overlaps.shape
        if num_gts == 0 or num_bboxes == 0:
            return (overlaps.new_zeros((batch_size, num_bboxes), dtype=torch.long),
                    overlaps.new_zeros((batch_size, num_bboxes)))
        if gt_valid is not None:
            overlaps = overlaps.masked_fill(~gt_valid[:, :, None], float('-inf'))
        max_overlaps, argmax_overlaps = overlaps.max(dim=1)
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=2)

        neg_lo, neg_hi = self.neg_iou_thr if isinstance(self.neg_iou_thr, tuple) else (0, self.neg_iou_thr)
        is_neg = (max_overlaps >= neg_lo) & (max_overlaps < neg_hi)
        assigned_gt_inds = torch.where(is_neg, 0, -1)
        assigned_gt_inds = torch.where(max_overlaps >= self.pos_iou_thr, argmax_overlaps + 1, assigned_gt_inds)
        if self.match_low_quality:
            gt_ok = gt_max_overlaps >= self.min_pos_iou
            if gt_valid is not None:
                gt_ok = gt_ok & gt_valid
            last_match = self._last_low_quality_match(overlaps, gt_max_overlaps, gt_argmax_overlaps, gt_ok)
            assigned_gt_inds = torch.where(last_match > 0, last_match.long(), assigned_gt_inds)
        if gt_valid is not None:
            has_gt = gt_valid.any(dim=1, keepdim=True)
            assigned_gt_inds = torch.where(has_gt, assigned_gt_inds, 0)
            max_overlaps = torch.where(has_gt, max_overlaps, 0)
        return assigned_gt_inds, max_overlaps

    def _last_low_quality_match(self, overlaps: torch.Tensor, gt_max_overlaps: torch.Tensor,
                                gt_argmax_overlaps: torch.Tensor, gt_ok: torch.Tensor) -> torch.Tensor:
        """Step 4: (B, N) 1-based id of the last qualifying ground truth matching each box, 0 for none.

        overlaps (B, G, N); gt_max_overlaps, gt_argmax_overlaps, gt_ok (B, G).
        """
        num_gts, num_bboxes = overlaps.shape[1:]
        if self.gt_max_assign_all:
            match = overlaps == gt_max_overlaps[:, :, None]
        else:
            box_ids = torch.arange(num_bboxes, device=overlaps.device)
            match = box_ids[None, None, :] == gt_argmax_overlaps[:, :, None]
        match = match & gt_ok[:, :, None]
        # GTs are applied in order, so the last matching GT wins: the largest 1-based GT id among a
        # box's matches (a max over int16 ids is ~100x faster than an argmax over bools).
        id_dtype = torch.int16 if num_gts < 2**15 else torch.int32
        gt_ids = torch.arange(1, num_gts + 1, dtype=id_dtype, device=overlaps.device)[None, :, None]
        return (gt_ids * match).amax(dim=1)
