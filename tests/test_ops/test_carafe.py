"""carafe against naive loops over output pixels and taps (float64, values and gradients), the
centre-tap mask as nearest upsampling, and CARAFEPack's keys, shapes and normalisation."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_upsample_layer

from mmdet_lite.ops import CARAFEPack, carafe


def naive_carafe(features, masks, kernel_size, group_size, scale_factor):
    """mmcv's carafe_naive kernel as loops: output pixel (y, x) of channel group g sums
    masks[g*K + i*k + j, y, x] * features[y//s + i - r, x//s + j - r] over in-map taps."""
    num_imgs, channels, height, width = features.shape
    radius = (kernel_size - 1) // 2
    group_channels = channels // group_size
    out = [[[None] * (width * scale_factor) for _ in range(height * scale_factor)] for _ in range(num_imgs)]
    for n in range(num_imgs):
        for y in range(height * scale_factor):
            for x in range(width * scale_factor):
                per_group = []
                for g in range(group_size):
                    total = features.new_zeros(group_channels)
                    for i in range(kernel_size):
                        for j in range(kernel_size):
                            src_y, src_x = y // scale_factor + i - radius, x // scale_factor + j - radius
                            if 0 <= src_y < height and 0 <= src_x < width:
                                weight = masks[n, g * kernel_size * kernel_size + i * kernel_size + j, y, x]
                                total = total + weight * features[n, g * group_channels:(g + 1) * group_channels,
                                                                  src_y, src_x]
                    per_group.append(total)
                out[n][y][x] = torch.cat(per_group)
    return torch.stack([torch.stack([torch.stack(row, -1) for row in img], -2) for img in out])


@pytest.mark.parametrize('kernel_size, group_size, scale_factor', [(3, 1, 2), (5, 2, 2), (3, 2, 3)])
def test_values_and_gradients_match_naive_loops(kernel_size, group_size, scale_factor):
    gen = torch.Generator().manual_seed(kernel_size * 10 + group_size)
    height, width = {(3, 1, 2): (6, 6), (5, 2, 2): (4, 5), (3, 2, 3): (3, 4)}[kernel_size, group_size, scale_factor]
    features = torch.randn(1, 4, height, width, generator=gen, dtype=torch.float64, requires_grad=True)
    masks = torch.rand(1, group_size * kernel_size ** 2, height * scale_factor, width * scale_factor, generator=gen,
                       dtype=torch.float64, requires_grad=True)
    out = carafe(features, masks, kernel_size, group_size, scale_factor)
    expected = naive_carafe(features, masks, kernel_size, group_size, scale_factor)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    grad_out = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    grads = torch.autograd.grad(out, (features, masks), grad_out)
    expected_grads = torch.autograd.grad(expected, (features, masks), grad_out)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-12)


def test_centre_tap_mask_is_nearest_upsampling():
    features = torch.randn(2, 4, 6, 5, dtype=torch.float64)
    masks = torch.zeros(2, 2 * 25, 12, 10, dtype=torch.float64)
    masks[:, 12] = masks[:, 25 + 12] = 1  # tap (2, 2) of a 5x5 kernel, both groups
    torch.testing.assert_close(carafe(features, masks, 5, 2, 2), F.interpolate(features, scale_factor=2,
                                                                               mode='nearest'))


def test_bad_mask_shape_and_group_raise():
    features = torch.randn(1, 4, 3, 3)
    with pytest.raises(ValueError, match=r'masks must have shape \(1, 9, 6, 6\)'):
        carafe(features, torch.rand(1, 9, 3, 3), 3, 1, 2)
    with pytest.raises(ValueError, match='group_size=3'):
        carafe(features, torch.rand(1, 27, 6, 6), 3, 3, 2)


def test_carafe_pack_keys_shapes_and_normalised_masks():
    torch.manual_seed(0)
    pack = build_upsample_layer(dict(type='carafe', channels=16, scale_factor=2, up_kernel=5, up_group=1,
                                     encoder_kernel=3, encoder_dilation=1, compressed_channels=64))
    assert isinstance(pack, CARAFEPack)
    assert {k: tuple(v.shape) for k, v in pack.state_dict().items()} == {
        'channel_compressor.weight': (64, 16, 1, 1), 'channel_compressor.bias': (64,),
        'content_encoder.weight': (5 * 5 * 1 * 2 * 2, 64, 3, 3), 'content_encoder.bias': (100,)}
    encoder = pack.content_encoder
    assert float(encoder.weight.detach().std()) < 0.002 and float(encoder.bias.detach().abs().max()) == 0
    logits = torch.randn(2, 100, 4, 3)
    masks = pack.kernel_normalizer(logits)
    assert tuple(masks.shape) == (2, 25, 8, 6)
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 8, 6))
    # pixel (1, 1) of the upsampled mask is sub-pixel (1, 1) of input pixel (0, 0): encoder channels k*4 + 3
    torch.testing.assert_close(masks[0, :, 1, 1], logits[0, 3::4, 0, 0].softmax(0))
    x = torch.randn(2, 16, 4, 3)
    assert tuple(pack(x).shape) == (2, 16, 8, 6)
