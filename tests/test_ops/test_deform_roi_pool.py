"""deform_roi_pool against naive loops over RoIs, bins and samples written from mmcv's CUDA kernel
(float64): values, the input and offset gradients of the kernel's backward, and, away from the border
(where the kernel's offset gradient is the true derivative), autograd through the naive forward."""
import pytest
import torch

from mmdet_lite.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet_lite.ops import DeformRoIPool, DeformRoIPoolPack, ModulatedDeformRoIPoolPack, deform_roi_pool


def _corners(height, width, y, x):
    """mmcv's bilinear_interpolate: None outside [-1, H] x [-1, W], else
    (y_low, y_high, x_low, x_high, clamped y, clamped x)."""
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return None
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    return y_low, y_high, x_low, x_high, y, x


def _bins(rois, offset, output_size, spatial_scale, sampling_ratio, gamma):
    """Yield (r, ph, pw, batch, roi_w, roi_h, sample points [(y, x), ...], count) in mmcv's order."""
    pooled_h, pooled_w = output_size
    for r in range(rois.shape[0]):
        batch, x1, y1, x2, y2 = [float(v) for v in rois[r]]
        start_w, start_h = x1 * spatial_scale - 0.5, y1 * spatial_scale - 0.5
        roi_w, roi_h = x2 * spatial_scale - 0.5 - start_w, y2 * spatial_scale - 0.5 - start_h
        bin_h, bin_w = roi_h / pooled_h, roi_w / pooled_w
        grid_h = sampling_ratio if sampling_ratio > 0 else int(torch.ceil(torch.tensor(roi_h / pooled_h)))
        grid_w = sampling_ratio if sampling_ratio > 0 else int(torch.ceil(torch.tensor(roi_w / pooled_w)))
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                sw, sh = start_w, start_h
                if offset is not None:
                    sw = sw + gamma * roi_w * offset[r, 0, ph, pw]
                    sh = sh + gamma * roi_h * offset[r, 1, ph, pw]
                points = [(sh + ph * bin_h + (iy + 0.5) * bin_h / grid_h, sw + pw * bin_w + (ix + 0.5) * bin_w / grid_w)
                          for iy in range(max(grid_h, 0)) for ix in range(max(grid_w, 0))]
                yield r, ph, pw, int(batch), roi_w, roi_h, points, max(grid_h * grid_w, 1)


def _scalar(value) -> float:
    return float(value.detach()) if torch.is_tensor(value) else float(value)


def naive_forward(features, rois, offset, output_size, spatial_scale, sampling_ratio, gamma):
    """Loops over RoIs, bins and samples; differentiable in features and offset (through torch scalars)."""
    height, width = features.shape[2:]
    out = [[[None] * output_size[1] for _ in range(output_size[0])] for _ in range(rois.shape[0])]
    for r, ph, pw, batch, _, _, points, count in _bins(rois, offset, output_size, spatial_scale, sampling_ratio,
                                                        gamma):
        total = features.new_zeros(features.shape[1])
        for y, x in points:
            corners = _corners(height, width, _scalar(y), _scalar(x))
            if corners is None:
                continue
            y_low, y_high, x_low, x_high, yc, xc = corners
            # keep y, x as tensors (when offset is) so autograd sees the clamping the kernel does
            y = y.clamp(min=0) if torch.is_tensor(y) else yc
            x = x.clamp(min=0) if torch.is_tensor(x) else xc
            ly = y - y_low if y_low != y_high else 0.0 * y
            lx = x - x_low if x_low != x_high else 0.0 * x
            f = features[batch]
            total = total + ((1 - ly) * (1 - lx) * f[:, y_low, x_low] + (1 - ly) * lx * f[:, y_low, x_high]
                             + ly * (1 - lx) * f[:, y_high, x_low] + ly * lx * f[:, y_high, x_high])
        out[r][ph][pw] = total / count
    if rois.shape[0] == 0:
        return features.new_zeros(0, features.shape[1], *output_size)
    return torch.stack([torch.stack([torch.stack(row, -1) for row in roi], -2) for roi in out])


