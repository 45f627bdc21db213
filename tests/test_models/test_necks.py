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


# ----------------------------------------------------------------------------------------------- PAFPN
def _identity_convs(neck):
    """Every conv passes its input through (1 at the kernel centre, zero bias)."""
    for module in neck.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
            centre = module.kernel_size[0] // 2
            module.weight.data[0, 0, centre, centre] = 1.0


def test_pafpn_state_dict_keys_follow_mmdetection_2_28():
    neck = build_neck(dict(type='PAFPN', in_channels=IN_CHANNELS, out_channels=4, num_outs=5))
    expected = []
    for i, cin in enumerate(IN_CHANNELS):
        expected += [(f'lateral_convs.{i}.conv.weight', (4, cin, 1, 1)), (f'lateral_convs.{i}.conv.bias', (4, ))]
    for name, count in [('fpn_convs', 4), ('downsample_convs', 3), ('pafpn_convs', 3)]:
        for i in range(count):
            expected += [(f'{name}.{i}.conv.weight', (4, 4, 3, 3)), (f'{name}.{i}.conv.bias', (4, ))]
    assert [(k, tuple(v.shape)) for k, v in neck.state_dict().items()] == expected
    assert [c.conv.stride for c in neck.downsample_convs] == [(2, 2)] * 3


def test_pafpn_adds_the_bottom_up_path_to_the_fpn_outputs():
    neck = build_neck(dict(type='PAFPN', in_channels=[1, 1, 1], out_channels=1, num_outs=4))
    _identity_convs(neck)  # the stride-2 downsample convs then pick the even pixels
    fine = torch.arange(16.).view(1, 1, 4, 4)
    mid = torch.tensor([[[[100., 200.], [300., 400.]]]])
    coarse = torch.tensor([[[[1000.]]]])
    n2, n3, n4, n5 = neck([fine, mid, coarse])
    p4 = coarse
    p3 = mid + 1000.
    p2 = fine + p3.repeat_interleave(2, 2).repeat_interleave(2, 3)
    n3_expected = p3 + p2[:, :, ::2, ::2]
    n4_expected = p4 + n3_expected[:, :, ::2, ::2]
    assert torch.equal(n2, p2)
    assert torch.equal(n3, n3_expected)
    assert torch.equal(n4, n4_expected)
    assert torch.equal(n5, n4_expected[:, :, ::2, ::2])  # max_pool2d(kernel 1, stride 2)


def test_pafpn_extra_conv_on_output_uses_the_bottom_up_output():
    neck = build_neck(dict(type='PAFPN', in_channels=[1, 1], out_channels=1, num_outs=3, add_extra_convs='on_output'))
    _identity_convs(neck)
    outs = neck([torch.ones(1, 1, 4, 4), torch.ones(1, 1, 2, 2)])
    assert torch.equal(outs[1], torch.full((1, 1, 2, 2), 3.))  # 1 + downsample of (1 + 1)
    assert torch.equal(outs[2], torch.full((1, 1, 1, 1), 3.))


# ----------------------------------------------------------------------------------------------- BFP
def _bfp_inputs():
    torch.manual_seed(0)
    return [torch.randn(2, 4, 8 // 2**i, 8 // 2**i) for i in range(3)]


def _naive_bfp_without_refine(inputs, refine_level):
    """Gather at level r by 2x2-block max (finer) or pixel repetition (coarser), average, scatter back."""
    def resize(x, size):
        factor = x.shape[-1] // size
        if factor >= 1:  # block max
            return x.reshape(*x.shape[:2], size, factor, size, factor).amax(dim=(3, 5))
        repeat = size // x.shape[-1]
        return x.repeat_interleave(repeat, 2).repeat_interleave(repeat, 3)

    size = inputs[refine_level].shape[-1]
    bsf = sum(resize(x, size) for x in inputs) / len(inputs)
    return [x + resize(bsf, x.shape[-1]) for x in inputs]


@pytest.mark.parametrize('refine_type', [None, 'non_local'])
def test_bfp_adds_the_balanced_mean_to_every_level(refine_type):
    # a fresh non-local block is the identity (its output conv starts at zero)
    neck = build_neck(dict(type='BFP', in_channels=4, num_levels=3, refine_level=1, refine_type=refine_type))
    neck.init_weights()
    inputs = _bfp_inputs()
    outs = neck(inputs)
    for out, expected in zip(outs, _naive_bfp_without_refine(inputs, refine_level=1)):
        torch.testing.assert_close(out, expected)


def test_bfp_conv_refine_is_applied_once_to_the_mean():
    neck = build_neck(dict(type='BFP', in_channels=4, num_levels=3, refine_level=2, refine_type='conv'))
    inputs = [torch.full((1, 4, 4 // 2**i, 4 // 2**i), float(i + 1)) for i in range(3)]
    nn.init.zeros_(neck.refine.conv.weight)
    nn.init.constant_(neck.refine.conv.bias, -1.0)  # relu(-1) = 0: the refined mean vanishes
    assert all(torch.equal(o, x) for o, x in zip(neck(inputs), inputs))
    nn.init.constant_(neck.refine.conv.bias, 5.0)
    assert all(torch.equal(o, x + 5.) for o, x in zip(neck(inputs), inputs))


def test_bfp_state_dict_keys_follow_mmdetection_2_28():
    non_local = build_neck(dict(type='BFP', in_channels=4, num_levels=5, refine_type='non_local'))
    conv = build_neck(dict(type='BFP', in_channels=4, num_levels=5, refine_type='conv'))
    plain = build_neck(dict(type='BFP', in_channels=4, num_levels=5))
    expected = []
    for name in ['g', 'conv_out', 'theta', 'phi']:  # NonLocal2d(reduction=1): 1x1 convs keeping the channels
        expected += [(f'refine.{name}.conv.weight', (4, 4, 1, 1)), (f'refine.{name}.conv.bias', (4, ))]
    assert [(k, tuple(v.shape)) for k, v in non_local.state_dict().items()] == expected
    assert non_local.refine.use_scale is False
    assert [(k, tuple(v.shape)) for k, v in conv.state_dict().items()] == [('refine.conv.weight', (4, 4, 3, 3)),
                                                                           ('refine.conv.bias', (4, ))]
    assert len(plain.state_dict()) == 0


@pytest.mark.parametrize('kwargs, match', [(dict(refine_type='nonlocal'), 'nonlocal'),
                                           (dict(refine_level=5), 'refine_level=5')])
def test_bfp_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_neck(dict(type='BFP', in_channels=4, num_levels=5, **kwargs))
