"""GroupSampler / DistributedGroupSampler / DistributedSampler and build_dataloader."""
import signal

import numpy as np
import pytest
import torch

from mmdet_lite.datasets.builder import build_dataloader, worker_init_fn
from mmdet_lite.datasets.samplers import (DistributedGroupSampler, DistributedSampler, SeededSampler,
                                          GroupSampler)


class FlagDataset(torch.utils.data.Dataset):

    def __init__(self, flags):
        self.flag = np.asarray(flags, dtype=np.uint8)

    def __len__(self):
        return len(self.flag)

    def __getitem__(self, idx):
        return idx


def test_group_sampler_batches_one_group_and_pads_each_group():
    dataset = FlagDataset([0, 0, 0, 1, 1, 1, 1, 1])  # groups of 3 and 5
    np.random.seed(0)
    indices = list(GroupSampler(dataset, samples_per_gpu=2))
    assert len(indices) == len(GroupSampler(dataset, 2)) == 4 + 6
    for batch in np.reshape(indices, (-1, 2)):
        assert len(set(dataset.flag[batch])) == 1
    assert set(indices) == set(range(8))


def test_distributed_group_sampler_splits_one_permutation_between_ranks():
    dataset = FlagDataset([0] * 5 + [1] * 7)
    ranks = [DistributedGroupSampler(dataset, 2, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    # group of 5 -> ceil(5/2/2)*2 = 4 per rank; group of 7 -> 4 per rank.
    assert [len(s) for s in ranks] == [8, 8]
    together = list(ranks[0]) + list(ranks[1])
    assert set(together) == set(range(12))
    for batch in np.reshape(together, (-1, 2)):
        assert len(set(dataset.flag[batch])) == 1


def test_distributed_group_sampler_order_depends_on_seed_and_epoch_only():
    dataset = FlagDataset([0] * 6 + [1] * 6)
    first, again = (DistributedGroupSampler(dataset, 2, 2, 0, seed=1) for _ in range(2))
    assert list(first) == list(again)
    again.set_epoch(1)
    assert list(first) != list(again)


def test_distributed_sampler_pads_by_repetition_and_interleaves_ranks():
    dataset = FlagDataset([0] * 5)
    ranks = [list(DistributedSampler(dataset, 2, r, shuffle=False)) for r in (0, 1)]
    assert ranks == [[0, 2, 4], [1, 3, 0]]


def test_build_dataloader_rejects_an_empty_dataset():
    with pytest.raises(ValueError, match='FlagDataset is empty'):
        build_dataloader(FlagDataset([]), 2, 0, dist=False)


def test_build_dataloader_batches_per_gpu_and_shuffles_by_group():
    loader = build_dataloader(FlagDataset([0, 1] * 4), samples_per_gpu=2, workers_per_gpu=0,
                              dist=False, seed=0)
    assert isinstance(loader.sampler, SeededSampler) and isinstance(loader.sampler.sampler, GroupSampler)
    batches = list(loader)
    assert len(batches) == 4 and all(len(b) == 2 for b in batches)


def test_worker_seed_follows_torch_worker_seed(monkeypatch):
    monkeypatch.setattr(torch, 'initial_seed', lambda: 2**40 + 7)
    worker_init_fn(0)
    first = np.random.rand()
    np.random.seed(7)
    assert first == np.random.rand()


def test_build_dataloader_passes_loader_options_through():
    loader = build_dataloader(FlagDataset([0, 1] * 4), samples_per_gpu=2, workers_per_gpu=1,
                              dist=False, persistent_workers=True, pin_memory=True)
    assert loader.pin_memory and loader.persistent_workers and loader.num_workers == 1


class SignalStateDataset(torch.utils.data.Dataset):
    """Reports, from wherever it is loaded, whether SIGTERM is blocked and SIGUSR1 ignored."""

    def __len__(self):
        return 1

    def __getitem__(self, idx):
        blocked = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        return torch.tensor([blocked, signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN])


def test_loader_workers_leave_stop_signals_to_the_main_process():
    loader = torch.utils.data.DataLoader(SignalStateDataset(), num_workers=1,
                                         worker_init_fn=worker_init_fn)
    assert next(iter(loader)).tolist() == [[True, True]]  # a scheduler's SIGTERM cannot kill a worker
    worker_init_fn(0)  # called by hand in the main process: its signals stay as they are
    assert SignalStateDataset()[0].tolist() == [False, False]
