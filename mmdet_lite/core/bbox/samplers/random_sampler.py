"""Uniformly random sampling of positives and negatives."""
from typing import Any, Union

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
