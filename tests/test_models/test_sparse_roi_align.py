"""sparse_roi_align against torchvision's roi_align kernel (the oracle): values and gradients, float64."""
import pytest
import torch
from torchvision.ops import roi_align

from mmdet_lite.models.roi_heads.roi_extractors import RoIAlign
from mmdet_lite.models.roi_heads.roi_extractors.sparse_roi_align import roi_align_matrix, sparse_roi_align


def _random_rois(num_rois, num_imgs, height, width, spatial_scale, seed=0):
    """RoIs (R, 5) in input pixels: most inside the map, some crossing or beyond its border, sizes from
    sub-pixel to larger than the map, plus hand-picked degenerate ones."""
    gen = torch.Generator().manual_seed(seed)
    extent = torch.tensor([width, height], dtype=torch.float64) / spatial_scale
    xy = torch.rand(num_rois, 2, generator=gen, dtype=torch.float64) * extent * 1.3 - 0.15 * extent
    wh = torch.rand(num_rois, 2, generator=gen, dtype=torch.float64) ** 2 * extent
    batch = torch.randint(0, num_imgs, (num_rois, 1), generator=gen).double()
    rois = torch.cat([batch, xy, xy + wh], dim=1)
    rois[:4, 1:] = torch.tensor([[5., 5., 5., 5.],               # zero size
                                 [10., 10., 2., 3.],             # reversed corners
                                 [-1e3, -1e3, 1e4, 1e4],          # far larger than the map
                                 [-50., -40., -20., -30.]])       # entirely outside
    return rois


@pytest.mark.parametrize('sampling_ratio', [0, 2, 3])
@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('spatial_scale', [1 / 4, 1 / 16])
def test_matches_torchvision_values_and_gradients(sampling_ratio, aligned, spatial_scale):
    num_imgs, channels, height, width = 2, 3, 11, 14
    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(num_imgs, channels, height, width, generator=gen, dtype=torch.float64, requires_grad=True)
    rois = _random_rois(200, num_imgs, height, width, spatial_scale)
    expected = roi_align(feats, rois, (7, 6), spatial_scale, sampling_ratio, aligned)
    grad_out = torch.randn(expected.shape, generator=gen, dtype=torch.float64)
    expected_grad, = torch.autograd.grad(expected, feats, grad_out)

    out = sparse_roi_align(feats, rois, (7, 6), spatial_scale, sampling_ratio, aligned)
    grad, = torch.autograd.grad(out, feats, grad_out)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-12)
    assert expected.abs().sum() > 0 and expected_grad.abs().sum() > 0


def test_channels_last_float32_features_match_and_stay_channels_last():
    feats = torch.randn(2, 16, 32, 40).contiguous(memory_format=torch.channels_last)
    rois = _random_rois(64, 2, 32, 40, 1 / 8).float()
    out = sparse_roi_align(feats, rois, (7, 7), 1 / 8, 0, True)
    torch.testing.assert_close(out, roi_align(feats, rois, (7, 7), 1 / 8, 0, True), rtol=1e-5, atol=1e-5)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_no_rois_gives_empty_output_and_zero_gradient():
    feats = torch.randn(1, 4, 8, 8, requires_grad=True)
    out = sparse_roi_align(feats, torch.zeros(0, 5), (7, 7), 1 / 4, 0, True)
    assert tuple(out.shape) == (0, 4, 7, 7)
    out.sum().backward()
    assert torch.count_nonzero(feats.grad) == 0


def test_matrix_rows_average_bilinear_weights_of_each_bin():
    # a 2x2-pixel RoI pooled to 1x1 with 2x2 samples at pixel centres: each pixel gets weight 1/4
    rois = torch.tensor([[0., 1., 1., 3., 3.]])
    matrix = roi_align_matrix(rois, (1, 4, 4), (1, 1), 1.0, 2, aligned=True).to_dense()
    expected = torch.zeros(1, 16)
    expected[0, [5, 6, 9, 10]] = 0.25
    torch.testing.assert_close(matrix, expected)


def test_roi_align_layer_on_cpu_gives_torchvision_results():
    layer = RoIAlign(output_size=7, spatial_scale=1 / 4, sampling_ratio=0)
    feats = torch.randn(1, 8, 16, 16, dtype=torch.float64, requires_grad=True)
    rois = _random_rois(20, 1, 16, 16, 1 / 4)
    out = layer(feats, rois)
    assert out.is_contiguous(memory_format=torch.channels_last)  # the sparse product's layout, not torchvision's
    torch.testing.assert_close(out, roi_align(feats, rois, (7, 7), 1 / 4, 0, True), rtol=0, atol=1e-12)
