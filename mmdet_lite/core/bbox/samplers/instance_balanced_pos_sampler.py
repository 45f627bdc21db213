"""Positives sampled evenly over the ground truths they match (Libra R-CNN, MMDetection 2.x)."""
from typing import Any

import torch

from ..assigners import AssignResult
from ..builder import BBOX_SAMPLERS
from .random_sampler import RandomSampler


@BBOX_SAMPLERS.register_module()
class InstanceBalancedPosSampler(RandomSampler):
    """Positives: at most ``round(num_expected / G') + 1`` per matched ground truth (G' of them), then random.

    When there are more than ``num_expected`` positives, each ground truth keeps a random subset of its
    positives of that size; a shortfall is filled with random positives not yet picked, an excess is cut by a
    random subset. Negatives are sampled as by :class:`RandomSampler`. (MMDetection 2.28 fills the shortfall
    from a set difference of tensors that never removes anything, so its fill can repeat picked boxes and
    return fewer than ``num_expected``; here the fill draws only from unpicked positives.)
    """

    def _sample_pos(self, assign_result: AssignResult, num_expected: int, **kwargs: Any) -> torch.Tensor:
        """Indices of at most ``num_expected`` positives, balanced over their ground truths."""
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).view(-1)
        if pos_inds.numel() <= num_expected:
            return pos_inds
        pos_gt_inds = assign_result.gt_inds[pos_inds]
        num_gts = pos_gt_inds.unique().numel()
        num_per_gt = int(round(num_expected / float(num_gts)) + 1)
        sampled_inds = self.random_choice_per_group(pos_inds, pos_gt_inds, num_per_gt)
        if sampled_inds.numel() < num_expected:
            unpicked = torch.ones_like(assign_result.gt_inds, dtype=torch.bool)
            unpicked[sampled_inds] = False
            extra_inds = pos_inds[unpicked[pos_inds]]
            num_extra = min(num_expected - sampled_inds.numel(), extra_inds.numel())
            sampled_inds = torch.cat([sampled_inds, self.random_choice(extra_inds, num_extra)])
        elif sampled_inds.numel() > num_expected:
            sampled_inds = self.random_choice(sampled_inds, num_expected)
        return sampled_inds
