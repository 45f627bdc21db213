import math

import numpy as np
import torch
from torch.utils.data import Sampler


def _group_sizes(dataset) -> np.ndarray:
    if not hasattr(dataset, 'flag'):
        raise TypeError(f'{type(dataset).__name__} has no aspect-ratio `flag`; '
                        'group samplers need one (CustomDataset sets it)')
    return np.bincount(np.asarray(dataset.flag, dtype=np.int64))


class GroupSampler(Sampler):
    """Batches from one aspect-ratio group at a time, in random order (non-distributed).

    Each group is shuffled and padded with random repeats to a multiple of
    ``samples_per_gpu``; the batches of all groups are then permuted. Uses numpy's global
    RNG, as MMDetection 2.x does.
    """

    def __init__(self, dataset, samples_per_gpu: int = 1):
        self.dataset = dataset
        self.samples_per_gpu = samples_per_gpu
        self.flag = np.asarray(dataset.flag, dtype=np.int64)
        self.group_sizes = _group_sizes(dataset)
        self.num_samples = int(sum(
            math.ceil(size / samples_per_gpu) * samples_per_gpu for size in self.group_sizes))

    def __iter__(self):
        chunks = []
        for group, size in enumerate(self.group_sizes):
            if size == 0:
                continue
            indices = np.where(self.flag == group)[0]
            np.random.shuffle(indices)
            num_extra = int(math.ceil(size / self.samples_per_gpu)) * self.samples_per_gpu - size
            indices = np.concatenate([indices, np.random.choice(indices, num_extra)])
            chunks.append(indices)
        indices = np.concatenate(chunks).reshape(-1, self.samples_per_gpu)
        indices = indices[np.random.permutation(len(indices))].reshape(-1)
        return iter(indices.astype(np.int64).tolist())

    def __len__(self) -> int:
        return self.num_samples


class DistributedGroupSampler(Sampler):
    """Group sampling split across ranks; the order depends only on ``seed + epoch``.

    Every group is permuted and padded by repeating itself to a multiple of
    ``samples_per_gpu * num_replicas``; batches are permuted with the same generator and
    each rank takes one contiguous slice.
    """

    def __init__(self, dataset, samples_per_gpu: int = 1, num_replicas: int = None,
                 rank: int = None, seed: int = 0):
        if num_replicas is None or rank is None:
            from mmcv.runner import get_dist_info
            default_rank, default_world = get_dist_info()
            num_replicas = default_world if num_replicas is None else num_replicas
            rank = default_rank if rank is None else rank
        self.dataset = dataset
        self.samples_per_gpu = samples_per_gpu
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.seed = seed if seed is not None else 0
        self.flag = np.asarray(dataset.flag, dtype=np.int64)
        self.group_sizes = _group_sizes(dataset)
        self.num_samples = int(sum(
            math.ceil(size / samples_per_gpu / num_replicas) * samples_per_gpu
            for size in self.group_sizes))
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        generator = torch.Generator()
        generator.manual_seed(self.epoch + self.seed)
        chunks = []
        for group, size in enumerate(self.group_sizes):
            if size == 0:
                continue
            indices = torch.from_numpy(np.where(self.flag == group)[0])
            indices = indices[torch.randperm(int(size), generator=generator)]
            padded = int(math.ceil(size / self.samples_per_gpu / self.num_replicas)
                         ) * self.samples_per_gpu * self.num_replicas
            chunks.append(indices.repeat(math.ceil(padded / size))[:padded])
        batches = torch.cat(chunks).reshape(-1, self.samples_per_gpu)
        batches = batches[torch.randperm(len(batches), generator=generator)].reshape(-1)
        begin = self.num_samples * self.rank
        return iter(batches[begin:begin + self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
