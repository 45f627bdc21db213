"""Res2Net: 2.28's state-dict names/shapes (deep stem, convs/bns lists, AvgPool shortcuts) and the
hierarchical split computed by hand with identity 3x3 kernels."""
import pytest
import torch

from mmdet_lite.models import build_backbone
from mmdet_lite.models.backbones.res2net import Bottle2neck

from .state_dict_rules import assert_entries, bn_entries, conv_entry

SMALL = dict(type='Res2Net', depth=50, scales=4, base_width=2, base_channels=8, num_stages=2, strides=(1, 2),
             dilations=(1, 1), out_indices=(0, 1))


def res2net_entries(stage_blocks, base_channels, scales, base_width):
    """2.28's rule: deep stem ``stem.{0,1,3,4,6,7}``; per block conv1/bn1 (width * scales), conv3/bn3, the first
    block's ``downsample.{1: conv, 2: bn}`` (0 is the AvgPool), then convs.k/bns.k (k < scales - 1) — the lists
    come last because the block registers them after ResNet's layers."""
    half = base_channels // 2
    entries = conv_entry('stem.0', half, 3, 3) + bn_entries('stem.1', half)
    entries += conv_entry('stem.3', half, half, 3) + bn_entries('stem.4', half)
    entries += conv_entry('stem.6', base_channels, half, 3) + bn_entries('stem.7', base_channels)
    in_channels = base_channels
    for stage, num_blocks in enumerate(stage_blocks):
        planes = base_channels * 2**stage
        width = planes * base_width // base_channels
        for block in range(num_blocks):
            prefix = f'layer{stage + 1}.{block}'
            block_in = in_channels if block == 0 else planes * 4
            entries += conv_entry(f'{prefix}.conv1', width * scales, block_in, 1)
            entries += bn_entries(f'{prefix}.bn1', width * scales)
            entries += conv_entry(f'{prefix}.conv3', planes * 4, width * scales, 1)
            entries += bn_entries(f'{prefix}.bn3', planes * 4)
            if block == 0:
                entries += conv_entry(f'{prefix}.downsample.1', planes * 4, in_channels, 1)
                entries += bn_entries(f'{prefix}.downsample.2', planes * 4)
            for k in range(scales - 1):
                entries += conv_entry(f'{prefix}.convs.{k}', width, width, 3)
            for k in range(scales - 1):
                entries += bn_entries(f'{prefix}.bns.{k}', width)
        in_channels = planes * 4
    return entries


def test_small_res2net_state_dict_follows_2_28_rule():
    assert_entries(build_backbone(SMALL), res2net_entries((3, 4), 8, 4, 2))


def test_res2net101_26w_4s_layer1_at_full_size():
    model = build_backbone(dict(type='Res2Net', depth=101, num_stages=1, strides=(1, ), dilations=(1, ),
                                out_indices=(0, )))
    assert model.state_dict()['layer1.0.conv1.weight'].shape == (104, 64, 1, 1)  # 26 * 4
    assert_entries(model, res2net_entries((3, ), 64, 4, 26))


def _identity_split_block(stage_type, stride):
    """A block whose 3x3 convs are identity kernels and whose part BNs are identities (eval mode)."""
    block = Bottle2neck(8, 2, scales=4, base_width=64, base_channels=64, stage_type=stage_type, stride=stride)
    with torch.no_grad():
        for conv, bn in zip(block.convs, block.bns):
            conv.weight.zero_()
            conv.weight[:, :, 1, 1] = torch.eye(2)
            bn.running_var.fill_(1 - bn.eps)
    return block.eval()


def test_normal_block_chains_the_parts():
    x = torch.rand(1, 8, 6, 6)
    x1, x2, x3, x4 = x.split(2, dim=1)
    out = _identity_split_block('normal', 1)._multi_scale(x)
    torch.testing.assert_close(out, torch.cat([x1, x1 + x2, x1 + x2 + x3, x4], dim=1))


def test_stage_block_keeps_parts_apart_and_pools_the_last_when_striding():
    x = torch.rand(1, 8, 6, 6)
    x1, x2, x3, _ = x.split(2, dim=1)
    x[:, 6:] = 9.0
    out = _identity_split_block('stage', 2)._multi_scale(x)
    sub = slice(None, None, 2)
    torch.testing.assert_close(out[:, :6], torch.cat([x1, x2, x3], dim=1)[:, :, sub, sub])
    # 3x3 AvgPool, stride 2, padding 1, zero padding counted: 4 of 9 taps inside at the corner.
    assert torch.allclose(out[:, 6:, 0, 0], torch.tensor(4.0)) and torch.allclose(out[:, 6:, 1, 1], torch.tensor(9.0))


def test_res2net_outputs_at_strides_4_and_8():
    outs = build_backbone(SMALL).eval()(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 8, 8), (1, 64, 4, 4)]


def test_scales_1_is_rejected_naming_it():
    with pytest.raises(ValueError, match='scales=1'):
        build_backbone(dict(SMALL, scales=1))
