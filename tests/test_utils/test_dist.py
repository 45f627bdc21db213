"""``wrap_model``: the one wrapper of train and test, for one device or DDP."""
import warnings

import pytest
import torch
import torch.distributed as dist
from mmcv.parallel import MMDataParallel

from mmdet_lite.compat.ddp import MMDistributedDataParallel, buffer_sync_kwargs
from mmdet_lite.utils.dist import wrap_model


def test_single_process_wraps_for_the_cpu():
    model = wrap_model(torch.nn.Linear(2, 1), distributed=False)
    assert type(model) is MMDataParallel and model.device_ids == []


@pytest.fixture
def one_rank_group(tmp_path):
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_distributed_wraps_in_ddp_without_buffer_sync_or_deprecated_arguments(one_rank_group):
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # torch warns about the deprecated broadcast_buffers
        model = wrap_model(torch.nn.BatchNorm1d(2), distributed=True)
    assert type(model) is MMDistributedDataParallel
    (switch, ) = buffer_sync_kwargs(False)  # forward_sync_buffers from torch 2.13 on, broadcast_buffers before
    assert getattr(model, switch) is False and model.device_ids is None
