"""ResNeXt: 2.28's state-dict names/shapes (grouped conv2 of width floor(planes * base_width / 64) * groups),
and groups=1 reduces to ResNet."""
import math

import torch

from mmdet_lite.models import build_backbone
from mmdet_lite.models.backbones import ResNet, ResNeXt

from .state_dict_rules import assert_entries, bn_entries, conv_entry


def resnext_entries(stage_blocks, base_channels, groups, base_width):
    """2.28's rule: stem conv1/bn1; per block conv1 (1x1 to width), conv2 (3x3, ``groups`` groups), conv3
    (1x1 to planes*4), bn1..bn3; the first block of a stage has downsample.0 (1x1 conv) and downsample.1 (bn)."""
    entries = conv_entry('conv1', base_channels, 3, 7) + bn_entries('bn1', base_channels)
    in_channels = base_channels
    for stage, num_blocks in enumerate(stage_blocks):
        planes = base_channels * 2**stage
        width = planes if groups == 1 else math.floor(planes * base_width / base_channels) * groups
        for block in range(num_blocks):
            prefix = f'layer{stage + 1}.{block}'
            block_in = in_channels if block == 0 else planes * 4
            entries += conv_entry(f'{prefix}.conv1', width, block_in, 1) + bn_entries(f'{prefix}.bn1', width)
            entries += conv_entry(f'{prefix}.conv2', width, width // groups, 3) + bn_entries(f'{prefix}.bn2', width)
            entries += conv_entry(f'{prefix}.conv3', planes * 4, width, 1) + bn_entries(f'{prefix}.bn3', planes * 4)
            if block == 0:
                entries += conv_entry(f'{prefix}.downsample.0', planes * 4, in_channels, 1)
                entries += bn_entries(f'{prefix}.downsample.1', planes * 4)
        in_channels = planes * 4
    return entries


def test_small_resnext50_state_dict_follows_the_grouped_width_rule():
    model = build_backbone(dict(type='ResNeXt', depth=50, groups=4, base_width=4, base_channels=8))
    # width of stage i: floor(8 * 2**i * 4 / 8) * 4 = 16 * 2**i
    assert model.layer1[0].conv2.weight.shape == (16, 4, 3, 3) and model.layer1[0].conv2.groups == 4
    assert_entries(model, resnext_entries((3, 4, 6, 3), 8, 4, 4))


def test_resnext101_32x4d_stem_and_layer1_at_full_size():
    # layer1 only (num_stages=1) keeps the build cheap; the widths are those of the full 32x4d net.
    model = build_backbone(dict(type='ResNeXt', depth=101, groups=32, base_width=4, num_stages=1, strides=(1, ),
                                dilations=(1, ), out_indices=(0, )))
    assert model.state_dict()['layer1.0.conv2.weight'].shape == (128, 4, 3, 3)
    assert_entries(model, resnext_entries((3, ), 64, 32, 4))


def test_groups_1_equals_resnet_with_the_same_weights():
    torch.manual_seed(0)
    resnet = ResNet(depth=50, base_channels=8, num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(0, 1))
    resnext = ResNeXt(depth=50, groups=1, base_width=4, base_channels=8, num_stages=2, strides=(1, 2),
                      dilations=(1, 1), out_indices=(0, 1))
    resnet.init_weights()
    for module in resnet.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
    resnext.load_state_dict(resnet.state_dict(), strict=True)
    resnet.eval(), resnext.eval()
    x = torch.randn(2, 3, 32, 32)
    for expected, actual in zip(resnet(x), resnext(x)):
        torch.testing.assert_close(actual, expected)


def test_resnext_outputs_resnet_shapes_at_strides_4_to_32():
    model = build_backbone(dict(type='ResNeXt', depth=50, groups=2, base_width=8, base_channels=8))
    outs = model.eval()(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 8, 8), (1, 64, 4, 4), (1, 128, 2, 2), (1, 256, 1, 1)]


def test_resnext_dcn_and_plugins_use_the_grouped_width():
    from mmdet_lite.ops import DeformConv2dPack
    model = ResNeXt(depth=50, groups=32, base_width=4, num_stages=1, out_indices=(0, ), strides=(1, ),
                    dilations=(1, ), stage_with_dcn=(True, ), dcn=dict(type='DCN', deform_groups=1),
                    plugins=[dict(cfg=dict(type='ContextBlock', ratio=1. / 16), stages=(True, ),
                                  position='after_conv2')], init_cfg=None)
    block = model.layer1[0]
    assert isinstance(block.conv2, DeformConv2dPack) and block.conv2.groups == 32
    assert tuple(block.conv2.weight.shape) == (128, 4, 3, 3)
    assert tuple(block.conv2.conv_offset.weight.shape) == (18, 128, 3, 3)
    assert block.after_conv2_plugin_names == ['context_block'] and block.context_block.in_channels == 128
    assert model(torch.randn(1, 3, 32, 32))[0].shape == (1, 256, 8, 8)
