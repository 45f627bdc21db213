import itertools

from mmcv.runner import get_dist_info
from torch.utils.data import Sampler

from mmdet_lite.utils.seed import derived_seed

from .distributed_sampler import DistributedSampler
from .group_sampler import DistributedGroupSampler
from .sample_seed import SeededIndex


class InfiniteGroupBatchSampler(Sampler):
    """Endless batches for IterBasedRunner, one aspect-ratio group per batch.

    Round ``r`` of the stream is :class:`DistributedGroupSampler`'s order for epoch ``r``
    (seeded by ``seed + r``), so batch ``i`` of the stream depends only on ``(seed, i)`` and
    :meth:`set_start_iter` can resume mid-round exactly where an uninterrupted run would be. Each index
    is a :class:`SeededIndex` whose augmentation seed comes from ``(seed, rank, r, position)``, so the
    samples are augmented alike too, whichever loader worker loads them.
    """

    def __init__(self, dataset, batch_size: int = 1, world_size: int = None, rank: int = None,
                 seed: int = 0, shuffle: bool = True):
        default_rank, default_world_size = get_dist_info()
        world_size = default_world_size if world_size is None else world_size
        rank = default_rank if rank is None else rank
        self.sampler = self._round_sampler(dataset, batch_size, world_size, rank, seed, shuffle)
        self.seed = seed if seed is not None else 0
        self.rank = rank
        self.batch_size = batch_size
        self.batches_per_round = len(self.sampler) // batch_size
        self.start_iter = 0

    @staticmethod
    def _round_sampler(dataset, batch_size, world_size, rank, seed, shuffle):
        if shuffle:
            return DistributedGroupSampler(dataset, batch_size, world_size, rank, seed)
        return DistributedSampler(dataset, world_size, rank, shuffle=False, seed=seed)

    def set_start_iter(self, start_iter: int) -> None:
        """Start the next iteration over the stream at batch ``start_iter``."""
        self.start_iter = start_iter

    def _round(self, index: int) -> list:
        self.sampler.set_epoch(index)
        indices = [SeededIndex(sample, derived_seed(self.seed, self.rank, index, position))
                   for position, sample in enumerate(self.sampler)]
        return [indices[i:i + self.batch_size]
                for i in range(0, self.batches_per_round * self.batch_size, self.batch_size)]

    def __iter__(self):
        first_round, offset = divmod(self.start_iter, self.batches_per_round)
        for round_index in itertools.count(first_round):
            batches = self._round(round_index)
            yield from batches[offset:]
            offset = 0

    def __len__(self) -> int:
        """Batches in one round (what mmcv's IterLoader reports as the loader's length)."""
        return self.batches_per_round

    def set_epoch(self, epoch: int) -> None:
        """Nothing to do: rounds advance on their own (kept for mmcv's IterLoader)."""


class InfiniteBatchSampler(InfiniteGroupBatchSampler):
    """The same endless stream without aspect-ratio grouping."""

    @staticmethod
    def _round_sampler(dataset, batch_size, world_size, rank, seed, shuffle):
        return DistributedSampler(dataset, world_size, rank, shuffle=shuffle, seed=seed)
