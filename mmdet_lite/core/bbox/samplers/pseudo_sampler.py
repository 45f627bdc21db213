"""A sampler that keeps every positive and negative (for heads that weight all anchors)."""
from typing import Any, Tuple

import torch

from ..assigners import AssignResult
from ..builder import BBOX_SAMPLERS
from .base_sampler import BaseSampler
from .sampling_result import SamplingResult


@BBOX_SAMPLERS.register_module()
class PseudoSampler(BaseSampler):
    """Return all positives and all negatives of the assignment, unchanged."""

    def __init__(self, context: Any = None) -> None:
        """``context``: the head that builds the sampler (unused; heads pass it to every sampler)."""

    def _sample_pos(self, assign_result: AssignResult, num_expected: int, **kwargs: Any):
        raise NotImplementedError('PseudoSampler does not sample; call sample()')

    def _sample_neg(self, assign_result: AssignResult, num_expected: int, **kwargs: Any):
        raise NotImplementedError('PseudoSampler does not sample; call sample()')

    def sample(self, assign_result: AssignResult, bboxes: torch.Tensor, gt_bboxes: torch.Tensor,
               *args: Any, **kwargs: Any) -> SamplingResult:
        """Wrap the (N, 4) ``bboxes`` and their assignment in a SamplingResult."""
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).view(-1).unique()
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).view(-1).unique()
        gt_flags = bboxes.new_zeros(bboxes.shape[0], dtype=torch.uint8)
        return SamplingResult(pos_inds, neg_inds, bboxes, gt_bboxes, assign_result, gt_flags)

    def batch_sample_masks(self, gt_inds: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, R) assignments -> (B, R) bool masks of all positives (> 0) and all negatives (== 0)."""
        return gt_inds > 0, gt_inds == 0
