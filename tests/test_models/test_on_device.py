"""The training step on a GPU: the heads' targets and losses equal the CPU's, and no host wait in the
work that needs none (assignment, sampling, targets, losses, the data preprocessor); the AMP step,
the log buffer and PreemptionHook's agreement over NCCL.

Skipped without CUDA. ``MMDET_LITE_TEST_DEVICE=cpu`` runs the comparisons CPU against CPU, to check
the tests themselves where no GPU is.
"""
import copy
import os
import signal
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist

from mmdet_lite.compat.runner_base import LogBuffer
from mmdet_lite.core.fp16 import enable_autocast
from mmdet_lite.core.hook import PreemptionHook
from mmdet_lite.models.detectors.data_preprocessor import DetDataPreprocessor

from tests.conftest import load_tool

from .tiny_faster_rcnn import build_tiny

DEVICE = os.environ.get('MMDET_LITE_TEST_DEVICE', 'cuda')
pytestmark = pytest.mark.skipif(DEVICE == 'cuda' and not torch.cuda.is_available(), reason='needs CUDA')
MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def _model(device):
    """The tiny Faster R-CNN with every candidate sampled, so that no random draw differs between
    devices."""
    model = build_tiny(base_channels=8)
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


def _to(value, device):
    """``value`` with every tensor in it (lists too) on ``device``."""
    if isinstance(value, (list, tuple)):
        return type(value)(_to(item, device) for item in value)
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _assert_same_losses(losses, cpu_losses):
    """Loss dicts equal to float tolerance (a list per level entry by entry); ``acc`` (percent) may
    differ by an argmax that float rounding flips, one RoI in about a hundred."""
    assert losses.keys() == cpu_losses.keys()
    for name, value in losses.items():
        got = torch.stack(value) if isinstance(value, list) else value
        want = torch.stack(cpu_losses[name]) if isinstance(cpu_losses[name], list) else cpu_losses[name]
        tolerance = dict(rtol=0, atol=2.0) if name == 'acc' else dict(rtol=1e-3, atol=1e-6)
        torch.testing.assert_close(got.detach().cpu(), want.detach(), **tolerance, msg=name)


def test_rpn_targets_and_loss_equal_the_cpus():
    """Same head outputs on both: anchors, flags, assignment, sampling (all candidates), targets."""
    model, data = _model('cpu'), _batch('cpu')
    generator = torch.Generator().manual_seed(1)
    sizes = [(32, 40), (16, 20), (8, 10), (4, 5), (2, 3)]
    cls_scores = [torch.randn(2, 3, h, w, generator=generator) for h, w in sizes]
    bbox_preds = [torch.randn(2, 12, h, w, generator=generator) * 0.1 for h, w in sizes]
    cpu_losses = model.rpn_head.loss(cls_scores, bbox_preds, data['gt_bboxes'], data['img_metas'])
    losses = copy.deepcopy(model.rpn_head).to(DEVICE).loss(
        _to(cls_scores, DEVICE), _to(bbox_preds, DEVICE), _to(data['gt_bboxes'], DEVICE), data['img_metas'])
    _assert_same_losses(losses, cpu_losses)


def test_roi_head_sampling_pooling_and_loss_equal_the_cpus():
    """Same features and proposals on both: assignment, sampling (all candidates), RoIAlign (the
    CPU's sparse one against torchvision's on the GPU), targets and loss."""
    model, data = _model('cpu'), _batch('cpu')
    generator = torch.Generator().manual_seed(2)
    x = tuple(torch.randn(2, 32, 128 // stride, 160 // stride, generator=generator) for stride in (4, 8, 16, 32, 64))
    proposals = []
    for _ in range(2):
        xy = torch.rand(50, 2, generator=generator) * 100
        wh = torch.rand(50, 2, generator=generator) * 60 + 4
        proposals.append(torch.cat([xy, xy + wh, torch.rand(50, 1, generator=generator)], dim=1))
    cpu_losses = model.roi_head.forward_train(x, data['img_metas'], proposals, data['gt_bboxes'], data['gt_labels'])
    losses = copy.deepcopy(model.roi_head).to(DEVICE).forward_train(
        _to(x, DEVICE), data['img_metas'], _to(proposals, DEVICE), _to(data['gt_bboxes'], DEVICE),
        _to(data['gt_labels'], DEVICE))
    _assert_same_losses(losses, cpu_losses)


def test_training_step_gives_finite_losses_and_gradients():
    model = _model(DEVICE)
    outputs = model.train_step(_batch(DEVICE), None)
    outputs['loss'].backward()
    assert all(torch.isfinite(value) for value in outputs['log_vars'].values()), outputs['log_vars']
    assert all(torch.isfinite(param.grad).all() for param in model.parameters() if param.grad is not None)


def _host_waits(step) -> list:
    """The lines where ``step()`` made the host wait for the GPU (profile_train_step's count under
    torch's CUDA sync-debug mode); none are looked for on the CPU."""
    if DEVICE != 'cuda':
        step()
        return []
    return list(load_tool('analysis_tools/profile_train_step.py').cuda_sync_lines(step))


def test_targets_losses_and_preprocessing_make_no_host_wait():
    model = _model(DEVICE)
    data = _batch(DEVICE)
    preprocessor = DetDataPreprocessor(MEAN, STD, to_rgb=True).to(DEVICE)
    rpn_outs = model.rpn_head(model.extract_feat(data['img']))

    def step():
        preprocessor(data['img'].to(torch.uint8), data['img_metas'])
        rpn_losses = model.rpn_head.loss(*rpn_outs, data['gt_bboxes'], data['img_metas'])
        sum(sum(value) for value in rpn_losses.values()).backward()
    assert _host_waits(step) == []


# where the step reads sizes that decide what comes next (NMS and its inputs, the sampled RoIs, the
# RoIs per FPN level, whether a ground truth is degenerate)
READS_SIZES = ('rpn_head.py', 'bbox_nms.py', 'torchvision/ops/boxes.py', 'standard_roi_head.py',
               'single_level_roi_extractor.py')


def test_the_training_step_waits_for_the_gpu_only_where_it_reads_sizes():
    model = _model(DEVICE)
    data = _batch(DEVICE)
    model.train_step(data, None)  # warm-up: the anchor cache, cuDNN's choices
    waits = _host_waits(lambda: model.train_step(data, None)['loss'].backward())
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
