import math
from typing import Iterator, List, Optional, Sequence

import torch
from mmcv.runner import get_dist_info
from torch.utils.data import Sampler


class RandomCycleIter:
    """Endless iterator over ``data``: a random permutation, redrawn from ``generator`` each time
    one is used up."""

    def __init__(self, data: Sequence[int], generator: Optional[torch.Generator] = None) -> None:
        self.data = list(data)
        self.generator = generator
        self.order = torch.randperm(len(self.data), generator=generator).tolist()
        self.position = 0

    def __iter__(self) -> 'RandomCycleIter':
        return self

    def __len__(self) -> int:
        return len(self.data)

    def __next__(self) -> int:
        if self.position == len(self.data):
            self.order = torch.randperm(len(self.data), generator=self.generator).tolist()
            self.position = 0
        item = self.data[self.order[self.position]]
        self.position += 1
        return item


class ClassAwareSampler(Sampler):
    """Class-balanced sampling (MMDetection 2.28, from "Relay Backpropagation"): classes are
    visited in random cycles, and each visit takes ``num_sample_class`` images from the class's
    own random cycle, so every class holding images is sampled about equally often.

    An epoch has ``len(dataset)`` samples (padded to whole batches on every rank). Its order
    depends only on ``seed + epoch`` (``set_epoch``); all ranks draw the same stream and each
    takes its own contiguous slice, so ranks differ and a resumed run redraws it exactly.

    Args:
        dataset: has ``get_cat2imgs()`` (``{label: [image indices]}``).
        samples_per_gpu: batch size per rank.
        num_replicas, rank: default from the process group.
        seed: shared by all ranks (``build_dataloader`` syncs it).
        num_sample_class: images taken per class visit.
    """

    def __init__(self, dataset, samples_per_gpu: int = 1, num_replicas: Optional[int] = None,
                 rank: Optional[int] = None, seed: Optional[int] = 0,
                 num_sample_class: int = 1) -> None:
        default_rank, default_world_size = get_dist_info()
        num_replicas = default_world_size if num_replicas is None else num_replicas
        rank = default_rank if rank is None else rank
        if not isinstance(num_sample_class, int) or isinstance(num_sample_class, bool) \
                or num_sample_class <= 0:
            raise ValueError(f'class_aware_sampler.num_sample_class must be a positive int, got '
                             f'{num_sample_class!r}')
        if not hasattr(dataset, 'get_cat2imgs'):
            raise TypeError(f'{type(dataset).__name__} has no get_cat2imgs(); ClassAwareSampler '
                            f'needs the images of each class')
        self.dataset = dataset
        self.samples_per_gpu = samples_per_gpu
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.seed = seed if seed is not None else 0
        self.num_sample_class = num_sample_class
        self.cat_dict = dataset.get_cat2imgs()
        self.num_samples = math.ceil(len(dataset) / num_replicas / samples_per_gpu) \
            * samples_per_gpu
        self.total_size = self.num_samples * num_replicas
        self.valid_cat_inds = [label for label, images in self.cat_dict.items() if images]
        if not self.valid_cat_inds:
            raise ValueError(f'{type(dataset).__name__}: no class has an image to sample')
        self.num_classes = len(self.valid_cat_inds)

    def _epoch_stream(self) -> List[int]:
        generator = torch.Generator()
        generator.manual_seed(self.epoch + self.seed)
        classes = RandomCycleIter(self.valid_cat_inds, generator)
        images = {label: RandomCycleIter(self.cat_dict[label], generator)
                  for label in self.valid_cat_inds}
        num_rounds = math.ceil(self.total_size / self.num_classes / self.num_sample_class)
        return [next(images[label]) for label in (next(classes) for _ in range(
            num_rounds * self.num_classes)) for _ in range(self.num_sample_class)]

    def __iter__(self) -> Iterator[int]:
        indices = self._epoch_stream()[:self.total_size]
        begin = self.num_samples * self.rank
        return iter(indices[begin:begin + self.num_samples])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