def naive_backward(grad_out, features, rois, offset, output_size, spatial_scale, sampling_ratio, gamma):
    """mmcv's deform_roi_pool_backward_cuda_kernel as loops: (grad_features, grad_offset)."""
    height, width = features.shape[2:]
    grad_features = torch.zeros_like(features)
    grad_offset = None if offset is None else torch.zeros_like(offset)
    for r, ph, pw, batch, roi_w, roi_h, points, _ in _bins(rois, offset, output_size, spatial_scale,
                                                            sampling_ratio, gamma):
        grad_bin = grad_out[r, :, ph, pw] / max(len(points), 1)
        f = features[batch]
        for y, x in points:
            y, x = float(y), float(x)
            corners = _corners(height, width, y, x)
            if corners is None:
                continue
            y_low, y_high, x_low, x_high, yc, xc = corners
            ly, lx = yc - y_low, xc - x_low
            for (py, px), weight in [((y_low, x_low), (1 - ly) * (1 - lx)), ((y_low, x_high), (1 - ly) * lx),
                                     ((y_high, x_low), ly * (1 - lx)), ((y_high, x_high), ly * lx)]:
                grad_features[batch, :, py, px] += grad_bin * weight
            if grad_offset is not None:
                v00, v10 = f[:, y_low, x_low], f[:, y_low, x_high]
                v01, v11 = f[:, y_high, x_low], f[:, y_high, x_high]
                # the kernel's formulas, with the unclamped sample (y, x)
                ogx = gamma * roi_w * grad_bin * (v11 * (y - y_low) + v10 * (y_high - y) + v01 * (y_low - y)
                                                  + v00 * (y - y_high))
                ogy = gamma * roi_h * grad_bin * (v11 * (x - x_low) + v01 * (x_high - x) + v10 * (x_low - x)
                                                  + v00 * (x - x_high))
                grad_offset[r, 0, ph, pw] += ogx.sum()
                grad_offset[r, 1, ph, pw] += ogy.sum()
    return grad_features, grad_offset


def _random_case(seed, num_rois=6, with_offset=True, scale=0.5):
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(2, 4, 6, 6, generator=gen, dtype=torch.float64)
    xy = torch.rand(num_rois, 2, generator=gen, dtype=torch.float64) * 14 - 2
    wh = torch.rand(num_rois, 2, generator=gen, dtype=torch.float64) * 10
    rois = torch.cat([torch.randint(0, 2, (num_rois, 1), generator=gen).double(), xy, xy + wh], 1)
    rois[:3, 1:] = torch.tensor([[3., 3., 3., 3.],         # zero size: no samples
                                 [-6., -6., 20., 18.],     # larger than the map: samples beyond the border
                                 [30., 30., 40., 36.]])    # entirely outside
    offset = torch.randn(num_rois, 2, 3, 3, generator=gen, dtype=torch.float64) * 2 if with_offset else None
    grad_out = torch.randn(num_rois, 4, 3, 3, generator=gen, dtype=torch.float64)
    return features, rois, offset, grad_out, scale


@pytest.mark.parametrize('sampling_ratio', [0, 2])
@pytest.mark.parametrize('with_offset', [True, False])
def test_values_and_kernel_gradients_match_naive_loops(sampling_ratio, with_offset):
    features, rois, offset, grad_out, scale = _random_case(sampling_ratio, with_offset=with_offset)
    features.requires_grad_()
    if offset is not None:
        offset.requires_grad_()
    out = deform_roi_pool(features, rois, offset, 3, scale, sampling_ratio, 0.1)
    expected = naive_forward(features.detach(), rois, offset, (3, 3), scale, sampling_ratio, 0.1)
    torch.testing.assert_close(out, expected.detach(), rtol=0, atol=1e-12)
    out.backward(grad_out)
    grad_features, grad_offset = naive_backward(grad_out, features.detach(), rois,
                                                None if offset is None else offset.detach(), (3, 3), scale,
                                                sampling_ratio, 0.1)
    torch.testing.assert_close(features.grad, grad_features, rtol=0, atol=1e-12)
    if offset is not None:
        torch.testing.assert_close(offset.grad, grad_offset, rtol=0, atol=1e-12)
        assert grad_offset.abs().sum() > 0
    assert out.abs().sum() > 0 and out[2].abs().sum() == 0  # entirely outside the map
    if sampling_ratio == 0:
        assert out[0].abs().sum() == 0  # a zero-size RoI has no adaptive samples


def test_inside_the_map_gradients_are_autograd_of_the_naive_forward():
    gen = torch.Generator().manual_seed(3)
    features = torch.randn(2, 4, 6, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 3., 3., 8., 7.], [1, 2.5, 4., 6., 8.5], [0, 4., 2.2, 7.6, 9.]], dtype=torch.float64)
    offset = (torch.randn(3, 2, 2, 2, generator=gen, dtype=torch.float64) * 0.3).requires_grad_()
    grad_out = torch.randn(3, 4, 2, 2, generator=gen, dtype=torch.float64)
    expected = naive_forward(features, rois, offset, (2, 2), 0.5, 0, 0.1)
    expected_grads = torch.autograd.grad(expected, (features, offset), grad_out)
    out = deform_roi_pool(features, rois, offset, 2, 0.5, 0, 0.1)
    grads = torch.autograd.grad(out, (features, offset), grad_out)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-12)


