import math

import pytest
import torch

from mmdet_lite.core.bbox import DeltaXYWHBBoxCoder, bbox2delta, build_bbox_coder, delta2bbox

RCNN_STDS = (0.1, 0.1, 0.2, 0.2)


def random_boxes(num, seed, scale=50.):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=gen) * scale
    wh = torch.rand(num, 2, generator=gen) * scale + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_encode_hand_numbers_with_rcnn_stds():
    coder = build_bbox_coder(dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                                  target_stds=list(RCNN_STDS)))
    proposals = torch.tensor([[0., 0., 10., 10.]])
    gt = torch.tensor([[5., 5., 15., 25.]])
    # dx = (10-5)/10, dy = (15-5)/10, dw = log(10/10), dh = log(20/10); then / stds
    expected = torch.tensor([[0.5 / 0.1, 1.0 / 0.1, 0., math.log(2) / 0.2]])
    torch.testing.assert_close(coder.encode(proposals, gt), expected)


def test_encode_decode_round_trip():
    coder = DeltaXYWHBBoxCoder(target_means=(0.1, -0.2, 0.05, 0.), target_stds=RCNN_STDS)
    proposals, gt = random_boxes(64, 0), random_boxes(64, 1)
    deltas = coder.encode(proposals, gt)
    torch.testing.assert_close(coder.decode(proposals, deltas), gt, atol=1e-4, rtol=1e-5)


def test_class_specific_deltas_decode_each_class_like_single():
    coder = DeltaXYWHBBoxCoder(target_stds=RCNN_STDS)
    rois = random_boxes(5, 2)
    deltas = torch.randn(5, 3 * 4, generator=torch.Generator().manual_seed(3))
    decoded = coder.decode(rois, deltas, max_shape=(40, 60, 3))
    assert decoded.shape == (5, 12)
    for cls in range(3):
        single = coder.decode(rois, deltas[:, 4 * cls:4 * cls + 4], max_shape=(40, 60, 3))
        torch.testing.assert_close(decoded[:, 4 * cls:4 * cls + 4], single)


def test_wh_ratio_clip_clamps_log_scale():
    rois = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 10.]])
    deltas = torch.tensor([[0., 0., 10., -10.], [0., 0., 0.5, 0.]])
    boxes = delta2bbox(rois, deltas)
    max_ratio = 1000 / 16  # exp(|log(16/1000)|)
    torch.testing.assert_close(boxes[0], torch.tensor([5 - 5 * max_ratio, 5 - 5 / max_ratio,
                                                       5 + 5 * max_ratio, 5 + 5 / max_ratio]))
    # inside the clip range nothing changes: w = 10 * e^0.5
    half_w = 5 * math.exp(0.5)
    torch.testing.assert_close(boxes[1], torch.tensor([5 - half_w, 0., 5 + half_w, 10.]))
    tight = delta2bbox(rois[:1], deltas[:1], wh_ratio_clip=math.exp(-1))
    torch.testing.assert_close(tight[0], torch.tensor([5 - 5 * math.e, 5 - 5 / math.e,
                                                       5 + 5 * math.e, 5 + 5 / math.e]))


def test_decode_clips_to_image_border():
    coder = DeltaXYWHBBoxCoder()
    rois = torch.tensor([[20., 10., 30., 20.], [0., 0., 10., 10.]])
    deltas = torch.tensor([[0.5, 0.5, 0., 0.], [-1., -1., 0., 0.]])
    # centres (30, 20) and (-5, -5), size 10; image h=20, w=30
    boxes = coder.decode(rois, deltas, max_shape=(20, 30, 3))
    torch.testing.assert_close(boxes, torch.tensor([[25., 15., 30., 20.], [0., 0., 0., 0.]]))
    unclipped = DeltaXYWHBBoxCoder(clip_border=False).decode(rois, deltas, max_shape=(20, 30))
    torch.testing.assert_close(unclipped, torch.tensor([[25., 15., 35., 25.],
                                                        [-10., -10., 0., 0.]]))


def test_batched_decode_with_per_image_shapes():
    coder = DeltaXYWHBBoxCoder()
    rois = random_boxes(6, 4).view(2, 3, 4)
    deltas = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(5))
    shapes = [[30, 40], [20, 25]]
    boxes = coder.decode(rois, deltas, max_shape=shapes)
    for img in range(2):
        torch.testing.assert_close(boxes[img], coder.decode(rois[img], deltas[img],
                                                            max_shape=shapes[img]))


def test_add_ctr_clamp_limits_centre_shift():
    coder = DeltaXYWHBBoxCoder(add_ctr_clamp=True, ctr_clamp=32)
    boxes = coder.decode(torch.tensor([[0., 0., 10., 10.]]), torch.tensor([[10., -10., 0., 0.]]))
    torch.testing.assert_close(boxes, torch.tensor([[32., -32., 42., -22.]]))


