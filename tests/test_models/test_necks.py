"""FPN: output shapes for each extra-level mode, top-down sum, state-dict names."""
import pytest
import torch
import torch.nn as nn

from mmdet_lite.models import build_neck

IN_CHANNELS = [8, 16, 32, 64]


def _inputs():
    torch.manual_seed(0)
    return [torch.randn(1, c, 32 // 2**i, 40 // 2**i) for i, c in enumerate(IN_CHANNELS)]


@pytest.mark.parametrize('add_extra_convs', [False, True, 'on_input', 'on_lateral', 'on_output'])
def test_fpn_five_outputs_halve_each_level(add_extra_convs):
    neck = build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=5,
                           add_extra_convs=add_extra_convs, relu_before_extra_convs=True))
    outs = neck(_inputs())
    assert [tuple(o.shape) for o in outs] == [(1, 4, 32, 40), (1, 4, 16, 20), (1, 4, 8, 10), (1, 4, 4, 5),
                                              (1, 4, 2, 3)]
    assert len(neck.fpn_convs) == (4 if add_extra_convs is False else 5)


def test_extra_conv_input_channels_follow_mode():
    on_input = build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=6,
                               add_extra_convs='on_input'))
    on_output = build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=6,
                                add_extra_convs='on_output'))
    assert [c.conv.in_channels for c in on_input.fpn_convs[4:]] == [64, 4]
    assert [c.conv.in_channels for c in on_output.fpn_convs[4:]] == [4, 4]


def test_p6_is_stride_two_subsampling_of_p5():
    neck = build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=5))
    outs = neck(_inputs())
    assert torch.equal(outs[4], outs[3][:, :, ::2, ::2])


def test_top_down_adds_nearest_upsampled_coarser_lateral():
    neck = build_neck(dict(type='FPN', in_channels=[1, 1], out_channels=1, num_outs=2))
    for module in neck.modules():
        if isinstance(module, nn.Conv2d):  # laterals and outputs become identities
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
            centre = module.kernel_size[0] // 2
            module.weight.data[0, 0, centre, centre] = 1.0
    fine = torch.zeros(1, 1, 4, 4)
    coarse = torch.arange(4.).view(1, 1, 2, 2)
    p2, p3 = neck([fine, coarse])
    assert torch.equal(p3, coarse)
    assert torch.equal(p2[0, 0], torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.], [2., 2., 3., 3.],
                                               [2., 2., 3., 3.]]))


def test_invalid_add_extra_convs_is_rejected():
    with pytest.raises(ValueError, match='on_top'):
        build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=5, add_extra_convs='on_top'))


def test_fpn_init_is_xavier_uniform_with_zero_bias():
    neck = build_neck(dict(type='FPN', in_channels=[256], out_channels=256, num_outs=1))
    neck.init_weights()
    weight = neck.fpn_convs[0].conv.weight
    bound = (6.0 / (256 * 9 + 256 * 9))**0.5
    assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(neck.fpn_convs[0].conv.bias) == 0


def test_end_level_of_the_last_input_is_inclusive_and_keeps_state_dict_keys():
    last = build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=5, end_level=3))
    default = build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=5))
    assert last.backbone_end_level == 4 and len(last.lateral_convs) == 4
    assert list(last.state_dict()) == list(default.state_dict())


def test_end_level_before_the_last_input_uses_inputs_start_to_end_level():
    neck = build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=2, start_level=1,
                           end_level=2))
    assert [c.conv.in_channels for c in neck.lateral_convs] == [16, 32]
    assert [tuple(o.shape) for o in neck(_inputs())] == [(1, 4, 16, 20), (1, 4, 8, 10)]


@pytest.mark.parametrize('end_level, num_outs', [(4, 5), (2, 2), (2, 4)])
def test_end_level_out_of_range_or_with_extra_levels_is_refused(end_level, num_outs):
    with pytest.raises(ValueError, match=f'end_level={end_level}'):
        build_neck(dict(type='FPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=num_outs, end_level=end_level))
