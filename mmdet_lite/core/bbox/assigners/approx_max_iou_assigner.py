"""Assign squares by the best IoU over their approximating anchors (MMDetection 2.x ``ApproxMaxIoUAssigner``).

Symbols: G ground-truth boxes, S squares (one per location), K approxs per square (``approxs_per_octave``).
"""
from typing import Optional

import torch

from ..builder import BBOX_ASSIGNERS
from .assign_result import AssignResult
from .max_iou_assigner import MaxIoUAssigner


@BBOX_ASSIGNERS.register_module()
class ApproxMaxIoUAssigner(MaxIoUAssigner):
    """``MaxIoUAssigner`` on overlaps ``IoU(gt, square_s) := max_k IoU(gt, approx_{s,k})``.

    Ignore regions are matched against the squares. Same arguments as ``MaxIoUAssigner``.
    """

    def assign(self,  # type: ignore[override]
               approxs: torch.Tensor,
               squares: torch.Tensor,
               approxs_per_octave: int,
               gt_bboxes: torch.Tensor,
               gt_bboxes_ignore: Optional[torch.Tensor] = None,
               gt_labels: Optional[torch.Tensor] = None) -> AssignResult:
        """Assign gt boxes to S squares.

        Args:
            approxs: (S * K, 4), row ``s * K + k`` is approx k of square s.
            squares: (S, 4).
            approxs_per_octave: K.
            gt_bboxes: (G, 4); gt_bboxes_ignore: (I, 4) or None; gt_labels: (G,) or None.

        Returns:
            AssignResult over the S squares.
        """
        num_squares, num_gts = squares.size(0), gt_bboxes.size(0)
        if approxs.size(0) != num_squares * approxs_per_octave:
            raise ValueError(f'approxs has {approxs.size(0)} rows, expected {num_squares} squares x '
                             f'{approxs_per_octave} approxs_per_octave')
        if num_squares == 0 or num_gts == 0:
            return self.assign_wrt_overlaps(approxs.new_zeros(num_gts, num_squares), gt_labels)

        assign_on_cpu = self.gpu_assign_thr > 0 and num_gts > self.gpu_assign_thr
        device = approxs.device
        if assign_on_cpu:
            approxs, squares, gt_bboxes = approxs.cpu(), squares.cpu(), gt_bboxes.cpu()
            gt_bboxes_ignore = None if gt_bboxes_ignore is None else gt_bboxes_ignore.cpu()
            gt_labels = None if gt_labels is None else gt_labels.cpu()

        all_overlaps = self.iou_calculator(approxs, gt_bboxes)  # (S * K, G)
        overlaps = all_overlaps.view(num_squares, approxs_per_octave, num_gts).amax(dim=1).t()
        if (self.ignore_iof_thr > 0 and gt_bboxes_ignore is not None and gt_bboxes_ignore.numel() > 0):
            if self.ignore_wrt_candidates:
                ignore_max = self.iou_calculator(squares, gt_bboxes_ignore, mode='iof').max(dim=1)[0]
            else:
                ignore_max = self.iou_calculator(gt_bboxes_ignore, squares, mode='iof').max(dim=0)[0]
            overlaps[:, ignore_max > self.ignore_iof_thr] = -1

        assign_result = self.assign_wrt_overlaps(overlaps, gt_labels)
        if assign_on_cpu:
            assign_result.gt_inds = assign_result.gt_inds.to(device)
            assign_result.max_overlaps = assign_result.max_overlaps.to(device)
            if assign_result.labels is not None:
                assign_result.labels = assign_result.labels.to(device)
        return assign_result
