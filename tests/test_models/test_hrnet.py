"""HRNet: 2.28's state-dict names/shapes for a narrow 4-stage net, output strides, and the fuse of constant
maps computed by hand."""
import pytest
import torch

from mmdet_lite.models import build_backbone
from mmdet_lite.models.backbones.hrnet import HRModule
from mmdet_lite.models.backbones.resnet import BasicBlock

from .state_dict_rules import assert_entries, bn_entries, conv_entry

TINY_EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1, ), num_channels=(2, )),
    stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1), num_channels=(2, 4)),
    stage3=dict(num_modules=2, num_branches=3, block='BASIC', num_blocks=(1, 1, 1), num_channels=(2, 4, 8)),
    stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1), num_channels=(2, 4, 8, 16)))


def conv_bn(prefix, out_channels, in_channels, kernel):
    return conv_entry(f'{prefix}.0', out_channels, in_channels, kernel) + bn_entries(f'{prefix}.1', out_channels)


def hr_module_entries(prefix, channels):
    """Branch i: one BasicBlock (conv1/bn1, conv2/bn2) of C_i; fuse_layers.i.j: j > i a 1x1 conv_bn C_j -> C_i,
    j < i the steps k < i - j - 1 (3x3 C_j -> C_j) then the last (3x3 C_j -> C_i), each a conv_bn."""
    entries = []
    for i, c in enumerate(channels):
        block = f'{prefix}.branches.{i}.0'
        entries += conv_entry(f'{block}.conv1', c, c, 3) + bn_entries(f'{block}.bn1', c)
        entries += conv_entry(f'{block}.conv2', c, c, 3) + bn_entries(f'{block}.bn2', c)
    for i, c_i in enumerate(channels):
        for j, c_j in enumerate(channels):
            if j > i:
                entries += conv_bn(f'{prefix}.fuse_layers.{i}.{j}', c_i, c_j, 1)
            for k in range(i - j):
                entries += conv_bn(f'{prefix}.fuse_layers.{i}.{j}.{k}', c_i if k == i - j - 1 else c_j, c_j, 3)
    return entries


def hrnet_entries():
    entries = conv_entry('conv1', 64, 3, 3) + bn_entries('bn1', 64)
    entries += conv_entry('conv2', 64, 64, 3) + bn_entries('bn2', 64)
    entries += conv_entry('layer1.0.conv1', 2, 64, 1) + bn_entries('layer1.0.bn1', 2)
    entries += conv_entry('layer1.0.conv2', 2, 2, 3) + bn_entries('layer1.0.bn2', 2)
    entries += conv_entry('layer1.0.conv3', 8, 2, 1) + bn_entries('layer1.0.bn3', 8)
    entries += conv_bn('layer1.0.downsample', 8, 64, 1)
    # transition1: branch 0 changes 8 -> 2 (3x3, stride 1); branch 1 is new: one 3x3 stride-2 step 8 -> 4.
    entries += conv_bn('transition1.0', 2, 8, 3) + conv_bn('transition1.1.0', 4, 8, 3)
    entries += hr_module_entries('stage2.0', (2, 4))
    entries += conv_bn('transition2.2.0', 8, 4, 3)
    entries += hr_module_entries('stage3.0', (2, 4, 8)) + hr_module_entries('stage3.1', (2, 4, 8))
    entries += conv_bn('transition3.3.0', 16, 8, 3)
    entries += hr_module_entries('stage4.0', (2, 4, 8, 16))
    return entries


def test_tiny_hrnet_state_dict_follows_2_28_rule():
    assert_entries(build_backbone(dict(type='HRNet', extra=TINY_EXTRA)), hrnet_entries())


def test_outputs_are_four_branches_at_strides_4_to_32():
    model = build_backbone(dict(type='HRNet', extra=TINY_EXTRA)).eval()
    outs = model(torch.randn(1, 3, 32, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 2, 8, 16), (1, 4, 4, 8), (1, 8, 2, 4), (1, 16, 1, 2)]


def test_multiscale_output_false_keeps_only_the_highest_resolution():
    model = build_backbone(dict(type='HRNet', extra=TINY_EXTRA, multiscale_output=False)).eval()
    assert [tuple(o.shape) for o in model(torch.randn(1, 3, 32, 32))] == [(1, 2, 8, 8)]
    assert len(model.stage4[0].fuse_layers) == 1


def test_fuse_of_constant_maps():
    """Identity branches (bn2 weight 0), identity norms; f_01 = 1x1 conv of 0.5s then x2 upsample, f_10 = 3x3
    stride-2 conv of 0.25s with zero padding. x0 = 1 (2 ch, 4x4), x1 = 2 (4 ch, 2x2):
    y0 = 1 + 0.5 * 4 * 2 = 5; y1 = 2 + 0.25 * 2 * (valid taps: 4 at the corner, 6 on an edge, 9 inside)."""
    module = HRModule(2, BasicBlock, (1, 1), [2, 4], (2, 4))
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.fill_(1 - m.eps)
        for branch in module.branches:
            branch[0].bn2.weight.zero_()
        module.fuse_layers[0][1][0].weight.fill_(0.5)
        module.fuse_layers[1][0][0][0].weight.fill_(0.25)
    module.eval()
    y0, y1 = module([torch.full((1, 2, 4, 4), 1.0), torch.full((1, 4, 2, 2), 2.0)])
    torch.testing.assert_close(y0, torch.full((1, 2, 4, 4), 5.0))
    torch.testing.assert_close(y1, torch.tensor([[4.0, 5.0], [5.0, 6.5]]).expand(1, 4, 2, 2))


@pytest.mark.parametrize('change, match', [(dict(stage4=None), 'stage4'), (dict(stage2=dict(
    TINY_EXTRA['stage2'], num_channels=(2, )), ), 'num_branches'), (dict(stage3=dict(TINY_EXTRA['stage3'],
                                                                                      block='BASIK')), 'BASIK')])
def test_bad_extra_is_named(change, match):
    extra = {key: value for key, value in dict(TINY_EXTRA, **change).items() if value is not None}
    with pytest.raises(ValueError, match=match):
        build_backbone(dict(type='HRNet', extra=extra))


def test_pretrained_with_prefix_loads_a_whole_models_checkpoint(tmp_path):
    """A local checkpoint whose backbone keys carry ``backbone.`` loads through ``init_cfg.prefix``."""
    torch.manual_seed(0)
    source = build_backbone(dict(type='HRNet', extra=TINY_EXTRA))
    state = {f'backbone.{key}': value for key, value in source.state_dict().items()}
    state['neck.conv.weight'] = torch.zeros(1)
    path = tmp_path / 'classifier.pth'
    torch.save(dict(state_dict=state), path)
    target = build_backbone(dict(type='HRNet', extra=TINY_EXTRA,
                                 init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=str(path))))
    target.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
