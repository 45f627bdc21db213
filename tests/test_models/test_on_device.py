"""The training step on a GPU: the same losses and gradients as on the CPU, and no host wait in the
work that needs none (assignment, sampling, targets, losses, the data preprocessor); the AMP step,
the log buffer and PreemptionHook's agreement over NCCL.

Skipped without CUDA. ``MMDET_LITE_TEST_DEVICE=cpu`` runs the comparisons CPU against CPU, to check
the tests themselves where no GPU is.
"""
import contextlib
import copy
import os
import signal
import time
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist

from mmdet_lite.compat.runner_base import LogBuffer
from mmdet_lite.core.fp16 import enable_autocast
from mmdet_lite.core.hook import PreemptionHook
from mmdet_lite.models.detectors.data_preprocessor import DetDataPreprocessor

from .tiny_faster_rcnn import build_tiny, tiny_model_cfg

DEVICE = os.environ.get('MMDET_LITE_TEST_DEVICE', 'cuda')
pytestmark = pytest.mark.skipif(DEVICE == 'cuda' and not torch.cuda.is_available(), reason='needs CUDA')
MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def _model(device):
    """The tiny Faster R-CNN with every candidate sampled, so that no random draw differs between
    devices."""
    model = build_tiny(base_channels=8)
    cfg = tiny_model_cfg(base_channels=8)
    model.train_cfg = cfg.train_cfg
    model.rpn_head.sampler.num = model.roi_head.bbox_sampler.num = 10**6
    return model.to(device).train()


def _batch(device, num_imgs=2, seed=0):
    """uint8-valued float images of two sizes (padded to 128 x 160), 3 boxes per image but none in the last."""
    generator = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (num_imgs, 3, 128, 160), generator=generator).float()
    shapes = [(128, 160, 3), (96, 144, 3)] * num_imgs
    metas = [dict(img_shape=shapes[i], pad_shape=(128, 160, 3), ori_shape=shapes[i], scale_factor=np.ones(4),
                  flip=False, flip_direction=None) for i in range(num_imgs)]
    gt_bboxes, gt_labels = [], []
    for i in range(num_imgs):
        count = 0 if i == num_imgs - 1 else 3
        xy = torch.rand(count, 2, generator=generator) * 60
        wh = torch.rand(count, 2, generator=generator) * 50 + 16
        gt_bboxes.append(torch.cat([xy, xy + wh], dim=1).to(device))
        gt_labels.append(torch.randint(0, 3, (count, ), generator=generator).to(device))
    return dict(img=img.to(device), img_metas=metas, gt_bboxes=gt_bboxes, gt_labels=gt_labels)


def _step(model, data):
    outputs = model.train_step(data, None)
    outputs['loss'].backward()
    grads = {name: param.grad.detach().cpu() for name, param in model.named_parameters() if param.grad is not None}
    return {name: float(value) for name, value in outputs['log_vars'].items()}, grads


def test_training_step_gives_the_cpus_losses_and_gradients():
    cpu_model = _model('cpu')
    device_model = copy.deepcopy(cpu_model).to(DEVICE)
    cpu_losses, cpu_grads = _step(cpu_model, _batch('cpu'))
    losses, grads = _step(device_model, _batch(DEVICE))
    assert losses.keys() == cpu_losses.keys()
    for name, value in losses.items():
        assert value == pytest.approx(cpu_losses[name], rel=1e-3, abs=1e-5), name
    assert grads.keys() == cpu_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, cpu_grads[name], rtol=1e-2, atol=1e-4, msg=name)


@contextlib.contextmanager
def host_waits():
    """The lines inside the block that made the host wait for the GPU (torch's CUDA sync-debug
    mode); filled when the block ends."""
    waits = []
    if DEVICE != 'cuda':
        yield waits
        return
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            yield waits
        finally:
            torch.cuda.set_sync_debug_mode('default')
    waits.extend(f'{w.filename}:{w.lineno}' for w in caught if 'synchroniz' in str(w.message))


def test_targets_losses_and_preprocessing_make_no_host_wait():
    model = _model(DEVICE)
    data = _batch(DEVICE)
    preprocessor = DetDataPreprocessor(MEAN, STD, to_rgb=True).to(DEVICE)
    rpn_outs = model.rpn_head(model.extract_feat(data['img']))
    with host_waits() as waits:
        preprocessor(data['img'].to(torch.uint8), data['img_metas'])
        rpn_losses = model.rpn_head.loss(*rpn_outs, data['gt_bboxes'], data['img_metas'])
        sum(sum(value) for value in rpn_losses.values()).backward()
    assert waits == []


# where the step reads sizes that decide what comes next (NMS and its inputs, the sampled RoIs, the
# RoIs per FPN level, whether a ground truth is degenerate)
READS_SIZES = ('rpn_head.py', 'bbox_nms.py', 'torchvision/ops/boxes.py', 'standard_roi_head.py',
               'single_level_roi_extractor.py')


def test_the_training_step_waits_for_the_gpu_only_where_it_reads_sizes():
    model = _model(DEVICE)
    data = _batch(DEVICE)
    model.train_step(data, None)  # warm-up: the anchor cache, cuDNN's choices
    with host_waits() as waits:
        outputs = model.train_step(data, None)
        outputs['loss'].backward()
    print('\n'.join(waits))  # the list a GPU run reports (pytest -s)
    assert [wait for wait in waits if not any(name in wait for name in READS_SIZES)] == []


def test_amp_step_and_log_buffer_on_the_device():
    model = _model(DEVICE)
    enable_autocast(model, torch.float16 if DEVICE == 'cuda' else torch.bfloat16)
    outputs = model.train_step(_batch(DEVICE), None)
    outputs['loss'].backward()
    buffer = LogBuffer()
    buffer.update(outputs['log_vars'], 2)
    buffer.average()
    assert all(np.isfinite(value) for value in buffer.output.values()), buffer.output
    assert buffer.output.keys() == outputs['log_vars'].keys()


def test_preemption_agreement_over_the_devices_backend():
    """PreemptionHook's late-read all-reduce on NCCL (pinned copy behind an event) with a one-process
    group; the runner says 2 ranks so that the hook agrees through it."""
    if DEVICE == 'cuda':
        torch.cuda.set_device(0)
    dist.init_process_group('nccl' if DEVICE == 'cuda' else 'gloo', store=dist.HashStore(), rank=0, world_size=1)
    try:
        hook, runner = PreemptionHook(), SimpleNamespace(world_size=2)
        assert not hook._stop_requested(runner)
        hook.received = (signal.SIGTERM, time.monotonic())
        assert not hook._stop_requested(runner)  # the all-reduce sent before the signal
        assert hook._stop_requested(runner)
        assert hook._stop_requested(runner, wait=True) and hook._pending is None
    finally:
        dist.destroy_process_group()
