"""FPN_CARAFE: 2.28 state-dict names and shapes, FPN's outputs when it upsamples by nearest, the extra level
joining the top-down sum, and CARAFE with a flat kernel as box filtering."""
import pytest
import torch
import torch.nn.functional as F

from mmdet_lite.models import build_neck

IN_CHANNELS = [8, 16, 32, 64]
CARAFE_CFG = dict(type='carafe', up_kernel=5, up_group=1, encoder_kernel=3, encoder_dilation=1,
                  compressed_channels=64)


def _inputs():
    torch.manual_seed(0)
    return [torch.randn(1, c, 32 // 2**i, 40 // 2**i) for i, c in enumerate(IN_CHANNELS)]


def test_state_dict_matches_mmdetection_fpn_carafe_r50():
    neck = build_neck(dict(type='FPN_CARAFE', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5,
                           start_level=0, end_level=-1, norm_cfg=None, act_cfg=None, order=('conv', 'norm', 'act'),
                           upsample_cfg=CARAFE_CFG))
    expected = {}
    for i, in_channels in enumerate([256, 512, 1024, 2048]):
        expected[f'lateral_convs.{i}.conv.weight'] = (256, in_channels, 1, 1)
        expected[f'lateral_convs.{i}.conv.bias'] = (256,)
    expected['lateral_convs.4.conv.weight'] = (256, 2048, 3, 3)  # the extra level, stride 2 on C5
    expected['lateral_convs.4.conv.bias'] = (256,)
    for i in range(5):
        expected[f'fpn_convs.{i}.conv.weight'] = (256, 256, 3, 3)
        expected[f'fpn_convs.{i}.conv.bias'] = (256,)
    for i in range(4):  # one upsampler per top-down step, the extra level's included
        expected[f'upsample_modules.{i}.channel_compressor.weight'] = (64, 256, 1, 1)
        expected[f'upsample_modules.{i}.channel_compressor.bias'] = (64,)
        expected[f'upsample_modules.{i}.content_encoder.weight'] = (5 * 5 * 2 * 2, 64, 3, 3)
        expected[f'upsample_modules.{i}.content_encoder.bias'] = (100,)
    assert {k: tuple(v.shape) for k, v in neck.state_dict().items()} == expected


def test_nearest_upsampling_without_extra_levels_is_fpn():
    carafe_fpn = build_neck(dict(type='FPN_CARAFE', in_channels=IN_CHANNELS, out_channels=4, num_outs=4,
                                 upsample_cfg=dict(type='nearest')))
    fpn = build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=4))
    fpn.load_state_dict(carafe_fpn.state_dict(), strict=True)
    for out, expected in zip(carafe_fpn(_inputs()), fpn(_inputs())):
        torch.testing.assert_close(out, expected)


def test_extra_level_is_a_stride_two_conv_of_c5_that_joins_the_top_down_sum():
    neck = build_neck(dict(type='FPN_CARAFE', in_channels=IN_CHANNELS, out_channels=4, num_outs=5,
                           upsample_cfg=dict(type='nearest')))
    inputs = _inputs()
    outs = neck(inputs)
    extra = neck.lateral_convs[4](inputs[3])  # (1, 4, 2, 3): 4x5 -> 2x3
    torch.testing.assert_close(outs[4], neck.fpn_convs[4](extra))
    # the 2x3 extra level upsamples to 4x6 and is cropped to P5's 4x5
    p5_lateral = neck.lateral_convs[3](inputs[3]) + F.interpolate(extra, scale_factor=2.)[:, :, :4, :5]
    torch.testing.assert_close(outs[3], neck.fpn_convs[3](p5_lateral))
    assert [tuple(o.shape) for o in outs] == [(1, 4, 32, 40), (1, 4, 16, 20), (1, 4, 8, 10), (1, 4, 4, 5),
                                              (1, 4, 2, 3)]


def test_carafe_with_a_flat_kernel_is_a_5x5_box_filter_then_nearest():
    neck = build_neck(dict(type='FPN_CARAFE', in_channels=IN_CHANNELS, out_channels=4, num_outs=4,
                           upsample_cfg=CARAFE_CFG))
    neck.init_weights()
    upsampler = neck.upsample_modules[0]
    torch.nn.init.zeros_(upsampler.content_encoder.weight)  # zero logits: every tap weighs 1/25
    x = torch.randn(1, 4, 6, 7)
    box = F.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=True)
    torch.testing.assert_close(upsampler(x), F.interpolate(box, scale_factor=2.), rtol=1e-5, atol=1e-6)
    assert [tuple(o.shape) for o in neck(_inputs())] == [(1, 4, 32, 40), (1, 4, 16, 20), (1, 4, 8, 10),
                                                         (1, 4, 4, 5)]


@pytest.mark.parametrize('cfg, match', [
    (dict(upsample_cfg=dict(type='deconv')), 'upsample_kernel'),
    (dict(upsample_cfg=dict(type='bicubic')), "upsample_cfg\\['type'\\]"),
    (dict(order=('norm', 'conv', 'act')), 'order'),
    (dict(init_cfg=dict(type='Xavier', layer='Conv2d')), 'init_cfg'),
])
def test_bad_values_raise(cfg, match):
    with pytest.raises(ValueError, match=match):
        build_neck(dict(type='FPN_CARAFE', in_channels=IN_CHANNELS, out_channels=4, num_outs=5, **cfg))


@pytest.mark.parametrize('upsample_cfg', [dict(type='deconv', upsample_kernel=4),
                                          dict(type='pixel_shuffle', upsample_kernel=3),
                                          dict(type='bilinear')])
def test_other_upsamplers_build_and_keep_shapes(upsample_cfg):
    neck = build_neck(dict(type='FPN_CARAFE', in_channels=IN_CHANNELS, out_channels=4, num_outs=5,
                           norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'), upsample_cfg=upsample_cfg))
    assert neck.lateral_convs[0].conv.bias is None  # no conv bias under a norm layer
    assert [tuple(o.shape) for o in neck(_inputs())][-1] == (1, 4, 2, 3)
