"""ResNeSt: 2.28's state-dict names/shapes (split-attention conv2 with bn0/fc1/bn1/fc2, no bn2) and the
split-attention conv against a plain-loop reference (radix softmax; radix 1 is a sigmoid gate)."""
import math

import pytest
import torch

from mmdet_lite.models import build_backbone
from mmdet_lite.models.backbones.resnest import SplitAttentionConv2d

from .state_dict_rules import assert_entries, bn_entries, conv_entry

SMALL = dict(type='ResNeSt', depth=50, stem_channels=8, base_channels=8, num_stages=2, strides=(1, 2),
             dilations=(1, 1), out_indices=(0, 1), radix=2, reduction_factor=4)


def resnest_entries(stage_blocks, stem_channels, base_channels, radix, reduction_factor):
    """2.28's rule (groups=1): deep stem; per block conv1/bn1 (width = planes), conv2.conv (3x3 to width * radix,
    radix groups), conv2.bn0, conv2.fc1 (1x1 to max(width * radix // reduction_factor, 32), bias), conv2.bn1,
    conv2.fc2 (1x1 back to width * radix, bias), conv3/bn3; AvgPool shortcut ``downsample.{1: conv, 2: bn}``."""
    half = stem_channels // 2
    entries = conv_entry('stem.0', half, 3, 3) + bn_entries('stem.1', half)
    entries += conv_entry('stem.3', half, half, 3) + bn_entries('stem.4', half)
    entries += conv_entry('stem.6', stem_channels, half, 3) + bn_entries('stem.7', stem_channels)
    in_channels = stem_channels
    for stage, num_blocks in enumerate(stage_blocks):
        width = base_channels * 2**stage
        inter = max(width * radix // reduction_factor, 32)
        for block in range(num_blocks):
            prefix = f'layer{stage + 1}.{block}'
            block_in = in_channels if block == 0 else width * 4
            entries += conv_entry(f'{prefix}.conv1', width, block_in, 1) + bn_entries(f'{prefix}.bn1', width)
            entries += conv_entry(f'{prefix}.conv2.conv', width * radix, width // radix, 3)
            entries += bn_entries(f'{prefix}.conv2.bn0', width * radix)
            entries += conv_entry(f'{prefix}.conv2.fc1', inter, width, 1) + [(f'{prefix}.conv2.fc1.bias', (inter, ))]
            entries += bn_entries(f'{prefix}.conv2.bn1', inter)
            entries += conv_entry(f'{prefix}.conv2.fc2', width * radix, inter, 1)
            entries += [(f'{prefix}.conv2.fc2.bias', (width * radix, ))]
            entries += conv_entry(f'{prefix}.conv3', width * 4, width, 1) + bn_entries(f'{prefix}.bn3', width * 4)
            if block == 0:
                entries += conv_entry(f'{prefix}.downsample.1', width * 4, in_channels, 1)
                entries += bn_entries(f'{prefix}.downsample.2', width * 4)
        in_channels = width * 4
    return entries


def test_small_resnest_state_dict_follows_2_28_rule():
    assert_entries(build_backbone(SMALL), resnest_entries((3, 4), 8, 8, 2, 4))


def test_resnest50_layer1_at_full_size():
    model = build_backbone(dict(type='ResNeSt', depth=50, stem_channels=64, num_stages=1, strides=(1, ),
                                dilations=(1, ), out_indices=(0, )))
    assert model.state_dict()['layer1.0.conv2.conv.weight'].shape == (128, 32, 3, 3)
    assert_entries(model, resnest_entries((3, ), 64, 64, 2, 4))


def test_avg_down_stride_moves_the_stride_to_an_avgpool():
    model = build_backbone(SMALL)
    block = model.layer2[0]
    assert block.conv2.conv.stride == (1, 1) and block.avd_layer.stride == 2
    outs = model.eval()(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 8, 8), (1, 64, 4, 4)]


def naive_split_attention(m: SplitAttentionConv2d, x: torch.Tensor) -> torch.Tensor:
    """Plain loops: split r is channels [r*C, (r+1)*C) of relu(bn0(conv(x))); the attention logit of split r,
    channel c = g*C/G + k is fc2's output g*R*C/G + r*C/G + k; softmax over r (sigmoid when R == 1)."""
    radix, groups, channels = m.radix, m.groups, m.channels
    u = m.relu(m.norm0(m.conv(x)))
    splits = [u[:, r * channels:(r + 1) * channels] for r in range(radix)]
    gap = sum(splits).mean(dim=(2, 3), keepdim=True)
    logits = m.fc2(m.relu(m.norm1(m.fc1(gap))))[:, :, 0, 0]
    per_group = channels // groups
    out = torch.zeros_like(splits[0])
    for n in range(x.shape[0]):
        for g in range(groups):
            for k in range(per_group):
                c = g * per_group + k
                scores = [logits[n, g * radix * per_group + r * per_group + k] for r in range(radix)]
                if radix == 1:
                    weights = [1 / (1 + math.exp(-scores[0].item()))]
                else:
                    exps = [math.exp(s.item()) for s in scores]
                    weights = [e / sum(exps) for e in exps]
                for r in range(radix):
                    out[n, c] += weights[r] * splits[r][n, c]
    return out


@pytest.mark.parametrize('radix, groups, channels', [(2, 1, 4), (2, 2, 4), (3, 2, 6), (1, 2, 4)])
def test_split_attention_matches_plain_loops(radix, groups, channels):
    torch.manual_seed(0)
    m = SplitAttentionConv2d(channels, channels, 3, padding=1, groups=groups, radix=radix).double()
    for bn in (m.norm0, m.norm1):
        torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
        torch.nn.init.uniform_(bn.running_mean, -0.1, 0.1)
    m.eval()
    x = torch.randn(2, channels, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(m(x), naive_split_attention(m, x))
