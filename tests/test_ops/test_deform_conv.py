"""DCN and DCNv2 against a naive per-pixel reference (mmcv's sampling rules), values and gradients."""
import pytest
import torch
from mmcv.cnn import build_conv_layer
from torch import nn

from mmdet_lite.ops import DeformConv2d, DeformConv2dPack, ModulatedDeformConv2d, ModulatedDeformConv2dPack


def _bilinear(img, y, x):
    """img (C, H, W) sampled at one real point; 0 outside (-1, H) x (-1, W), zero-padded neighbours."""
    height, width = img.shape[1:]
    if y <= -1 or y >= height or x <= -1 or x >= width:
        return img.new_zeros(img.shape[0])
    y0, x0 = int(torch.floor(y)), int(torch.floor(x))
    value = img.new_zeros(img.shape[0])
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < height and 0 <= xx < width:
                value = value + wy * wx * img[:, yy, xx]
    return value


def naive_deform_conv(x, offset, weight, bias, stride, padding, dilation, groups, deform_groups, mask=None):
    """One output pixel, one kernel tap at a time: obviously mmcv's definition."""
    n_img, in_channels = x.shape[:2]
    out_channels, _, kh, kw = weight.shape
    out_h, out_w = offset.shape[2:]
    per_dg, per_g = in_channels // deform_groups, in_channels // groups
    out = x.new_zeros(n_img, out_channels, out_h, out_w)
    for n in range(n_img):
        for oy in range(out_h):
            for ox in range(out_w):
                columns = []
                for dg in range(deform_groups):
                    taps = []
                    for i in range(kh):
                        for j in range(kw):
                            k = dg * kh * kw + i * kw + j
                            y = oy * stride - padding + i * dilation + offset[n, 2 * k, oy, ox]
                            xx = ox * stride - padding + j * dilation + offset[n, 2 * k + 1, oy, ox]
                            value = _bilinear(x[n, dg * per_dg:(dg + 1) * per_dg], y, xx)
                            taps.append(value * (1 if mask is None else mask[n, k, oy, ox]))
                    columns.append(torch.stack(taps, dim=1))  # (per_dg, kh * kw)
                column = torch.cat(columns)  # (C_in, kh * kw)
                for o in range(out_channels):
                    g = o // (out_channels // groups)
                    value = (weight[o].reshape(per_g, -1) * column[g * per_g:(g + 1) * per_g]).sum()
                    out[n, o, oy, ox] = value + (0 if bias is None else bias[o])
    return out


def _inputs(modulated, groups=1, deform_groups=2):
    gen = torch.Generator().manual_seed(0)
    layer_type = ModulatedDeformConv2d if modulated else DeformConv2d
    layer = layer_type(4, 4, 3, stride=2, padding=1, dilation=1, groups=groups, deform_groups=deform_groups).double()
    x = torch.randn(2, 4, 5, 6, generator=gen, dtype=torch.float64)
    taps = deform_groups * 9
    # offsets up to 3 px push some taps past the border, covering the zero-outside rule
    offset = 3 * torch.randn(2, 2 * taps, 3, 3, generator=gen, dtype=torch.float64)
    mask = torch.rand(2, taps, 3, 3, generator=gen, dtype=torch.float64)
    return layer, x, offset, mask


@pytest.mark.parametrize('modulated', [False, True], ids=['DCN', 'DCNv2'])
@pytest.mark.parametrize('groups', [1, 2])
def test_deform_conv_matches_the_naive_reference_in_values_and_gradients(modulated, groups):
    layer, x, offset, mask = _inputs(modulated, groups)
    if modulated:
        layer.bias.data.uniform_(-1, 1)
    args = (x, offset, mask) if modulated else (x, offset)
    leaves = [x, offset, layer.weight] + ([mask, layer.bias] if modulated else [])
    for t in leaves:
        t.requires_grad_(True)
    fast = layer(*args)
    naive = naive_deform_conv(x, offset, layer.weight, layer.bias, 2, 1, 1, groups, 2, mask if modulated else None)
    torch.testing.assert_close(fast, naive, rtol=1e-10, atol=1e-10)
    upstream = torch.randn_like(fast)
    fast_grads = torch.autograd.grad(fast, leaves, upstream)
    naive_grads = torch.autograd.grad(naive, leaves, upstream)
    for fast_grad, naive_grad in zip(fast_grads, naive_grads):
        torch.testing.assert_close(fast_grad, naive_grad, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize('layer_type, pack_type, offset_channels', [('DCN', DeformConv2dPack, 2 * 9),
                                                                    ('DCNv2', ModulatedDeformConv2dPack, 3 * 9)])
def test_packs_are_registered_with_mmcvs_keys_and_start_as_a_plain_convolution(layer_type, pack_type,
                                                                                offset_channels):
    torch.manual_seed(0)
    layer = build_conv_layer(dict(type=layer_type, deform_groups=1), 4, 6, 3, padding=1, bias=False)
    assert type(layer) is pack_type
    names = {name: tuple(t.shape) for name, t in layer.state_dict().items()}
    assert names == {'weight': (6, 4, 3, 3), 'conv_offset.weight': (offset_channels, 4, 3, 3),
                     'conv_offset.bias': (offset_channels, )}
    plain = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    plain.weight.data.copy_(layer.weight)
    nn.init.normal_(layer.conv_offset.weight)  # as a parent's Kaiming init_cfg would
    layer.init_weights()
    x = torch.randn(1, 4, 7, 7)
    scale = 0.5 if layer_type == 'DCNv2' else 1.0  # sigmoid(0) masks
    torch.testing.assert_close(layer(x), scale * plain(x), rtol=1e-5, atol=1e-5)


def test_pack_runs_on_channels_last_input_with_nchw_values():
    torch.manual_seed(0)
    layer = ModulatedDeformConv2dPack(4, 4, 3, padding=1).double()
    nn.init.normal_(layer.conv_offset.weight, std=0.3)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    expected = layer(x)
    layer = layer.to(memory_format=torch.channels_last)
    torch.testing.assert_close(layer(x.contiguous(memory_format=torch.channels_last)), expected)


def test_bias_on_dcn_v1_is_refused_naming_it():
    with pytest.raises(ValueError, match='bias'):
        DeformConv2dPack(4, 4, 3, bias=True)
