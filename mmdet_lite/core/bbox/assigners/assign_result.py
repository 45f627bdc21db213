"""Result of assigning N predicted boxes to G ground-truth boxes."""
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from ..demodata import Rng, ensure_rng


class AssignResult:
    """Which ground truth each of N boxes was assigned to.

    Args:
        num_gts: number of ground-truth boxes G considered.
        gt_inds: (N,) long; 0 = background (negative), -1 = ignored, i > 0 = assigned to
            ground truth i - 1 (1-based).
        max_overlaps: (N,) IoU of each box with its best ground truth.
        labels: (N,) long class of the assigned ground truth (-1 when not positive), or None.
    """

    def __init__(self,
                 num_gts: int,
                 gt_inds: torch.Tensor,
                 max_overlaps: torch.Tensor,
                 labels: Optional[torch.Tensor] = None) -> None:
        self.num_gts = num_gts
        self.gt_inds = gt_inds
        self.max_overlaps = max_overlaps
        self.labels = labels
        self._extra_properties: Dict[str, Any] = {}

    @property
    def num_preds(self) -> int:
        """Number of predicted boxes N."""
        return len(self.gt_inds)

    def set_extra_property(self, key: str, value: Any) -> None:
        """Attach a user-defined property (not one of the basic attributes)."""
        if key in self.info:
            raise KeyError(f'{key!r} is a basic AssignResult attribute, not an extra property')
        self._extra_properties[key] = value

    def get_extra_property(self, key: str) -> Any:
        """Get a user-defined property, None if missing."""
        return self._extra_properties.get(key, None)

    @property
    def info(self) -> Dict[str, Any]:
        """Dictionary of the basic attributes plus extra properties."""
        basic_info = {
            'num_gts': self.num_gts,
            'num_preds': self.num_preds,
            'gt_inds': self.gt_inds,
            'max_overlaps': self.max_overlaps,
            'labels': self.labels,
        }
        basic_info.update(self._extra_properties)
        return basic_info

    def __repr__(self) -> str:
        parts = [f'num_gts={self.num_gts!r}']
        for name in ('gt_inds', 'max_overlaps', 'labels'):
            value = getattr(self, name)
            parts.append(f'{name}={value!r}' if value is None else f'{name}.shape={tuple(value.shape)!r}')
        return f'<{self.__class__.__name__}({", ".join(parts)})>'

    def add_gt_(self, gt_labels: torch.Tensor) -> None:
        """Prepend the G ground truths as boxes assigned to themselves (IoU 1, their labels).

        Args:
            gt_labels: (G,) labels of the ground truths.
        """
        self_inds = torch.arange(1, len(gt_labels) + 1, dtype=torch.long, device=gt_labels.device)
        self.gt_inds = torch.cat([self_inds, self.gt_inds])
        self.max_overlaps = torch.cat([self.max_overlaps.new_ones(len(gt_labels)), self.max_overlaps])
        if self.labels is not None:
            self.labels = torch.cat([gt_labels, self.labels])

    @classmethod
    def random(cls,
               num_preds: Optional[int] = None,
               num_gts: Optional[int] = None,
               p_ignore: float = 0.3,
               p_assigned: float = 0.7,
               p_use_label: Union[float, bool] = 0.5,
               num_classes: int = 3,
               rng: Rng = None) -> 'AssignResult':
        """A random assignment, for tests and debugging (MMDetection 2.28's ``AssignResult.random``).

        Args:
            num_preds: N (default: random in [0, 16)).
            num_gts: G (default: random in [0, 8)).
            p_ignore: probability that an assigned box is ignored (-1) instead.
            p_assigned: probability that a box is assigned; at most G boxes are.
            p_use_label: probability of having labels (True: always).
            num_classes: labels of assigned boxes are drawn from [0, num_classes).
            rng: None (numpy's global state), a seed or a ``RandomState``.

        Returns:
            gt_inds (N,) in {-1, 0, 1..G}, max_overlaps (N,) uniform on assigned boxes (0 elsewhere),
            labels (N,) (-1 where not positive) or None.
        """
        rng = ensure_rng(rng)
        num_gts = rng.randint(0, 8) if num_gts is None else num_gts
        num_preds = rng.randint(0, 16) if num_preds is None else num_preds
        is_assigned = rng.rand(num_preds) < p_assigned
        # keep at most num_gts of the assigned boxes, chosen at random
        assigned = np.flatnonzero(is_assigned)
        is_assigned[:] = False
        is_assigned[rng.permutation(assigned)[:num_gts]] = True
        is_ignored = is_assigned & (rng.rand(num_preds) < p_ignore)
        drawn_gts = rng.randint(1, num_gts + 1, size=num_preds) if num_gts > 0 else np.zeros(num_preds, np.int64)
        gt_inds = np.where(is_assigned, drawn_gts, 0)
        gt_inds[is_ignored] = -1
        max_overlaps = np.where(is_assigned, rng.rand(num_preds), 0.)
        labels = None
        if p_use_label is True or rng.rand() < p_use_label:
            positive = is_assigned & ~is_ignored
            labels = torch.from_numpy(np.where(positive, rng.randint(0, max(num_classes, 1), size=num_preds), -1))
        return cls(num_gts, torch.from_numpy(gt_inds).long(), torch.from_numpy(max_overlaps).float(),
                   None if labels is None else labels.long())
