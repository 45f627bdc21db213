"""Base class of samplers that pick positives and negatives from an assignment."""
from abc import ABCMeta, abstractmethod
from typing import Any, Optional, Tuple

import torch

from ..assigners import AssignResult
from .sampling_result import SamplingResult


class BaseSampler(metaclass=ABCMeta):
    """Sample ``num`` boxes with at most ``num * pos_fraction`` positives.

    Args:
        num: number of boxes sampled per image.
        pos_fraction: upper bound of the positive fraction.
        neg_pos_ub: negatives are at most ``neg_pos_ub * max(1, #pos)`` (disabled when < 0).
        add_gt_as_proposals: prepend the ground truths to the candidates.
        context: the head that builds the sampler (heads pass ``context=self``, as in
            MMDetection); unused by samplers that do not need it.
    """

    def __init__(self,
                 num: int,
                 pos_fraction: float,
                 neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True,
                 context: Any = None) -> None:
        self.num = num
        self.pos_fraction = pos_fraction
        self.neg_pos_ub = neg_pos_ub
        self.add_gt_as_proposals = add_gt_as_proposals
        self.pos_sampler = self
        self.neg_sampler = self

    @abstractmethod
    def _sample_pos(self, assign_result: AssignResult, num_expected: int,
                    **kwargs: Any) -> torch.Tensor:
        """Indices of at most ``num_expected`` positives."""

    @abstractmethod
    def _sample_neg(self, assign_result: AssignResult, num_expected: int,
                    **kwargs: Any) -> torch.Tensor:
        """Indices of at most ``num_expected`` negatives."""

    def sample(self,
               assign_result: AssignResult,
               bboxes: torch.Tensor,
               gt_bboxes: torch.Tensor,
               gt_labels: Optional[torch.Tensor] = None,
               **kwargs: Any) -> SamplingResult:
        """Sample positives and negatives of one image.

        Args:
            assign_result: assignment of the N candidates (modified in place when ground truths
                are added as proposals).
            bboxes: (N, 4+) candidates; columns after the 4th are dropped.
            gt_bboxes: (G, 4) ground truths.
            gt_labels: (G,) labels; required when ground truths are added as proposals.

        Returns:
            SamplingResult whose indices refer to ``cat([gt_bboxes, bboxes])`` when ground truths
            were added, else to ``bboxes``.
        """
        bboxes, gt_flags = self._candidates(assign_result, bboxes, gt_bboxes, gt_labels)
        num_expected_pos = int(self.num * self.pos_fraction)
        pos_inds = self.pos_sampler._sample_pos(
            assign_result, num_expected_pos, bboxes=bboxes, **kwargs).unique()
        num_expected_neg = self._num_expected_neg(pos_inds.numel())
        neg_inds = self.neg_sampler._sample_neg(
            assign_result, num_expected_neg, bboxes=bboxes, **kwargs).unique()
        return SamplingResult(pos_inds, neg_inds, bboxes, gt_bboxes, assign_result, gt_flags)

    def _candidates(self, assign_result: AssignResult, bboxes: torch.Tensor, gt_bboxes: torch.Tensor,
                    gt_labels: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Candidates (M, 4) (ground truths prepended when ``add_gt_as_proposals``) and their (M,) uint8
        ground-truth flags; ``assign_result`` is extended in place to match."""
        if bboxes.dim() < 2:
            bboxes = bboxes[None, :]
        bboxes = bboxes[:, :4]
        gt_flags = bboxes.new_zeros((bboxes.shape[0], ), dtype=torch.uint8)
        if self.add_gt_as_proposals and len(gt_bboxes) > 0:
            if gt_labels is None:
                raise ValueError('gt_labels must be given when add_gt_as_proposals is True')
            bboxes = torch.cat([gt_bboxes[:, :4].to(bboxes.dtype), bboxes], dim=0)
            assign_result.add_gt_(gt_labels)
            gt_ones = bboxes.new_ones(gt_bboxes.shape[0], dtype=torch.uint8)
            gt_flags = torch.cat([gt_ones, gt_flags])
        return bboxes, gt_flags

    def _num_expected_neg(self, num_sampled_pos: int) -> int:
        """``num - num_sampled_pos``, capped at ``neg_pos_ub * max(1, num_sampled_pos)`` when ``neg_pos_ub >= 0``."""
        num_expected_neg = self.num - num_sampled_pos
        if self.neg_pos_ub >= 0:
            neg_upper_bound = int(self.neg_pos_ub * max(1, num_sampled_pos))
            num_expected_neg = min(num_expected_neg, neg_upper_bound)
        return num_expected_neg