def test_degenerate_and_out_of_image_rois_decode_without_nan():
    rois = torch.tensor([[5., 5., 5., 5.], [-100., -100., -50., -40.], [0., 0., 1e-6, 2.]])
    deltas = torch.tensor([[3., -3., 100., -100.], [0., 0., 5., 5.], [1., 1., 0., 0.]])
    boxes = delta2bbox(rois, deltas, max_shape=(30, 40))
    assert torch.isfinite(boxes).all()
    assert (boxes[:, 0::2] <= 40).all() and (boxes[:, 1::2] <= 30).all() and (boxes >= 0).all()


def test_shape_mismatch_raises():
    coder = DeltaXYWHBBoxCoder()
    with pytest.raises(ValueError, match='rows'):
        coder.encode(torch.zeros(2, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match='pred_bboxes'):
        coder.decode(torch.zeros(2, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match='4k'):
        delta2bbox(torch.zeros(2, 4), torch.zeros(2, 6))


def test_empty_inputs():
    coder = DeltaXYWHBBoxCoder()
    assert coder.encode(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)
    assert coder.decode(torch.zeros(0, 4), torch.zeros(0, 8), max_shape=(5, 5)).shape == (0, 8)
    assert bbox2delta(torch.zeros(0, 4), torch.zeros(0, 4)).dtype == torch.float32


def _column_encode(p, g, means, stds):
    """bbox2delta one coordinate column at a time (the formula as written)."""
    px, py = (p[..., 0] + p[..., 2]) * 0.5, (p[..., 1] + p[..., 3]) * 0.5
    pw, ph = p[..., 2] - p[..., 0], p[..., 3] - p[..., 1]
    gx, gy = (g[..., 0] + g[..., 2]) * 0.5, (g[..., 1] + g[..., 3]) * 0.5
    gw, gh = g[..., 2] - g[..., 0], g[..., 3] - g[..., 1]
    deltas = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=-1)
    return (deltas - torch.tensor(means)) / torch.tensor(stds)


def _column_decode(rois, deltas, means, stds, max_ratio, ctr_clamp=None):
    """delta2bbox one coordinate column at a time, k boxes per roi, no clipping to the image."""
    d = deltas * torch.tensor(stds).repeat(deltas.size(-1) // 4) + torch.tensor(means).repeat(deltas.size(-1) // 4)
    dx, dy, dw, dh = d[..., 0::4], d[..., 1::4], d[..., 2::4], d[..., 3::4]
    px = ((rois[..., 0] + rois[..., 2]) * 0.5)[..., None]
    py = ((rois[..., 1] + rois[..., 3]) * 0.5)[..., None]
    pw, ph = (rois[..., 2] - rois[..., 0])[..., None], (rois[..., 3] - rois[..., 1])[..., None]
    dxw, dyh = pw * dx, ph * dy
    if ctr_clamp is None:
        dw, dh = dw.clamp(-max_ratio, max_ratio), dh.clamp(-max_ratio, max_ratio)
    else:
        dxw, dyh = dxw.clamp(-ctr_clamp, ctr_clamp), dyh.clamp(-ctr_clamp, ctr_clamp)
        dw, dh = dw.clamp(max=max_ratio), dh.clamp(max=max_ratio)
    gw, gh, gx, gy = pw * dw.exp(), ph * dh.exp(), px + dxw, py + dyh
    return torch.stack([gx - gw * 0.5, gy - gh * 0.5, gx + gw * 0.5, gy + gh * 0.5], dim=-1).view(deltas.size())


@pytest.mark.parametrize('ctr_clamp', [None, 4.0])
def test_coding_is_bit_equal_to_the_formula_column_by_column(ctr_clamp):
    generator = torch.Generator().manual_seed(0)
    xy = torch.rand(2, 50, 2, generator=generator) * 100
    rois = torch.cat([xy, xy + torch.rand(2, 50, 2, generator=generator) * 80 + 1], dim=-1)
    gts = torch.cat([xy + 3, xy + torch.rand(2, 50, 2, generator=generator) * 90 + 5], dim=-1)
    means, stds = (0.1, -0.2, 0.0, 0.05), (0.1, 0.1, 0.2, 0.2)
    assert torch.equal(bbox2delta(rois, gts, means, stds), _column_encode(rois, gts, means, stds))
    deltas = torch.randn(2, 50, 12, generator=generator) * 3  # 3 boxes per roi, some clamped
    max_ratio = abs(math.log(16 / 1000))
    got = delta2bbox(rois, deltas, means, stds, add_ctr_clamp=ctr_clamp is not None, ctr_clamp=ctr_clamp or 32)
    assert torch.equal(got, _column_decode(rois, deltas, means, stds, max_ratio, ctr_clamp))
