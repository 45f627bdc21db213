"""mmcv's scatter (how MMDataParallel / MMDistributedDataParallel move batches to the GPU) on current torch."""
import mmcv.parallel._functions as mmcv_functions
import pytest
import torch
from mmcv.parallel import DataContainer, scatter_kwargs

from mmdet_lite.utils.scatter import get_copy_stream


def test_mmcv_scatter_uses_the_integer_device_copy_stream():
    assert mmcv_functions._get_stream is get_copy_stream
    assert get_copy_stream(-1) is None


def test_cpu_scatter_unwraps_data_containers():
    img = torch.arange(6.).view(1, 1, 2, 3)
    _, kwargs = scatter_kwargs((), dict(img=DataContainer([img], stack=True)), target_gpus=[-1])
    assert torch.equal(kwargs[0]['img'], img)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_gpu_scatter_copies_batch_to_the_gpu():
    img = torch.arange(6.).view(1, 1, 2, 3)
    metas = DataContainer([[dict(flip=False)]], cpu_only=True)
    _, kwargs = scatter_kwargs((), dict(img=DataContainer([img], stack=True), img_metas=metas), target_gpus=[0])
    assert kwargs[0]['img'].device == torch.device('cuda', 0)
    assert torch.equal(kwargs[0]['img'].cpu(), img)
    assert kwargs[0]['img_metas'] == [dict(flip=False)]
