"""mmcv's scatter (how MMDataParallel / MMDistributedDataParallel move batches to the GPU) on current torch."""
import mmcv.parallel._functions as mmcv_functions
import pytest
import torch
import torch.nn.parallel._functions as torch_functions
from mmcv.parallel import DataContainer, scatter_kwargs

from mmdet_lite.compat import scatter as compat_scatter


def test_torchs_stream_helper_rejects_the_int_device_mmcv_passes():
    # the upstream breakage this workaround exists for
    with pytest.raises(AttributeError, match="'int' object has no attribute 'type'"):
        torch_functions._get_stream(0)


def test_mmcv_scatter_to_a_gpu_copies_on_one_stream_per_gpu_index(monkeypatch):
    created, copies = [], []

    class FakeStream:
        def __init__(self, device):
            created.append(device)

    def fake_scatter(input, devices, streams):
        copies.append((devices, streams))
        return [input for _ in devices]

    monkeypatch.setattr(torch.cuda, 'Stream', FakeStream)
    monkeypatch.setattr(compat_scatter, '_copy_streams', {})
    monkeypatch.setattr(mmcv_functions, 'scatter', fake_scatter)
    monkeypatch.setattr(mmcv_functions, 'synchronize_stream', lambda *args: None)
    img = torch.zeros(2)
    for _ in range(2):  # a second batch reuses the streams
        assert mmcv_functions.Scatter.forward([0, 1], img) == (img, img)
    assert created == [0, 1]
    (first_devices, first_streams), (_, second_streams) = copies
    assert first_devices == [0, 1] and all(isinstance(s, FakeStream) for s in first_streams)
    assert first_streams == second_streams and first_streams[0] is not first_streams[1]


def test_cpu_scatter_unwraps_data_containers_without_a_stream():
    img = torch.arange(6.).view(1, 1, 2, 3)
    _, kwargs = scatter_kwargs((), dict(img=DataContainer([img], stack=True)), target_gpus=[-1])
    assert torch.equal(kwargs[0]['img'], img)
    assert mmcv_functions._get_stream(-1) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_gpu_scatter_copies_batch_to_the_gpu():
    img = torch.arange(6.).view(1, 1, 2, 3)
    metas = DataContainer([[dict(flip=False)]], cpu_only=True)
    _, kwargs = scatter_kwargs((), dict(img=DataContainer([img], stack=True), img_metas=metas), target_gpus=[0])
    assert kwargs[0]['img'].device == torch.device('cuda', 0)
    assert torch.equal(kwargs[0]['img'].cpu(), img)
    assert kwargs[0]['img_metas'] == [dict(flip=False)]
