"""PrefetchLoader: the same batches in the same order as its DataLoader, errors passed on, attributes forwarded."""
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from mmdet_lite.datasets import prefetch_loader
from mmdet_lite.datasets.prefetch_loader import PrefetchLoader


class _Squares(Dataset):

    def __init__(self, size=10, bad_index=None):
        self.size = size
        self.bad_index = bad_index

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        if index == self.bad_index:
            raise ValueError(f'cannot load sample {index}')
        return torch.tensor([index * index]), torch.rand(1)  # the random part shows the workers' seeding


def _loader(dataset, seed=0):
    return DataLoader(dataset, batch_size=3, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(seed))


def test_same_batches_in_the_same_order_as_the_loader_every_epoch():
    torch.manual_seed(0)
    loader = _loader(_Squares())
    expected = [[list(map(torch.Tensor.tolist, batch)) for batch in loader] for _ in range(2)]
    torch.manual_seed(0)
    prefetched = PrefetchLoader(_loader(_Squares()))
    got = [[list(map(torch.Tensor.tolist, batch)) for batch in prefetched] for _ in range(2)]
    assert got == expected
    assert len(got[0]) == len(prefetched) == 4


def test_worker_error_reaches_the_caller():
    with pytest.raises(ValueError, match='cannot load sample 7'):
        for _ in PrefetchLoader(_loader(_Squares(bad_index=7))):
            pass


def test_forwards_loader_attributes():
    loader = _loader(_Squares())
    prefetched = PrefetchLoader(loader)
    assert prefetched.sampler is loader.sampler and prefetched.dataset is loader.dataset


def test_refuses_loader_without_workers():
    with pytest.raises(ValueError, match='num_workers > 0'):
        PrefetchLoader(DataLoader(_Squares(), batch_size=2))


def test_pin_images_passes_every_batch_through_pin_batch_images(monkeypatch):
    seen = []
    monkeypatch.setattr(prefetch_loader, 'pin_batch_images', lambda batch: seen.append(batch) or batch)
    batches = list(PrefetchLoader(_loader(_Squares()), pin_images=True))
    assert len(seen) == len(batches) == 4 and all(got is batch for got, batch in zip(batches, seen))
    list(PrefetchLoader(_loader(_Squares())))
    assert len(seen) == 4  # off by default
