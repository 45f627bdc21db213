import math

import pytest
import torch

from mmdet_lite.core.anchor import (AnchorGenerator, anchor_inside_flags, batch_anchor_inside_flags,
                                    build_anchor_generator, build_prior_generator, images_to_levels)

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
R2 = math.sqrt(2)


def rpn_generator(strides=(4, 8, 16, 32, 64)):
    return build_prior_generator(
        dict(type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0], strides=list(strides)))


def test_base_anchors_of_rpn_config_match_hand_numbers():
    gen = rpn_generator()
    # stride 4, scale 8 -> base 32; ratio = h/w; w = 32/sqrt(r), h = 32*sqrt(r)
    expected = torch.tensor([[-16 * R2, -8 * R2, 16 * R2, 8 * R2],
                             [-16., -16., 16., 16.],
                             [-8 * R2, -16 * R2, 8 * R2, 16 * R2]])
    torch.testing.assert_close(gen.base_anchors[0], expected)
    for level, stride in enumerate((4, 8, 16, 32, 64)):
        anchors = gen.base_anchors[level]
        areas = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
        torch.testing.assert_close(areas, torch.full((3, ), float(stride * 8)**2))
    assert gen.num_levels == 5
    assert gen.num_base_anchors == [3] * 5 and gen.num_base_priors == [3] * 5
    assert gen.strides == [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64)]


@pytest.mark.parametrize('device', DEVICES)
def test_stride4_grid_is_location_major_then_anchor(device):
    gen = rpn_generator(strides=[4])
    (anchors, ) = gen.grid_priors([(2, 3)], device=device)
    assert anchors.shape == (2 * 3 * 3, 4) and anchors.device.type == device
    # row (y*W + x)*A + a; (y=1, x=2, a=1 square 32x32) -> shift (8, 4)
    torch.testing.assert_close(anchors[(1 * 3 + 2) * 3 + 1].cpu(), torch.tensor([-8., -12., 24., 20.]))
    # (y=0, x=1, a=0): shift (4, 0)
    torch.testing.assert_close(anchors[3].cpu(),
                               torch.tensor([4 - 16 * R2, -8 * R2, 4 + 16 * R2, 8 * R2]))
    torch.testing.assert_close(gen.grid_anchors([(2, 3)], device=device)[0], anchors)


def test_grid_priors_dtype_and_rectangular_stride():
    gen = AnchorGenerator(strides=[(8, 4)], ratios=[1.0], scales=[1.0], base_sizes=[2])
    (anchors, ) = gen.grid_priors([(2, 2)], dtype=torch.float64, device='cpu')
    assert anchors.dtype == torch.float64
    expected = torch.tensor([[-1, -1, 1, 1], [7, -1, 9, 1], [-1, 3, 1, 5], [7, 3, 9, 5]],
                            dtype=torch.float64)
    torch.testing.assert_close(anchors, expected)


def test_sparse_priors_equal_grid_rows():
    gen = rpn_generator()
    grid = gen.grid_priors([(5, 7)] * 5, device='cpu')
    idxs = torch.tensor([0, 4, 17, 104])
    torch.testing.assert_close(gen.sparse_priors(idxs, (5, 7), 2, device='cpu'), grid[2][idxs])


def test_valid_flags_mark_locations_outside_own_padded_shape():
    gen = rpn_generator(strides=[4, 8])
    # batch featmaps 3x4 (stride 4) and 2x2 (stride 8); this image is padded to 9x7 only
    flags = gen.valid_flags([(3, 4), (2, 2)], pad_shape=(9, 7, 3), device='cpu')
    # stride 4: ceil(9/4)=3 rows, ceil(7/4)=2 cols valid
    per_loc = torch.tensor([[1, 1, 0, 0]] * 3, dtype=torch.bool).view(-1)
    assert torch.equal(flags[0], per_loc.repeat_interleave(3))
    # stride 8: ceil(9/8)=2 rows, ceil(7/8)=1 col
    per_loc = torch.tensor([[1, 0], [1, 0]], dtype=torch.bool).view(-1)
    assert torch.equal(flags[1], per_loc.repeat_interleave(3))
    assert flags[0].dtype == torch.bool


def test_octave_scales_and_scale_major_ordering():
    gen = AnchorGenerator(strides=[8], ratios=[1.0], octave_base_scale=4, scales_per_octave=3)
    torch.testing.assert_close(gen.scales, torch.tensor([4., 4 * 2**(1 / 3), 4 * 2**(2 / 3)]))
    assert gen.num_base_anchors == [3]
    ratio_major = AnchorGenerator(strides=[1], ratios=[0.25, 1.0], scales=[1, 2], base_sizes=[4])
    scale_major_false = AnchorGenerator(strides=[1], ratios=[0.25, 1.0], scales=[1, 2],
                                        base_sizes=[4], scale_major=False)
    widths = lambda g: (g.base_anchors[0][:, 2] - g.base_anchors[0][:, 0]).tolist()  # noqa: E731
    # ratio 0.25 -> w = 4 * 2 * s; ratio 1 -> w = 4 * s
    assert widths(ratio_major) == [8., 16., 4., 8.]
    assert widths(scale_major_false) == [8., 4., 16., 8.]


