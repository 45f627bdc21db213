"""Random numbers and boxes for tests and debugging (MMDetection 2.x ``demodata``)."""
from typing import Optional, Union

import numpy as np
import torch

Rng = Union[None, int, np.random.RandomState]


def ensure_rng(rng: Rng = None) -> np.random.RandomState:
    """A ``RandomState``: numpy's global one for None, a new one seeded with an int, or ``rng`` itself."""
    if rng is None:
        return np.random.mtrand._rand
    if isinstance(rng, (int, np.integer)):
        return np.random.RandomState(rng)
    if isinstance(rng, np.random.RandomState):
        return rng
    raise TypeError(f'rng must be None, an int or a numpy RandomState, got {type(rng)}')


def random_boxes(num: int = 1, scale: float = 1., rng: Rng = None) -> torch.Tensor:
    """(num, 4) float32 x1y1x2y2 boxes with corners uniform in ``[0, scale)`` (x1 <= x2, y1 <= y2)."""
    corners = ensure_rng(rng).rand(num, 4).astype(np.float32)
    x1y1 = np.minimum(corners[:, :2], corners[:, 2:])
    x2y2 = np.maximum(corners[:, :2], corners[:, 2:])
    return torch.from_numpy(np.concatenate([x1y1, x2y2], axis=1) * np.float32(scale))
