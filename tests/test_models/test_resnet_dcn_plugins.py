"""ResNet ``dcn`` / ``stage_with_dcn`` / ``plugins``: MMDetection 2.28's state-dict names and shapes,
a deformable ResNet at initialisation equals the plain one, and plugins run where their position says."""
import pytest
import torch
from torch import nn

from mmdet_lite.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmdet_lite.ops import DeformConv2dPack, ModulatedDeformConv2dPack

BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
DCN_C3_C5 = (False, True, True, True)


def _bn(prefix, channels):
    return [(f'{prefix}.{name}', () if name == 'num_batches_tracked' else (channels, )) for name in BN]


def _gen_attention(prefix, channels, attention_type, num_heads=8):
    """mmcv GeneralizedAttention: qk/v dims C // heads per head; terms 1000/0100/0010/0001 add their weights."""
    out_c = channels // num_heads * num_heads
    query, position, key_only, geometry = (flag == '1' for flag in attention_type)
    entries = []
    if query or position:
        entries.append((f'{prefix}.query_conv.weight', (out_c, channels, 1, 1)))
    if query or key_only:
        entries.append((f'{prefix}.key_conv.weight', (out_c, channels, 1, 1)))
    entries.append((f'{prefix}.value_conv.weight', (out_c, channels, 1, 1)))
    if position or geometry:
        entries += [(f'{prefix}.appr_geom_fc_x.weight', (out_c, channels // 2)),
                    (f'{prefix}.appr_geom_fc_y.weight', (out_c, channels // 2))]
    if key_only:
        entries.append((f'{prefix}.appr_bias', (out_c, )))
    if geometry:
        entries.append((f'{prefix}.geom_bias', (out_c, )))
    return entries + [(f'{prefix}.proj_conv.weight', (channels, out_c, 1, 1)),
                      (f'{prefix}.proj_conv.bias', (channels, )), (f'{prefix}.gamma', (1, ))]


def expected_r50_entries(offset_channels_per_tap=None, attention_type=None):
    """ResNet-50 backbone entries; DCN on c3-c5 adds ``conv2.conv_offset`` (9 taps * 2 or 3 outputs;
    Bottleneck builds conv2 with bias=False, DCNv2 too), an ``after_conv2`` GeneralizedAttention on c4-c5
    adds ``gen_attention_block``."""
    entries = [('conv1.weight', (64, 3, 7, 7))] + _bn('bn1', 64)
    in_channels = 64
    for stage, (num_blocks, planes) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)]):
        for block in range(num_blocks):
            prefix = f'layer{stage + 1}.{block}'
            block_in = in_channels if block == 0 else 4 * planes
            entries += [(f'{prefix}.conv1.weight', (planes, block_in, 1, 1))] + _bn(f'{prefix}.bn1', planes)
            entries += [(f'{prefix}.conv2.weight', (planes, planes, 3, 3))]
            if offset_channels_per_tap and DCN_C3_C5[stage]:
                entries += [(f'{prefix}.conv2.conv_offset.weight', (9 * offset_channels_per_tap, planes, 3, 3)),
                            (f'{prefix}.conv2.conv_offset.bias', (9 * offset_channels_per_tap, ))]
            entries += _bn(f'{prefix}.bn2', planes)
            entries += [(f'{prefix}.conv3.weight', (4 * planes, planes, 1, 1))] + _bn(f'{prefix}.bn3', 4 * planes)
            if block == 0:
                entries += [(f'{prefix}.downsample.0.weight', (4 * planes, in_channels, 1, 1))]
                entries += _bn(f'{prefix}.downsample.1', 4 * planes)
            if attention_type and stage >= 2:
                entries += _gen_attention(f'{prefix}.gen_attention_block', planes, attention_type)
        in_channels = 4 * planes
    return entries


def _attention_plugin(attention_type):
    return [dict(cfg=dict(type='GeneralizedAttention', spatial_range=-1, num_heads=8, attention_type=attention_type,
                          kv_stride=2), stages=(False, False, True, True), position='after_conv2')]


@pytest.mark.parametrize('dcn_type, taps_channels, attention_type', [
    ('DCN', 2, '0010'),  # empirical_attention/faster_rcnn_r50_fpn_attention_0010_dcn_1x_coco
    ('DCNv2', 3, '1111'),  # dcnv2/..._mdconv_c3-c5 with empirical_attention/..._attention_1111's plugin
])
def test_r50_state_dict_names_and_shapes_follow_2_28_rules(dcn_type, taps_channels, attention_type):
    dcn = None if dcn_type is None else dict(type=dcn_type, deform_groups=1, fallback_on_stride=False)
    plugins = None if attention_type is None else _attention_plugin(attention_type)
    model = ResNet(50, dcn=dcn, stage_with_dcn=DCN_C3_C5, plugins=plugins)
    expected = expected_r50_entries(taps_channels, attention_type)
    state = model.state_dict()
    assert sorted((name, tuple(t.shape)) for name, t in state.items()) == sorted(expected)
    # a 2.28-style checkpoint (same names and shapes, other values) loads strictly
    checkpoint = {name: torch.full(shape, 0.5) if shape else torch.tensor(3) for name, shape in expected}
    model.load_state_dict(checkpoint, strict=True)
    assert all(torch.equal(t, checkpoint[name]) for name, t in model.state_dict().items())


def test_deform_groups_4_multiplies_offset_channels():
    model = ResNet(50, base_channels=8, dcn=dict(type='DCNv2', deform_groups=4, fallback_on_stride=False),
                   stage_with_dcn=DCN_C3_C5)
    assert model.layer3[0].conv2.conv_offset.weight.shape == (4 * 27, 32, 3, 3)
    assert isinstance(model.layer4[2].conv2, ModulatedDeformConv2dPack)
    assert type(model.layer1[0].conv2) is nn.Conv2d


def test_dcn_resnet_at_init_equals_plain_resnet_with_same_weights():
    torch.manual_seed(0)
    plain = ResNet(50, base_channels=4, norm_eval=False).double()
    plain.init_weights()
    deform = ResNet(50, base_channels=4, norm_eval=False, dcn=dict(type='DCN', deform_groups=1),
                    stage_with_dcn=DCN_C3_C5).double()
    deform.init_weights()  # ResNet's Kaiming init must leave conv_offset at zero
    missing, unexpected = deform.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all('conv_offset' in name for name in missing)
    assert all(not deform.get_submodule(name.rsplit('.', 1)[0]).weight.any() for name in missing)
    for model in (plain, deform):
        for m in model.modules():  # non-trivial BN statistics, same in both
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.fill_(0.1)
                m.running_var.fill_(2.0)
                m.weight.data.fill_(0.7)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    plain.eval()
    deform.eval()
    for out_plain, out_deform in zip(plain(x), deform(x)):
        torch.testing.assert_close(out_deform, out_plain, rtol=1e-10, atol=1e-10)
    assert isinstance(deform.layer2[0].conv2, DeformConv2dPack)


def test_fallback_on_stride_keeps_plain_conv2():
    block = Bottleneck(16, 4, stride=2, dcn=dict(type='DCN', deform_groups=1, fallback_on_stride=True))
    assert type(block.conv2) is nn.Conv2d


def test_dcn_on_basic_block_or_with_conv_cfg_is_rejected():
    with pytest.raises(ValueError, match='BasicBlock.*dcn'):
        ResNet(18, dcn=dict(type='DCN', deform_groups=1), stage_with_dcn=DCN_C3_C5)
    with pytest.raises(ValueError, match='BasicBlock.*plugins'):
        BasicBlock(8, 8, plugins=[dict(cfg=dict(type='ContextBlock', ratio=0.25), position='after_conv1')])
    with pytest.raises(ValueError, match="conv_cfg must be None for DCN.*ConvWS"):
        Bottleneck(16, 4, conv_cfg=dict(type='ConvWS'), dcn=dict(type='DCN', deform_groups=1))
    with pytest.raises(ValueError, match=r'stage_with_dcn \(True,\)'):
        ResNet(50, dcn=dict(type='DCN'), stage_with_dcn=(True, ))


def test_plugin_names_take_the_postfix_and_stages_select_layers():
    plugins = [dict(cfg=dict(type='ContextBlock', ratio=1 / 4, postfix=1), stages=(False, True, False, False),
                    position='after_conv3'),
               dict(cfg=dict(type='ContextBlock', ratio=1 / 4, postfix=2), stages=(False, True, False, False),
                    position='after_conv3'),
               dict(cfg=dict(type='NonLocal2d'), position='after_conv1')]  # no stages: every stage
    model = ResNet(50, base_channels=4, plugins=plugins)
    block = model.layer2[1]
    assert block.after_conv3_plugin_names == ['context_block1', 'context_block2']
    assert block.after_conv1_plugin_names == ['nonlocal_block'] and block.after_conv2_plugin_names == []
    assert block.context_block1.in_channels == 32 and block.nonlocal_block.in_channels == 8
    assert not hasattr(model.layer3[0], 'context_block1') and hasattr(model.layer4[2], 'nonlocal_block')
    with pytest.raises(ValueError, match="duplicate plugin 'context_block'"):
        Bottleneck(16, 4, plugins=[dict(cfg=dict(type='ContextBlock', ratio=0.25), position='after_conv3')] * 2)
    with pytest.raises(ValueError, match="'after_conv4'"):
        Bottleneck(16, 4, plugins=[dict(cfg=dict(type='ContextBlock', ratio=0.25), position='after_conv4')])
    with pytest.raises(ValueError, match=r'plugin stages \(True, True\)'):
        ResNet(50, plugins=[dict(cfg=dict(type='ContextBlock', ratio=0.25), stages=(True, True),
                                 position='after_conv3')])


def test_plugins_run_in_order_after_their_conv():
    torch.manual_seed(0)
    plugins = [dict(cfg=dict(type='ContextBlock', ratio=1 / 2, postfix=position[-1]), position=position)
               for position in ('after_conv3', 'after_conv1', 'after_conv2')]
    plugins.append(dict(cfg=dict(type='NonLocal2d', reduction=1), position='after_conv3'))
    block = Bottleneck(16, 4, plugins=plugins).double().eval()
    for param in block.parameters():  # no zero-initialised layer: every plugin changes its input
        param.data.normal_(0, 0.5)
    x = torch.randn(2, 16, 5, 6, dtype=torch.float64)
    out = block.context_block1(block.relu(block.bn1(block.conv1(x))))
    out = block.context_block2(block.relu(block.bn2(block.conv2(out))))
    out = block.nonlocal_block(block.context_block3(block.bn3(block.conv3(out))))
    torch.testing.assert_close(block(x), torch.relu(out + x))