def test_zero_offset_equals_no_offset_and_gamma_scales_by_roi_size():
    features, rois, _, _, scale = _random_case(5, with_offset=False)
    plain = deform_roi_pool(features, rois, None, 3, scale, 2, 0.1)
    torch.testing.assert_close(deform_roi_pool(features, rois, torch.zeros(6, 2, 3, 3, dtype=torch.float64), 3,
                                               scale, 2, 0.1), plain)
    # an offset of 1/gamma bins' worth: moving every bin of a 3x3 output by 1/3 of the RoI = one bin
    shift = torch.zeros(6, 2, 3, 3, dtype=torch.float64)
    shift[:, 0] = 1 / 3 / 0.1
    moved = deform_roi_pool(features, rois, shift, 3, scale, 2, 0.1)
    torch.testing.assert_close(moved[3:, :, :, :2], plain[3:, :, :, 1:], rtol=0, atol=1e-12)


def test_no_rois_and_bad_shapes():
    features = torch.randn(1, 4, 6, 6, requires_grad=True)
    out = deform_roi_pool(features, torch.zeros(0, 5), torch.zeros(0, 2, 3, 3), 3)
    assert tuple(out.shape) == (0, 4, 3, 3)
    with pytest.raises(ValueError, match=r'offset must have shape \(2, 2, 3, 3\)'):
        deform_roi_pool(features, torch.zeros(2, 5), torch.zeros(2, 2, 7, 7), 3)
    with pytest.raises(ValueError, match=r'rois must have shape'):
        deform_roi_pool(features, torch.zeros(2, 4), None, 3)


def test_pack_state_dict_keys_and_shapes_follow_mmcv():
    pack = DeformRoIPoolPack(7, 256)
    assert {k: tuple(v.shape) for k, v in pack.state_dict().items()} == {
        'offset_fc.0.weight': (1024, 7 * 7 * 256), 'offset_fc.0.bias': (1024,),
        'offset_fc.2.weight': (1024, 1024), 'offset_fc.2.bias': (1024,),
        'offset_fc.4.weight': (7 * 7 * 2, 1024), 'offset_fc.4.bias': (7 * 7 * 2,)}
    modulated = ModulatedDeformRoIPoolPack(7, 256, deform_fc_channels=32)
    assert {k: tuple(v.shape) for k, v in modulated.state_dict().items()} == {
        'offset_fc.0.weight': (32, 7 * 7 * 256), 'offset_fc.0.bias': (32,),
        'offset_fc.2.weight': (32, 32), 'offset_fc.2.bias': (32,),
        'offset_fc.4.weight': (7 * 7 * 2, 32), 'offset_fc.4.bias': (7 * 7 * 2,),
        'mask_fc.0.weight': (32, 7 * 7 * 256), 'mask_fc.0.bias': (32,),
        'mask_fc.2.weight': (7 * 7, 32), 'mask_fc.2.bias': (7 * 7,)}


def test_packs_start_as_plain_pooling_and_half_of_it():
    torch.manual_seed(0)
    features, rois, _, _, _ = _random_case(7, with_offset=False)
    features = features.float().requires_grad_()
    rois = rois.float()
    plain = DeformRoIPool(3, spatial_scale=0.5)(features, rois)
    pack = DeformRoIPoolPack(3, 4, deform_fc_channels=8, spatial_scale=0.5)
    torch.testing.assert_close(pack(features, rois), plain)
    modulated = ModulatedDeformRoIPoolPack(3, 4, deform_fc_channels=8, spatial_scale=0.5)
    out = modulated(features, rois)
    torch.testing.assert_close(out, plain * 0.5)
    out.sum().backward()  # the offset and mask branches are in the graph
    assert modulated.offset_fc[4].weight.grad is not None and modulated.mask_fc[2].weight.grad is not None
    with pytest.raises(ValueError, match='output_channels=4'):
        pack(features[:, :3], rois)


def test_single_roi_extractor_builds_deform_roi_pool_pack_per_level():
    extractor = SingleRoIExtractor(dict(type='DeformRoIPoolPack', output_size=7, output_channels=8,
                                        deform_fc_channels=16), out_channels=8, featmap_strides=[4, 8])
    assert [layer.spatial_scale for layer in extractor.roi_layers] == [1 / 4, 1 / 8]
    assert 'roi_layers.1.offset_fc.4.weight' in extractor.state_dict()
    feats = [torch.randn(1, 8, 16, 16), torch.randn(1, 8, 8, 8)]
    rois = torch.tensor([[0, 2., 2., 30., 30.], [0, 0., 0., 60., 60.]])
    assert tuple(extractor(feats, rois).shape) == (2, 8, 7, 7)
