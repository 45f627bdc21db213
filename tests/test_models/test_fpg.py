"""FPG: 2.28's state-dict names/shapes on a small grid, and constant maps through it by hand."""
import pytest
import torch

from mmdet_lite.models import build_neck

from .state_dict_rules import assert_entries, bn_entries, conv_entry

BN = dict(type='BN', requires_grad=True)


def _normed(type_, **kwargs):
    return dict(type=type_, norm_cfg=BN, order=('act', 'conv', 'norm'), inplace=False, **kwargs)


def test_state_dict_follows_2_28_rule():
    """Per stage s and level l not in skip_inds[l], a ModuleDict with same_up (from l - 1), same_down
    (from l + 1), across_lateral (l), across_down (interpolation_conv, from l + 1), across_up (from
    l - 1), across_skip (from l - 1, level 0 from the last); a ConvModule with a norm has no bias."""
    inter = [2, 3, 4, 5]
    neck = build_neck(dict(
        type='FPG', in_channels=[6, 7, 8], out_channels=3, inter_channels=inter, num_outs=4, stack_times=2,
        paths=['bu', 'td'], add_extra_convs=True, norm_cfg=BN,
        same_up_trans=_normed('conv', kernel_size=3, stride=2, padding=1),
        same_down_trans=_normed('interpolation_conv', kernel_size=3),
        across_lateral_trans=_normed('conv', kernel_size=1),
        across_down_trans=_normed('interpolation_conv', kernel_size=3),
        across_up_trans=_normed('conv', kernel_size=3, stride=2, padding=1),
        across_skip_trans=_normed('conv', kernel_size=1),
        output_trans=dict(type='last_conv', kernel_size=3, order=('act', 'conv', 'norm'), inplace=False),
        skip_inds=[(0, 1), (0, ), (), ()]))
    expected = []
    for i, cin in enumerate([6, 7, 8]):
        expected += [(f'lateral_convs.{i}.weight', (inter[i], cin, 1, 1)), (f'lateral_convs.{i}.bias', (inter[i], ))]
    expected += [('extra_downsamples.0.weight', (5, 4, 3, 3)), ('extra_downsamples.0.bias', (5, ))]
    skip_inds = [(0, 1), (0, ), (), ()]
    for s in range(2):
        for lvl in range(4):
            if s in skip_inds[lvl]:
                continue
            p = f'fpn_transitions.{s}.{lvl}'
            sources = [('same_up', lvl - 1, 3, '.conv'), ('same_down', lvl + 1, 3, '.conv.conv'),
                       ('across_lateral', lvl, 1, '.conv'), ('across_down', lvl + 1, 3, '.conv.conv'),
                       ('across_up', lvl - 1, 3, '.conv'), ('across_skip', lvl - 1, 1, '.conv')]
            for name, src, kernel, conv in sources:
                if name != 'across_skip' and not 0 <= src < 4:
                    continue
                expected += conv_entry(f'{p}.{name}{conv}', inter[lvl], inter[src], kernel)
                expected += bn_entries(f'{p}.{name}{conv[:-5]}.bn', inter[lvl])
    for lvl in range(4):
        expected += conv_entry(f'output_transition.{lvl}.conv_out.conv', 3, inter[lvl], 3)
        expected += [(f'output_transition.{lvl}.conv_out.conv.bias', (3, ))]
    assert_entries(neck, expected)


def _scalar_neck():
    """One channel, 1x1 kernels, no norm or act: each transition multiplies a constant map by its weight."""
    plain = dict(kernel_size=1, act_cfg=None)
    neck = build_neck(dict(
        type='FPG', in_channels=[1, 1, 1], out_channels=1, num_outs=3, stack_times=2, paths=['bu', 'td'],
        same_up_trans=dict(type='conv', stride=2, **plain),
        same_down_trans=dict(type='interpolation_conv', **plain),
        across_lateral_trans=dict(type='conv', **plain),
        across_down_trans=dict(type='interpolation_conv', **plain),
        across_up_trans=dict(type='conv', stride=2, **plain),
        across_skip_trans=dict(type='conv', **plain),
        output_trans=dict(type='last_conv', **plain), skip_inds=[(0, ), (), ()]))
    weights = dict(same_up=1., same_down=2., across_lateral=3., across_down=5., across_up=7., across_skip=11.)
    with torch.no_grad():
        for name, param in neck.named_parameters():
            kind = name.split('.')[3] if name.startswith('fpn_transitions') else None
            param.fill_(0. if name.endswith('bias') else weights.get(kind, 1.))
    return neck


def test_constant_maps_through_a_bu_then_td_grid_by_hand():
    """P0 = (1, 2, 3). Stage 0 'bu', level 0 skipped: P1[0] = 1;
    P1[1] = 1*1 (same_up of P1[0]) + 3*2 (lateral) + 7*1 (across_up of P0[0]) + 5*3 (across_down of P0[2])
    + 11*2 (skip of P0[1]) = 51; P1[2] = 1*51 + 3*3 + 7*2 + 11*3 = 107.
    Stage 1 'td': P2[2] = 3*107 + 7*51 + 11*3 = 711; P2[1] = 2*711 + 3*51 + 7*1 + 5*107 + 11*2 = 2139;
    P2[0] = 2*2139 + 3*1 + 5*51 + 11*1 = 4547. The outputs (weight 1) are P2."""
    neck = _scalar_neck()
    inputs = [torch.full((1, 1, 8, 8), 1.), torch.full((1, 1, 4, 4), 2.), torch.full((1, 1, 2, 2), 3.)]
    outs = neck(inputs)
    assert [tuple(o.shape) for o in outs] == [(1, 1, 8, 8), (1, 1, 4, 4), (1, 1, 2, 2)]
    for out, value in zip(outs, [4547., 2139., 711.]):
        torch.testing.assert_close(out, torch.full_like(out, value))


def test_default_transitions_build():
    """2.28's defaults: same_up 3x3 stride 2, lateral 1x1, across_down 3x3, identity skip (2.28
    cannot build this default; here it has no weights); no same_down and across_up."""
    neck = build_neck(dict(type='FPG', in_channels=[2, 4], out_channels=3, num_outs=3, stack_times=1,
                           paths=['bu'], skip_inds=[(), (), ()]))
    names = sorted({'.'.join(name.split('.')[3:-1]) for name in neck.state_dict() if name.startswith('fpn_')})
    assert names == ['across_down.conv', 'across_lateral.conv', 'same_up.conv']
    assert neck.fpn_transitions[0][1]['across_down'].conv.kernel_size == (3, 3)
    assert neck.fpn_transitions[0][1]['same_up'].conv.stride == (2, 2)


@pytest.mark.parametrize('kwargs, match', [(dict(paths=['bu']), 'paths'), (dict(paths=['bu', 'up']), 'paths'),
                                           (dict(skip_inds=None), 'skip_inds'),
                                           (dict(inter_channels=[2, 2]), 'inter_channels'),
                                           (dict(across_up_trans=dict(type='deconv')), 'deconv')])
def test_bad_arguments_raise(kwargs, match):
    cfg = dict(type='FPG', in_channels=[2, 4], out_channels=3, num_outs=3, stack_times=2, paths=['bu', 'bu'],
               skip_inds=[(), (), ()])
    with pytest.raises(ValueError, match=match):
        build_neck({**cfg, **kwargs})
