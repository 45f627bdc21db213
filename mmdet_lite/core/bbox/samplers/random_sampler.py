"""Uniformly random sampling of positives and negatives."""
from typing import Any, Optional, Tuple, Union

import numpy as np
import torch

from ..assigners import AssignResult
from ..builder import BBOX_SAMPLERS
from .base_sampler import BaseSampler


@BBOX_SAMPLERS.register_module()
class RandomSampler(BaseSampler):
    """Pick positives (gt_inds > 0) and negatives (gt_inds == 0) at random.

    Random draws use ``torch.randperm`` on the global CPU generator, so ``torch.manual_seed``
    makes sampling reproducible on every device. Arguments as :class:`BaseSampler`.
    """

    def random_choice(self, gallery: Union[torch.Tensor, np.ndarray, list],
                      num: int) -> Union[torch.Tensor, np.ndarray]:
        """Pick ``num`` distinct elements of the (K,) ``gallery`` (same type back)."""
        if len(gallery) < num:
            raise ValueError(f'cannot pick {num} elements from a gallery of {len(gallery)}')
        is_tensor = isinstance(gallery, torch.Tensor)
        gallery_t = gallery if is_tensor else torch.as_tensor(np.asarray(gallery), dtype=torch.long)
        perm = torch.randperm(gallery_t.numel())[:num].to(device=gallery_t.device)
        rand_inds = gallery_t[perm]
        return rand_inds if is_tensor else rand_inds.numpy()

    def random_choice_per_group(self, gallery: torch.Tensor, group_ids: torch.Tensor,
                                num_per_group: int) -> torch.Tensor:
        """Pick at most ``num_per_group`` random elements of the (K,) ``gallery`` from each group.

        ``group_ids`` (K,) integer group of each element; returns the picked elements (order unspecified).
        One ``torch.randperm`` orders the gallery at random; a stable sort by group then gives each element
        its rank inside its group, and ranks below ``num_per_group`` are kept.
        """
        if gallery.numel() == 0:
            return gallery
        perm = torch.randperm(gallery.numel()).to(device=gallery.device)
        shuffled_groups = group_ids[perm]
        order = torch.argsort(shuffled_groups, stable=True)
        _, counts = torch.unique_consecutive(shuffled_groups[order], return_counts=True)
        group_starts = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        rank_in_group = torch.arange(gallery.numel(), device=gallery.device) - group_starts
        return gallery[perm[order][rank_in_group < num_per_group]]

    def _sample_with_mask(self, mask: torch.Tensor, num_expected: int) -> torch.Tensor:
        inds = torch.nonzero(mask, as_tuple=False).view(-1)
        if inds.numel() <= num_expected:
            return inds
        return self.random_choice(inds, num_expected)

    def _sample_pos(self, assign_result: AssignResult, num_expected: int,
                    **kwargs: Any) -> torch.Tensor:
        """Randomly pick at most ``num_expected`` positive indices."""
        return self._sample_with_mask(assign_result.gt_inds > 0, num_expected)

    def _sample_neg(self, assign_result: AssignResult, num_expected: int,
                    **kwargs: Any) -> torch.Tensor:
        """Randomly pick at most ``num_expected`` negative indices."""
        return self._sample_with_mask(assign_result.gt_inds == 0, num_expected)

    def batch_sample_masks(self, gt_inds: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Sample B images at once without a host-device sync (no ground truths added as proposals).

        Args:
            gt_inds: (B, R) assignments (> 0 positive, 0 negative, < 0 ignored).

        Returns:
            pos_mask, neg_mask (B, R) bool: per image a uniformly random subset of
            ``min(#pos, int(num * pos_fraction))`` positives and ``min(#neg, num_expected_neg)``
            negatives, the sizes ``sample`` draws. The random keys come from the generator of
            ``gt_inds``' device (``torch.manual_seed`` seeds it too).
        """
        num_bboxes = gt_inds.size(1)
        # the k smallest of i.i.d. uniform keys pick a uniform k-subset; pos and neg share keys (disjoint sets)
        keys = torch.rand(gt_inds.shape, device=gt_inds.device)
        pos_mask = self._smallest_keys(keys, gt_inds > 0, min(int(self.num * self.pos_fraction), num_bboxes))
        num_pos = pos_mask.sum(dim=1)
        num_expected_neg = self.num - num_pos
        if self.neg_pos_ub >= 0:
            neg_upper_bound = (num_pos.clamp(min=1).double() * self.neg_pos_ub).floor().long()
            num_expected_neg = torch.minimum(num_expected_neg, neg_upper_bound)
        neg_mask = self._smallest_keys(keys, gt_inds == 0, min(self.num, num_bboxes), num_expected_neg)
        return pos_mask, neg_mask

    @staticmethod
    def _smallest_keys(keys: torch.Tensor, candidates: torch.Tensor, max_num: int,
                       num: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, R) mask of the ``max_num`` (or (B,) ``num`` <= max_num) candidates of smallest key per row."""
        masked_keys = keys.masked_fill(~candidates, 2.0)  # keys are < 1: non-candidates sort last
        top_keys, top_inds = masked_keys.topk(max_num, dim=1, largest=False, sorted=True)
        picked = top_keys < 2.0
        if num is not None:
            picked = picked & (torch.arange(max_num, device=keys.device)[None, :] < num[:, None])
        return torch.zeros_like(candidates).scatter_(1, top_inds, picked)
