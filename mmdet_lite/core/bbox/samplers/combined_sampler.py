"""A sampler whose positives and negatives come from two other samplers (MMDetection 2.x ``CombinedSampler``)."""
from typing import Any

import torch

from ..assigners import AssignResult
from ..builder import BBOX_SAMPLERS, build_sampler
from .base_sampler import BaseSampler


@BBOX_SAMPLERS.register_module()
class CombinedSampler(BaseSampler):
    """Positives from ``pos_sampler``, negatives from ``neg_sampler``.

    Both are built with this sampler's ``num``, ``pos_fraction``, ``neg_pos_ub``, ``add_gt_as_proposals`` and
    ``context`` as defaults; only their ``_sample_pos`` / ``_sample_neg`` are used.
    """

    def __init__(self,
                 pos_sampler: dict,
                 neg_sampler: dict,
                 num: int,
                 pos_fraction: float,
                 neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True,
                 context: Any = None) -> None:
        super().__init__(num, pos_fraction, neg_pos_ub=neg_pos_ub, add_gt_as_proposals=add_gt_as_proposals,
                         context=context)
        shared = dict(num=num, pos_fraction=pos_fraction, neg_pos_ub=neg_pos_ub,
                      add_gt_as_proposals=add_gt_as_proposals, context=context)
        self.pos_sampler = build_sampler(pos_sampler, **shared)
        self.neg_sampler = build_sampler(neg_sampler, **shared)

    def _sample_pos(self, assign_result: AssignResult, num_expected: int, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError('CombinedSampler samples positives with its pos_sampler')

    def _sample_neg(self, assign_result: AssignResult, num_expected: int, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError('CombinedSampler samples negatives with its neg_sampler')