def test_center_offset_and_explicit_centers():
    gen = AnchorGenerator(strides=[4], ratios=[1.0], scales=[2], center_offset=0.5)
    torch.testing.assert_close(gen.base_anchors[0], torch.tensor([[-2., -2., 6., 6.]]))
    gen = AnchorGenerator(strides=[4], ratios=[1.0], scales=[2], centers=[(1., 3.)])
    torch.testing.assert_close(gen.base_anchors[0], torch.tensor([[-3., -1., 5., 7.]]))


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match='scales'):
        AnchorGenerator(strides=[4], ratios=[1.0])
    with pytest.raises(ValueError, match='center_offset'):
        AnchorGenerator(strides=[4], ratios=[1.0], scales=[1], center_offset=2)
    with pytest.raises(ValueError, match='featmap_sizes'):
        rpn_generator().grid_priors([(2, 2)], device='cpu')


def test_build_anchor_generator_alias():
    with pytest.warns(UserWarning):
        gen = build_anchor_generator(dict(type='AnchorGenerator', scales=[8], ratios=[1.0],
                                          strides=[16]))
    assert isinstance(gen, AnchorGenerator)


def test_anchor_inside_flags_respects_border_and_valid_flags():
    anchors = torch.tensor([[0., 0., 10., 10.], [-3., 0., 5., 5.], [5., 5., 21., 12.],
                            [1., 1., 4., 4.]])
    valid = torch.tensor([True, True, True, False])
    assert anchor_inside_flags(anchors, valid, (12, 20, 3), 0).tolist() == [True, False, False, False]
    assert anchor_inside_flags(anchors, valid, (12, 20, 3), 3).tolist() == [True, True, True, False]
    # negative border disables the check
    assert torch.equal(anchor_inside_flags(anchors, valid, (12, 20, 3), -1), valid)


def test_images_to_levels_splits_per_level():
    targets = [torch.arange(5), torch.arange(5) + 10]
    levels = images_to_levels(targets, [3, 2])
    assert levels[0].tolist() == [[0, 1, 2], [10, 11, 12]]
    assert levels[1].tolist() == [[3, 4], [13, 14]]
    with pytest.raises(ValueError, match='num_levels'):
        images_to_levels(targets, [3, 3])


def test_legacy_base_anchors_use_1x_pixel_convention_and_round():
    # 1.x: centre 0.5 * (4 - 1) = 1.5; corners 1.5 -+ 0.5 * (side - 1), rounded
    # ratio 0.5: w = 32 * sqrt(2) = 45.25, h = 22.63 -> x 1.5 -+ 22.13, y 1.5 -+ 10.81
    gen = build_prior_generator(dict(type='LegacyAnchorGenerator', center_offset=0.5, scales=[8],
                                     ratios=[0.5, 1.0, 2.0], strides=[4]))
    expected = torch.tensor([[-21., -9., 24., 12.], [-14., -14., 17., 17.], [-9., -21., 12., 24.]])
    torch.testing.assert_close(gen.base_anchors[0], expected)
    torch.testing.assert_close(gen.grid_priors([(1, 2)], device='cpu')[0][3:], expected + torch.tensor([4., 0., 4., 0.]))


def test_batch_valid_and_inside_flags_equal_those_of_each_image():
    generator = AnchorGenerator(strides=[(8, 4), 16], ratios=[0.5, 1.0], scales=[2, 3])
    featmap_sizes = [(16, 10), (4, 5)]
    pad_shapes, img_shapes = [(64, 80, 3), (30, 41, 3), (64, 16)], [(60, 80, 3), (30, 37, 3), (50, 10)]
    batch_flags = generator.batch_valid_flags(featmap_sizes, pad_shapes, device='cpu')
    anchors = torch.cat(generator.grid_priors(featmap_sizes, device='cpu'))
    for allowed_border in (-1, 0, 3.5):
        inside = batch_anchor_inside_flags(anchors, torch.cat(batch_flags, dim=1), img_shapes, allowed_border)
        for img, (pad_shape, img_shape) in enumerate(zip(pad_shapes, img_shapes)):
            flags = [  # the per-level reference
                generator.single_level_valid_flags(
                    (h, w), (min(math.ceil(pad_shape[0] / stride_h), h), min(math.ceil(pad_shape[1] / stride_w), w)),
                    4, 'cpu')
                for (h, w), (stride_w, stride_h) in zip(featmap_sizes, generator.strides)]
            assert all(torch.equal(batch_level[img], level) for batch_level, level in zip(batch_flags, flags))
            expected = anchor_inside_flags(anchors, torch.cat(flags), img_shape, allowed_border)
            assert torch.equal(inside[img], expected)
    assert not batch_flags[0][1].all() and batch_flags[0][0].all()
    flat = generator.batch_valid_flags(featmap_sizes, pad_shapes, device='cpu', flat=True)
    assert torch.equal(flat, torch.cat(batch_flags, dim=1))


def test_grid_priors_are_cached_per_sizes_dtype_and_device_and_the_cache_is_bounded():
    generator = rpn_generator()
    sizes = [(8, 10), (4, 5), (2, 3), (1, 2), (1, 1)]
    first = generator.grid_priors(sizes, device='cpu')
    again = generator.grid_priors(sizes, device='cpu')
    assert again is not first and all(a is b for a, b in zip(again, first))
    half = generator.grid_priors(sizes, dtype=torch.float16, device='cpu')
    assert half[0].dtype == torch.float16 and torch.allclose(half[0].float(), first[0], atol=0.01)  # its own entry
    for extra in range(AnchorGenerator.GRID_CACHE_SIZE):
        generator.grid_priors([(9 + extra, 10)] + sizes[1:], device='cpu')
    assert len(generator._grid_cache) == AnchorGenerator.GRID_CACHE_SIZE
    fresh = generator.grid_priors(sizes, device='cpu')  # evicted: computed anew, the same values
    assert fresh[0] is not first[0] and all(torch.equal(f, o) for f, o in zip(fresh, first))
