"""HRFPN: 2.28's state-dict names/shapes, output sizes, and constant inputs through the neck by hand."""
import pytest
import torch

from mmdet_lite.models import build_neck

from .state_dict_rules import assert_entries


def _neck(**kwargs):
    return build_neck(dict(type='HRFPN', in_channels=[2, 4], out_channels=3, num_outs=3, **kwargs))


def test_state_dict_follows_2_28_rule():
    """reduction_conv: 1x1 from sum(in_channels), with bias (no norm); fpn_convs.k: 3x3, with bias."""
    expected = [('reduction_conv.conv.weight', (3, 6, 1, 1)), ('reduction_conv.conv.bias', (3, ))]
    for k in range(3):
        expected += [(f'fpn_convs.{k}.conv.weight', (3, 3, 3, 3)), (f'fpn_convs.{k}.conv.bias', (3, ))]
    assert_entries(_neck(), expected)


@pytest.mark.parametrize('pooling_type', ['AVG', 'MAX'])
def test_constant_inputs_by_hand(pooling_type):
    """Inputs 1 (2 ch, 4x4) and 2 (4 ch, 2x2): the reduced map is 0.1 * (2 * 1 + 4 * 2) = 1 everywhere (any
    pooling keeps it); a 3x3 conv of 0.01s + bias 0.5 on 3 channels gives 0.5 + 0.03 * (valid taps)."""
    neck = _neck(pooling_type=pooling_type)
    with torch.no_grad():
        neck.reduction_conv.conv.weight.fill_(0.1)
        neck.reduction_conv.conv.bias.zero_()
        for conv in neck.fpn_convs:
            conv.conv.weight.fill_(0.01)
            conv.conv.bias.fill_(0.5)
    outs = neck([torch.full((1, 2, 4, 4), 1.0), torch.full((1, 4, 2, 2), 2.0)])
    assert [tuple(o.shape) for o in outs] == [(1, 3, 4, 4), (1, 3, 2, 2), (1, 3, 1, 1)]
    torch.testing.assert_close(outs[0][0, :, 1, 1], torch.full((3, ), 0.5 + 0.03 * 9))
    torch.testing.assert_close(outs[0][0, :, 0, 0], torch.full((3, ), 0.5 + 0.03 * 4))
    torch.testing.assert_close(outs[1][0, :, 0, 1], torch.full((3, ), 0.5 + 0.03 * 4))
    torch.testing.assert_close(outs[2][0, :, 0, 0], torch.full((3, ), 0.5 + 0.03 * 1))


def test_stride_2_halves_every_output():
    outs = _neck(stride=2)([torch.randn(1, 2, 8, 8), torch.randn(1, 4, 4, 4)])
    assert [tuple(o.shape) for o in outs] == [(1, 3, 4, 4), (1, 3, 2, 2), (1, 3, 1, 1)]


def test_bad_pooling_type_is_named():
    with pytest.raises(ValueError, match='SUM'):
        _neck(pooling_type='SUM')
