"""IoU-balanced negative sampling of Libra R-CNN (MMDetection 2.x ``IoUBalancedNegSampler``)."""
from typing import Any

import torch

from ..assigners import AssignResult
from ..builder import BBOX_SAMPLERS
from .random_sampler import RandomSampler


@BBOX_SAMPLERS.register_module()
class IoUBalancedNegSampler(RandomSampler):
    """Negatives spread evenly over IoU bins (https://arxiv.org/abs/1904.02701).

    Of the ``num_expected`` negatives, ``int(num_expected * (1 - floor_fraction))`` come from the IoU-sampling
    set (negatives with max IoU ``>= floor_thr``, or ``> 0`` when ``floor_thr`` is 0 or -1), the rest at random
    from the floor set (max IoU in ``[0, floor_thr)``, or ``== 0``); any shortfall is filled with random
    negatives not yet picked. With ``num_bins >= 2`` the IoU-sampling set is split into ``num_bins`` equal
    intervals ``[floor_thr + i*w, floor_thr + (i+1)*w)``, ``w = (M - floor_thr) / num_bins`` with M the largest
    max IoU of all candidates (positives included), and ``int(n / num_bins)`` are drawn from each.

    ``floor_thr=-1`` acts as 0: MMDetection 2.28 puts every negative into the bins on its first call only and
    then overwrites ``floor_thr`` with 0; every later call behaves as here. Positives are sampled as by
    :class:`RandomSampler`.

    Args:
        floor_thr: IoU floor of the balanced part, >= 0 or -1.
        floor_fraction: fraction in [0, 1] of negatives drawn from the floor set.
        num_bins: number of IoU intervals, >= 1.
        others: as :class:`BaseSampler`.
    """

    def __init__(self,
                 num: int,
                 pos_fraction: float,
                 floor_thr: float = -1,
                 floor_fraction: float = 0,
                 num_bins: int = 3,
                 neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True,
                 context: Any = None) -> None:
        super().__init__(num, pos_fraction, neg_pos_ub=neg_pos_ub, add_gt_as_proposals=add_gt_as_proposals,
                         context=context)
        if not (floor_thr >= 0 or floor_thr == -1):
            raise ValueError(f'floor_thr must be >= 0 or -1, got {floor_thr}')
        if not 0 <= floor_fraction <= 1:
            raise ValueError(f'floor_fraction must be in [0, 1], got {floor_fraction}')
        if num_bins < 1:
            raise ValueError(f'num_bins must be >= 1, got {num_bins}')
        self.floor_thr = floor_thr
        self.floor_fraction = floor_fraction
        self.num_bins = num_bins

    def iou_bins(self, max_overlaps: torch.Tensor, floor_thr: float) -> torch.Tensor:
        """(N,) max IoUs -> (N,) bin index in [0, num_bins), or -1 / num_bins outside ``[floor_thr, M)``."""
        iou_interval = (max_overlaps.max() - floor_thr) / self.num_bins
        edges = floor_thr + torch.arange(self.num_bins + 1, device=max_overlaps.device) * iou_interval
        return torch.bucketize(max_overlaps, edges.to(max_overlaps.dtype), right=True) - 1

    def sample_via_interval(self, max_overlaps: torch.Tensor, full_mask: torch.Tensor, num_expected: int,
                            floor_thr: float) -> torch.Tensor:
        """Up to ``int(num_expected / num_bins)`` random candidates of (N,) ``full_mask`` per IoU bin, topped up
        at random from the rest of ``full_mask`` to ``num_expected`` (or all of them)."""
        bins = self.iou_bins(max_overlaps, floor_thr)
        in_bins = torch.nonzero(full_mask & (bins >= 0) & (bins < self.num_bins), as_tuple=False).view(-1)
        sampled_inds = self.random_choice_per_group(in_bins, bins[in_bins], int(num_expected / self.num_bins))
        return self._top_up(sampled_inds, full_mask, num_expected)

    def _top_up(self, sampled_inds: torch.Tensor, full_mask: torch.Tensor, num_expected: int) -> torch.Tensor:
        """Add random indices of ``full_mask`` not in ``sampled_inds`` until there are ``num_expected``."""
        if sampled_inds.numel() >= num_expected:
            return sampled_inds
        rest = full_mask.clone()
        rest[sampled_inds] = False
        extra_inds = torch.nonzero(rest, as_tuple=False).view(-1)
        num_extra = min(num_expected - sampled_inds.numel(), extra_inds.numel())
        return torch.cat([sampled_inds, self.random_choice(extra_inds, num_extra)])

    def _sample_neg(self, assign_result: AssignResult, num_expected: int, **kwargs: Any) -> torch.Tensor:
        """Indices of at most ``num_expected`` negatives, balanced over IoU."""
        neg_mask = assign_result.gt_inds == 0
        neg_inds = torch.nonzero(neg_mask, as_tuple=False).view(-1)
        if neg_inds.numel() <= num_expected:
            return neg_inds
        max_overlaps = assign_result.max_overlaps
        floor_thr = max(self.floor_thr, 0)
        if floor_thr > 0:
            floor_mask = neg_mask & (max_overlaps >= 0) & (max_overlaps < floor_thr)
            iou_mask = neg_mask & (max_overlaps >= floor_thr)
        else:
            floor_mask = neg_mask & (max_overlaps == 0)
            iou_mask = neg_mask & (max_overlaps > 0)
        iou_inds = torch.nonzero(iou_mask, as_tuple=False).view(-1)
        num_expected_iou = int(num_expected * (1 - self.floor_fraction))
        if iou_inds.numel() > num_expected_iou:
            if self.num_bins >= 2:
                iou_sampled = self.sample_via_interval(max_overlaps, iou_mask, num_expected_iou, floor_thr)
            else:
                iou_sampled = self.random_choice(iou_inds, num_expected_iou)
        else:
            iou_sampled = iou_inds
        floor_inds = torch.nonzero(floor_mask, as_tuple=False).view(-1)
        num_expected_floor = num_expected - iou_sampled.numel()
        if floor_inds.numel() > num_expected_floor:
            floor_inds = self.random_choice(floor_inds, num_expected_floor)
        return self._top_up(torch.cat([floor_inds, iou_sampled]), neg_mask, num_expected)
