"""RegNet: the width rule for 2.28's named archs, 2.28's state-dict names/shapes for a small dict arch, and
output shapes/strides."""
import pytest
import torch

from mmdet_lite.models import build_backbone

from .state_dict_rules import assert_entries, bn_entries, conv_entry

# Stage widths and depths of RegNetX (pycls); the widths are the FPN in_channels of 2.28's RegNet configs.
REGNETX_STAGES = {
    'regnetx_400mf': ([32, 64, 160, 384], [1, 2, 7, 12]),
    'regnetx_800mf': ([64, 128, 288, 672], [1, 3, 7, 5]),
    'regnetx_1.6gf': ([72, 168, 408, 912], [2, 4, 10, 2]),
    'regnetx_3.2gf': ([96, 192, 432, 1008], [2, 6, 15, 2]),
    'regnetx_4.0gf': ([80, 240, 560, 1360], [2, 5, 14, 2]),
}
# w0=8, wa=8, wm=2, depth=4: u = 8, 16, 24, 32 -> 8 * 2**round(log2(u / 8)) = 8, 16, 32, 32: 3 stages.
TINY_ARCH = dict(w0=8, wa=8, wm=2.0, group_w=8, depth=4, bot_mul=1.0)
TINY_KW = dict(arch=TINY_ARCH, stem_channels=8, strides=(2, 2, 2), dilations=(1, 1, 1), out_indices=(0, 1, 2))


@pytest.fixture(scope='module')
def tiny():
    return build_backbone(dict(type='RegNet', **TINY_KW))


@pytest.mark.parametrize('arch', sorted(REGNETX_STAGES))
def test_named_arch_widths_and_depths(tiny, arch):
    settings = tiny.arch_settings[arch]
    widths, _ = tiny.generate_regnet(settings['w0'], settings['wa'], settings['wm'], settings['depth'])
    stage_widths, stage_blocks = tiny.get_stages_from_blocks(widths)
    stage_widths, _ = tiny.adjust_width_group(stage_widths, [1.0] * 4, [settings['group_w']] * 4)
    assert (stage_widths, stage_blocks) == REGNETX_STAGES[arch]


def test_tiny_state_dict_follows_2_28_rule(tiny):
    """Stem conv1 3x3 (8 -> 8); stage i of width w, groups w // 8 (1, 2, 4): ResNeXt bottlenecks of expansion 1
    with conv2 (w, 8, 3, 3) (w when groups == 1), the first block of each stage with a 1x1 downsample."""
    entries = conv_entry('conv1', 8, 3, 3) + bn_entries('bn1', 8)
    in_channels = 8
    for stage, (width, num_blocks) in enumerate([(8, 1), (16, 1), (32, 2)]):
        for block in range(num_blocks):
            prefix = f'layer{stage + 1}.{block}'
            block_in = in_channels if block == 0 else width
            entries += conv_entry(f'{prefix}.conv1', width, block_in, 1) + bn_entries(f'{prefix}.bn1', width)
            entries += conv_entry(f'{prefix}.conv2', width, 8, 3) + bn_entries(f'{prefix}.bn2', width)
            entries += conv_entry(f'{prefix}.conv3', width, width, 1) + bn_entries(f'{prefix}.bn3', width)
            if block == 0:
                entries += conv_entry(f'{prefix}.downsample.0', width, in_channels, 1)
                entries += bn_entries(f'{prefix}.downsample.1', width)
        in_channels = width
    assert [tiny.layer1[0].conv2.groups, tiny.layer2[0].conv2.groups, tiny.layer3[0].conv2.groups] == [1, 2, 4]
    assert_entries(tiny, entries)


def test_tiny_outputs_at_strides_4_8_16(tiny):
    outs = tiny.eval()(torch.randn(2, 3, 64, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 8), (2, 16, 8, 4), (2, 32, 4, 2)]


def test_building_regnet_leaves_resnext_expansion_alone():
    from mmdet_lite.models.backbones.resnext import Bottleneck
    assert Bottleneck.expansion == 4


@pytest.mark.parametrize('arch, error', [('regnetx_3gf', ValueError), (dict(w0=8), ValueError), (3, TypeError)])
def test_bad_arch_is_named(arch, error):
    with pytest.raises(error, match='arch'):
        build_backbone(dict(type='RegNet', arch=arch))
