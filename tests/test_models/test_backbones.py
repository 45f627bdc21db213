"""ResNet backbone: shapes, freezing, norm_eval, styles, and pretrained loading from the hub cache."""
import os

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_lite.models import build_backbone
from mmdet_lite.models.backbones.resnet import ResNet, resolve_pretrained_file


def test_resnet50_outputs_four_stages_at_strides_4_to_32():
    model = build_backbone(dict(type='ResNet', depth=50, init_cfg=None))
    model.init_weights()
    outs = model(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 16, 24), (1, 512, 8, 12), (1, 1024, 4, 6), (1, 2048, 2, 3)]


def test_resnet18_out_indices_select_stages():
    model = build_backbone(dict(type='ResNet', depth=18, out_indices=(1, 3)))
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 128, 8, 8), (1, 512, 2, 2)]


def test_frozen_stages_and_norm_eval_survive_train_call():
    model = build_backbone(dict(type='ResNet', depth=18, frozen_stages=1, norm_eval=True))
    model.train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    mean_before = model.layer3[0].bn1.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert torch.equal(model.layer3[0].bn1.running_mean, mean_before)


def test_norm_eval_false_keeps_unfrozen_bn_training():
    model = build_backbone(dict(type='ResNet', depth=18, frozen_stages=1, norm_eval=False))
    model.train()
    assert model.layer2[0].bn1.training and not model.bn1.training


def test_caffe_style_puts_stride_on_first_1x1_conv():
    pytorch = build_backbone(dict(type='ResNet', depth=50, style='pytorch'))
    caffe = build_backbone(dict(type='ResNet', depth=50, style='caffe'))
    assert (pytorch.layer2[0].conv1.stride, pytorch.layer2[0].conv2.stride) == ((1, 1), (2, 2))
    assert (caffe.layer2[0].conv1.stride, caffe.layer2[0].conv2.stride) == ((2, 2), (1, 1))


def test_resnetv1d_has_deep_stem_and_avgpool_shortcut():
    model = build_backbone(dict(type='ResNetV1d', depth=50))
    assert [k for k in model.state_dict() if k.startswith('stem.')][:2] == ['stem.0.weight', 'stem.1.weight']
    assert isinstance(model.layer2[0].downsample[0], torch.nn.AvgPool2d)
    outs = model(torch.randn(1, 3, 64, 64))
    assert tuple(outs[-1].shape) == (1, 2048, 2, 2)


def test_syncbn_norm_cfg_keeps_bn_names():
    model = build_backbone(dict(type='ResNet', depth=18, norm_cfg=dict(type='SyncBN', requires_grad=True)))
    assert isinstance(model.bn1, torch.nn.SyncBatchNorm)
    assert 'layer1.0.bn2.running_var' in model.state_dict()


def test_zero_init_residual_zeroes_last_bn_of_each_block():
    model = build_backbone(dict(type='ResNet', depth=50))
    model.init_weights()
    assert torch.count_nonzero(model.layer1[0].bn3.weight) == 0
    assert torch.all(model.layer1[0].bn1.weight == 1)


def test_missing_pretrained_file_names_file_and_cfg_option(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    model = build_backbone(dict(type='ResNet', depth=50,
                                init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
    with pytest.raises(FileNotFoundError) as err:
        model.init_weights()
    message = str(err.value)
    assert os.path.join(str(tmp_path), 'hub', 'checkpoints', 'resnet50-0676ba61.pth') in message
    assert '--cfg-options model.backbone.init_cfg=None' in message


def test_open_mmlab_caffe_weights_resolve_to_hub_cache_name(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(FileNotFoundError, match='resnet50_msra-5891d200.pth'):
        resolve_pretrained_file('open-mmlab://detectron2/resnet50_caffe')


def test_pretrained_loads_cached_torchvision_file(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    torch.manual_seed(0)
    source = build_backbone(dict(type='ResNet', depth=18, init_cfg=None))
    source.init_weights()
    state = dict(source.state_dict())
    state['fc.weight'] = torch.zeros(1000, 512)  # torchvision files carry the classifier; it must be ignored
    cache = tmp_path / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    torch.save(state, cache / 'resnet18-f37072fd.pth')
    model = build_backbone(dict(type='ResNet', depth=18,
                                init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')))
    model.init_weights()
    for name, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = ResNet(depth=18, norm_eval=False)
    checkpointed = ResNet(depth=18, norm_eval=False, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    outs = [sum(o.sum() for o in model(x.clone().requires_grad_())) for model in
            (plain, checkpointed)]
    assert torch.allclose(outs[0], outs[1])
    for out in outs:
        out.backward()
    grad = dict(checkpointed.named_parameters())
    for name, param in plain.named_parameters():
        assert torch.allclose(param.grad, grad[name].grad, atol=1e-6), name
