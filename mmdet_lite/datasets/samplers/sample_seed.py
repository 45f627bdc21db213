"""Per-sample seeds: a training sample's random augmentations depend on where it is in the sample
stream, not on which loader worker happens to process it.

Training samplers yield :class:`SeededIndex` (an ``int`` that carries a seed); ``CustomDataset`` and
the dataset wrappers run the pipeline inside :func:`sample_rng`, which reseeds ``random``, numpy and
torch from it. The augmentations are then the same with 0, 1 or N workers, persistent or not, and a
run resumed at any epoch or iteration redraws exactly what an uninterrupted run drew.

* Epoch-based samplers (:class:`SeededSampler`): the seed of the sample at position p of a pass is
  drawn from ``(b, p)``, with b drawn from numpy's global RNG when the pass starts (after
  ``ReseedHook`` reseeded it from the seed, epoch and rank). Not from torch's: the DataLoader draws
  from that one only when it starts workers, which persistent workers do once per process.
* The endless samplers of ``IterBasedRunner``: from ``(seed, rank, round, p)``.
"""
import itertools
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler, get_worker_info

from mmdet_lite.utils.seed import derived_seed, set_random_seed


class SeededIndex(int):
    """A dataset index carrying the seed of its sample's random augmentations."""

    def __new__(cls, index: int, seed: int) -> 'SeededIndex':
        obj = super().__new__(cls, index)
        obj.seed = seed
        return obj

    def __reduce__(self):  # travels to the loader workers with its seed
        return SeededIndex, (int(self), self.seed)


@contextmanager
def sample_rng(index):
    """Run the block with ``random``, numpy and torch seeded from ``index.seed`` when ``index`` is a
    :class:`SeededIndex` (plain indices: nothing changes). In the main process (no loader workers) the
    previous RNG states are restored afterwards, so loading does not shift the training step's draws."""
    seed = getattr(index, 'seed', None)
    if seed is None:
        yield
        return
    if get_worker_info() is not None:  # a worker's RNGs are its own
        set_random_seed(seed)
        yield
        return
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


class SeededSampler(Sampler):
    """The wrapped sampler's indices as :class:`SeededIndex`; ``len``, ``set_epoch`` and other attributes
    are the wrapped sampler's."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.start = 0

    def start_next_pass_at(self, position: int) -> None:
        """Begin the next pass at ``position`` (a run resumed mid-epoch): the pass draws its order and
        seeds as a whole pass does and skips its first ``position`` indices; later passes are whole."""
        self.start = position

    def __iter__(self) -> Iterator[SeededIndex]:
        pass_seed = int(np.random.randint(2**31))
        start, self.start = self.start, 0
        return (SeededIndex(index, derived_seed(pass_seed, position))
                for position, index in itertools.islice(enumerate(self.sampler), start, None))

    def __len__(self) -> int:
        return len(self.sampler)

    def __getattr__(self, name: str):
        if name == 'sampler':  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.sampler, name)
