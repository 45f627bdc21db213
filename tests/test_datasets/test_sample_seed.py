"""Per-sample augmentation seeds: the same samples whatever the loader workers, and resumable streams."""
import pickle
import random

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from mmdet_lite.datasets import build_dataloader
from mmdet_lite.datasets.samplers import InfiniteGroupBatchSampler, SeededIndex, sample_rng


class _RandomAugmentDataset(Dataset):
    """Returns the index with draws from random, numpy and torch, as a random pipeline would make them."""
    CLASSES = ('a', )

    def __init__(self, size=12):
        self.flag = np.zeros(size, dtype=np.uint8)

    def __len__(self):
        return len(self.flag)

    def __getitem__(self, idx):
        with sample_rng(idx):
            return torch.tensor([float(idx), random.random(), np.random.rand(), torch.rand(()).item()])


def _epochs(num_workers, persistent, num_epochs=2, first_epoch=0):
    loader = build_dataloader(_RandomAugmentDataset(), samples_per_gpu=3, workers_per_gpu=num_workers,
                              dist=False, seed=0, persistent_workers=persistent)
    epochs = []
    for epoch in range(first_epoch, num_epochs):
        np.random.seed(epoch)  # what ReseedHook does at each epoch start
        torch.manual_seed(epoch)
        epochs.append(torch.cat(list(loader)))
    return epochs


def test_seeded_index_is_an_int_that_pickles_with_its_seed():
    index = pickle.loads(pickle.dumps(SeededIndex(5, 123)))
    assert index == 5 and index.seed == 123 and [10, 11, 12, 13, 14, 15][index] == 15
    assert type(index % 3) is int  # arithmetic gives plain indices: wrappers must reseed themselves


def test_samples_are_augmented_alike_with_any_workers_persistent_or_not():
    expected = _epochs(num_workers=0, persistent=False)
    for num_workers, persistent in [(1, False), (2, False), (2, True)]:
        got = _epochs(num_workers, persistent)
        for epoch in range(2):
            torch.testing.assert_close(got[epoch], expected[epoch], rtol=0, atol=0)
    assert not torch.equal(expected[0][:, 1:], expected[1][:, 1:])  # epochs differ
    assert len(torch.unique(expected[0][:, 2])) == 12  # and so do the samples of one epoch


def test_a_run_resumed_at_epoch_1_with_persistent_workers_sees_the_same_samples():
    expected = _epochs(num_workers=0, persistent=False)[1]
    resumed = _epochs(num_workers=2, persistent=True, first_epoch=1)  # a fresh loader, as after --resume-from
    torch.testing.assert_close(resumed[0], expected, rtol=0, atol=0)


def _stream(num_workers, persistent, start_iter=0, num_batches=6):
    loader = build_dataloader(_RandomAugmentDataset(size=10), samples_per_gpu=2, workers_per_gpu=num_workers,
                              dist=False, seed=3, runner_type='IterBasedRunner', persistent_workers=persistent)
    loader.batch_sampler.set_start_iter(start_iter)  # what train_detector does on resume
    batches = iter(loader)
    return [next(batches) for _ in range(num_batches)]


def test_endless_loader_with_persistent_workers_resumes_with_the_same_samples():
    expected = _stream(num_workers=0, persistent=False, num_batches=8)  # past the end of the 10 samples
    for got in (_stream(num_workers=2, persistent=True, num_batches=8),
                _stream(num_workers=1, persistent=True, start_iter=3, num_batches=5)):
        torch.testing.assert_close(got, expected[-len(got):], rtol=0, atol=0)
    assert len(torch.unique(torch.cat(expected)[:, 1])) == 16  # each place in the stream is augmented anew


def test_main_process_loading_leaves_the_global_rngs_alone():
    dataset = _RandomAugmentDataset()
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    first = dataset[SeededIndex(3, seed=7)]
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1]) and random.getstate() == before[2]
    assert torch.equal(dataset[SeededIndex(3, seed=7)], first)
    assert not torch.equal(dataset[SeededIndex(3, seed=8)], first)


@pytest.mark.parametrize('start_iter', [3, 5])
def test_endless_stream_resumes_with_the_same_seeds(start_iter):
    dataset = _RandomAugmentDataset(size=10)
    stream = iter(InfiniteGroupBatchSampler(dataset, batch_size=2, world_size=1, rank=0, seed=3))
    batches = [next(stream) for _ in range(12)]  # two full rounds and then some
    resumed_sampler = InfiniteGroupBatchSampler(dataset, batch_size=2, world_size=1, rank=0, seed=3)
    resumed_sampler.set_start_iter(start_iter)
    resumed = iter(resumed_sampler)
    for batch in batches[start_iter:]:
        got = next(resumed)
        assert got == batch and [i.seed for i in got] == [i.seed for i in batch]
    seeds = [i.seed for batch in batches for i in batch]
    assert len(set(seeds)) == len(seeds)  # every position of the stream has its own seed
