"""ClassAwareSampler (the cas configs' ``data.train_dataloader.class_aware_sampler``)."""
from collections import Counter

import numpy as np
import pytest
import torch

from mmdet_lite.datasets.builder import build_dataloader
from mmdet_lite.datasets.samplers import ClassAwareSampler, SeededSampler

# images 0-7: class 0, 8-9: class 1, 10: class 2; class 3 has no image
LABELS = [0] * 8 + [1] * 2 + [2]


class LabelDataset(torch.utils.data.Dataset):

    def __init__(self, labels):
        self.labels = labels
        self.flag = np.zeros(len(labels), np.uint8)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return int(idx)

    def get_cat2imgs(self):
        return {c: [i for i, label in enumerate(self.labels) if label == c] for c in range(4)}


def _sampler(**kwargs):
    args = dict(samples_per_gpu=1, num_replicas=1, rank=0, seed=0)
    args.update(kwargs)
    return ClassAwareSampler(LabelDataset(LABELS), **args)


def test_every_class_with_images_is_sampled_equally_often():
    sampler = _sampler()
    stream = sampler._epoch_stream()  # ceil(11 / 3) = 4 rounds over the 3 classes
    assert len(stream) == 12
    assert Counter(LABELS[i] for i in stream) == {0: 4, 1: 4, 2: 4}
    assert Counter(i for i in stream if LABELS[i] == 1) == {8: 2, 9: 2}  # each class cycles
    assert len({i for i in stream if LABELS[i] == 0}) == 4  # no repeat within a cycle
    for begin in range(0, 12, 3):  # each round visits every class once
        assert sorted(LABELS[i] for i in stream[begin:begin + 3]) == [0, 1, 2]
    assert len(list(sampler)) == len(sampler) == 11


def test_num_sample_class_takes_that_many_images_per_visit():
    stream = _sampler(num_sample_class=2)._epoch_stream()
    assert len(stream) == 12  # ceil(11 / 3 / 2) = 2 rounds of 3 classes x 2 images
    labels = [LABELS[i] for i in stream]
    assert labels[0::2] == labels[1::2]


def test_order_depends_on_seed_and_epoch_only_and_ranks_split_one_stream():
    sampler = _sampler(seed=5)
    sampler.set_epoch(2)
    same = _sampler(seed=7)
    same.set_epoch(0)
    assert list(sampler) == list(same)  # seed + epoch
    orders = set()
    for epoch in range(4):
        sampler.set_epoch(epoch)
        orders.add(tuple(sampler))
    assert len(orders) == 4
    ranks = [_sampler(samples_per_gpu=2, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    assert len(ranks[0]) == 6  # ceil(11 / 2 / 2) * 2
    assert list(ranks[0]) + list(ranks[1]) == _sampler(seed=3)._epoch_stream()[:12]


def test_build_dataloader_wires_class_aware_sampler_and_checks_its_keys():
    dataset = LabelDataset(LABELS)
    loader = build_dataloader(dataset, 2, 0, dist=False, seed=3,
                              class_aware_sampler=dict(num_sample_class=1))
    assert isinstance(loader.sampler, SeededSampler)
    assert isinstance(loader.sampler.sampler, ClassAwareSampler)
    assert loader.sampler.seed == 3 and len(loader.sampler) == 12
    assert sorted(Counter(LABELS[i] for batch in loader for i in batch.tolist()).values()) \
        == [4, 4, 4]
    with pytest.raises(ValueError, match='num_sample_class only'):
        build_dataloader(dataset, 2, 0, dist=False, class_aware_sampler=dict(num=1))
    with pytest.raises(ValueError, match='num_sample_class must be a positive int, got 0'):
        build_dataloader(dataset, 2, 0, dist=False, class_aware_sampler=dict(num_sample_class=0))


def test_sampler_seed_hook_sets_the_epoch_through_the_seeded_sampler():
    """train_detector registers DistSamplerSeedHook in every epoch-based run: a resumed run's
    runner.epoch picks that epoch's class-aware order, in one process too."""
    from types import SimpleNamespace

    from mmcv.runner import DistSamplerSeedHook
    loader = build_dataloader(LabelDataset(LABELS), 1, 0, dist=False, seed=0,
                              class_aware_sampler=dict(num_sample_class=1))
    DistSamplerSeedHook().before_epoch(SimpleNamespace(data_loader=loader, epoch=3))
    expected = _sampler(seed=3)  # seed + epoch
    assert loader.sampler.sampler.epoch == 3
    assert list(map(int, loader.sampler)) == list(expected)
