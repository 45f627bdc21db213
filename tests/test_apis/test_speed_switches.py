"""Throughput switches of train_detector: ``compile`` (backbone and neck), fused / foreach SGD through
mmcv's ``build_optimizer`` with ``AmpOptimizerHook`` and gradient clipping."""
import copy
import logging
from types import SimpleNamespace

import pytest
import torch
from mmcv.runner import build_optimizer

from mmdet_lite.apis.train import compile_backbone_and_neck, compile_settings
from mmdet_lite.core.fp16 import AmpOptimizerHook
from tests.test_models.tiny_faster_rcnn import build_tiny


@pytest.fixture(scope='module')
def tiny_model():
    return build_tiny(base_channels=8, channels_last=False)


def _features_and_grads(model, imgs):
    model.zero_grad()
    feats = model.neck(model.backbone(imgs))
    sum((feat * torch.linspace(-1, 1, feat.numel()).view_as(feat)).sum() for feat in feats).backward()
    return [feat.detach() for feat in feats], {name: p.grad.clone() for name, p in model.named_parameters()
                                               if p.grad is not None}


def test_compiled_backbone_and_neck_give_the_same_features_gradients_and_keys(tiny_model):
    eager = copy.deepcopy(tiny_model).train()
    compiled = copy.deepcopy(tiny_model).train()
    # aot_eager traces forward and backward as inductor does, without a C++ build
    assert compile_backbone_and_neck(compiled, dict(backend='aot_eager')) == ['backbone', 'neck']
    assert list(compiled.state_dict()) == list(eager.state_dict())
    assert compiled.backbone._compiled_call_impl is not None and eager.backbone._compiled_call_impl is None
    imgs = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    for _ in range(2):  # the second step runs the cached graph, after BatchNorm updated its statistics
        eager_feats, eager_grads = _features_and_grads(eager, imgs)
        compiled_feats, compiled_grads = _features_and_grads(compiled, imgs)
        for expected, got in zip(eager_feats, compiled_feats):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
        assert compiled_grads.keys() == eager_grads.keys() and len(eager_grads) > 40
        for name, grad in eager_grads.items():
            torch.testing.assert_close(compiled_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    torch.testing.assert_close(compiled.backbone.bn1.running_mean, eager.backbone.bn1.running_mean)


def test_compile_settings_off_true_and_partial():
    assert compile_settings(None) is None and compile_settings(False) is None
    assert compile_settings(True) == dict(backbone=True, neck=True, backend='inductor', mode=None, dynamic=None,
                                          fullgraph=False)
    assert compile_settings(dict(neck=False, mode='max-autotune'))['neck'] is False


def test_compile_of_the_neck_only_leaves_the_backbone_eager(tiny_model):
    model = copy.deepcopy(tiny_model)
    assert compile_backbone_and_neck(model, dict(backbone=False, backend='eager')) == ['neck']
    assert model.backbone._compiled_call_impl is None and model.neck._compiled_call_impl is not None


@pytest.mark.parametrize('bad, message', [(dict(backbone=True, neks=True), "unknown key(s) ['neks']"),
                                          ('yes', "got 'yes'")])
def test_bad_compile_setting_is_refused_naming_it(bad, message):
    with pytest.raises((ValueError, TypeError)) as error:
        compile_settings(bad)
    assert message in str(error.value)


def _hook_steps(model, optimizer_cfg, hook, batch, num_steps=2):
    """``num_steps`` steps of ``model`` as the runner drives them: train_step, then the hook's
    after_train_iter (backward, clipping, optimizer step)."""
    optimizer = build_optimizer(model, optimizer_cfg)
    runner = SimpleNamespace(model=model, optimizer=optimizer, meta={}, logger=logging.getLogger('test'),
                             log_buffer=SimpleNamespace(update=lambda *_args: None))
    hook.before_run(runner)
    for _ in range(num_steps):
        runner.outputs = model.train_step(batch, optimizer)
        hook.after_train_iter(runner)
    return optimizer


def _tiny_batch():
    from tests.test_models.tiny_faster_rcnn import img_metas
    gen = torch.Generator().manual_seed(1)
    return dict(img=torch.randn(2, 3, 64, 96, generator=gen), img_metas=img_metas(2, 64, 96),
                gt_bboxes=[torch.tensor([[4., 6., 40., 50.]]), torch.tensor([[30., 10., 90., 60.]])],
                gt_labels=[torch.tensor([0]), torch.tensor([2])])


def test_fused_and_foreach_sgd_step_like_plain_sgd_under_amp_with_clipping(tiny_model):
    """float16 autocast on the CPU, so that the GradScaler path runs: unscale, clip, then a step that
    the scaler skips on inf/NaN (a fused SGD step takes the scale and the inf flag itself)."""
    optimizer_cfg = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4)
    params = {}
    for switch in ('plain', 'foreach', 'fused'):
        model = copy.deepcopy(tiny_model)
        torch.manual_seed(0)  # the same RPN / RoI samples in every run
        hook = AmpOptimizerHook(grad_clip=dict(max_norm=1.0), loss_scale=512., dtype='float16')
        extra = dict(foreach=False) if switch == 'plain' else {switch: True}
        optimizer = _hook_steps(model, {**optimizer_cfg, **extra}, hook, _tiny_batch())
        assert optimizer.defaults['foreach' if switch == 'plain' else switch] is (switch != 'plain')
        params[switch] = dict(model.named_parameters())
    moved = 0
    for name, value in params['plain'].items():
        for switch in ('foreach', 'fused'):
            torch.testing.assert_close(params[switch][name], value, rtol=1e-6, atol=1e-8, msg=f'{switch} {name}')
        moved += not torch.equal(value, tiny_model.state_dict()[name])
    assert moved > 40  # the steps did change the weights
