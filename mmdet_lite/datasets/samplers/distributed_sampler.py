import torch
from torch.utils.data import DistributedSampler as _DistributedSampler


class DistributedSampler(_DistributedSampler):
    """torch's DistributedSampler with the order drawn from ``seed + epoch``, padded by repetition."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                         seed=seed if seed is not None else 0)

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.epoch + self.seed)
            indices = torch.randperm(len(self.dataset), generator=generator)
        else:
            indices = torch.arange(len(self.dataset))
        indices = indices.repeat(-(-self.total_size // len(indices)))[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())
