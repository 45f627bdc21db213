"""AMP building blocks: autocast regions (auto_fp16 / force_fp32), AmpOptimizerHook's loss scaler
(saved to runner.meta, restored in before_run) and the hook built from ``cfg.fp16``."""
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmcv import Config
from mmcv.runner import LogBuffer

from mmdet_lite.apis.train import _optimizer_hook_config
from mmdet_lite.core.fp16 import AmpOptimizerHook, auto_fp16, autocast_dtype, enable_autocast, force_fp32


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fp16_enabled = False
        self.fc = nn.Linear(4, 4)

    @auto_fp16
    def forward(self, x):
        return self.fc(x), self.head_loss(self.fc(x))

    @force_fp32
    def head_loss(self, y):
        return y @ y.t(), torch.is_autocast_enabled('cpu')


def test_auto_fp16_is_off_until_enabled():
    net = _Net()
    out, _ = net(torch.randn(2, 4))
    assert out.dtype == torch.float32
    enable_autocast(net)
    out, _ = net(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16


def test_force_fp32_turns_autocast_off_and_casts_inputs():
    net = _Net()
    enable_autocast(net)
    out, (product, autocast_inside) = net(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16  # autocast is on around the force_fp32 region
    assert product.dtype == torch.float32  # a matmul that autocast would run in bfloat16
    assert autocast_inside is False


def test_autocast_dtype_defaults_and_errors():
    assert autocast_dtype('cuda') == torch.float16
    assert autocast_dtype('cpu') == torch.bfloat16
    assert autocast_dtype('cuda', 'bfloat16') == torch.bfloat16
    with pytest.raises(ValueError, match="got 'float64'"):
        autocast_dtype('cpu', 'float64')


def _runner(meta=None):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    return SimpleNamespace(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                           meta={} if meta is None else meta, logger=logging.getLogger('test_fp16'),
                           log_buffer=LogBuffer(), outputs=None)


def _step(hook, runner, scale=1.0):
    loss = runner.model(torch.ones(2, 3)).sum() * scale
    runner.outputs = dict(loss=loss, num_samples=2)
    hook.after_train_iter(runner)


def test_scaler_state_goes_to_meta_and_is_restored_in_before_run():
    runner = _runner()
    hook = AmpOptimizerHook(loss_scale=dict(init_scale=64., growth_interval=3), dtype='float16')
    hook.before_run(runner)
    for _ in range(4):
        _step(hook, runner)
    assert 'loss_scaler' not in runner.meta.get('fp16', {})  # written for checkpoints only
    hook.before_save_checkpoint(runner)
    saved = runner.meta['fp16']['loss_scaler']
    assert saved['scale'] == 128.0 and saved['_growth_tracker'] == 1  # grew once after 3 clean steps

    resumed_runner = _runner(meta={'fp16': {'loss_scaler': dict(saved)}})
    resumed = AmpOptimizerHook(loss_scale=dict(init_scale=64., growth_interval=3), dtype='float16')
    resumed.before_run(resumed_runner)
    assert resumed.loss_scaler.state_dict() == saved
    assert AmpOptimizerHook(loss_scale='dynamic', dtype='float16').loss_scaler is None  # built in before_run


def test_static_loss_scale_skips_a_non_finite_step_and_keeps_its_scale():
    runner = _runner()
    hook = AmpOptimizerHook(loss_scale=512., dtype='float16')
    hook.before_run(runner)
    weight = runner.model.weight.detach().clone()
    _step(hook, runner, scale=float('inf'))
    assert torch.equal(runner.model.weight, weight)
    hook.before_save_checkpoint(runner)
    assert runner.meta['fp16']['loss_scaler']['scale'] == 512.0
    _step(hook, runner)
    assert not torch.equal(runner.model.weight, weight)


def test_bfloat16_on_cpu_has_no_scaler_and_clips_gradients():
    runner = _runner()
    hook = AmpOptimizerHook(grad_clip=dict(max_norm=1e-3), loss_scale='dynamic')
    hook.before_run(runner)
    assert hook.loss_scaler is None
    _step(hook, runner)
    assert 'fp16' not in runner.meta
    assert runner.log_buffer.val_history['grad_norm'][0] > 1e-3


def test_optimizer_hook_config_builds_amp_hook_from_fp16_section():
    cfg = Config(dict(fp16=dict(loss_scale=256.), optimizer_config=dict(type='OptimizerHook',
                                                                       grad_clip=dict(max_norm=35))))
    hook = _optimizer_hook_config(cfg, distributed=True)
    assert isinstance(hook, AmpOptimizerHook)
    assert (hook.loss_scale, hook.grad_clip, hook.distributed) == (256., dict(max_norm=35), True)
    with pytest.raises(ValueError, match="loss_scale must be a number, 'dynamic'"):
        AmpOptimizerHook(loss_scale='static')
