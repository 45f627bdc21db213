import pytest
import torch

from mmdet_lite.core.bbox import BboxOverlaps2D, bbox_overlaps, build_iou_calculator

B1 = torch.tensor([[0., 0., 10., 10.], [0., 0., 4., 4.]])
B2 = torch.tensor([[5., 5., 15., 15.], [20., 20., 30., 30.], [0., 0., 10., 10.]])


def test_iou_iof_giou_hand_numbers():
    # B1[0] vs B2[0]: overlap 25, union 175, enclosing 15x15 = 225
    iou = bbox_overlaps(B1, B2)
    assert iou.shape == (2, 3)
    torch.testing.assert_close(iou[0], torch.tensor([25 / 175, 0., 1.]))
    torch.testing.assert_close(iou[1], torch.tensor([0., 0., 16 / 100]))
    iof = bbox_overlaps(B1, B2, mode='iof')
    torch.testing.assert_close(iof[0], torch.tensor([25 / 100, 0., 1.]))
    torch.testing.assert_close(iof[1], torch.tensor([0., 0., 1.]))
    giou = bbox_overlaps(B1, B2, mode='giou')
    torch.testing.assert_close(giou[0, 0], torch.tensor(25 / 175 - (225 - 175) / 225))
    # disjoint [0,0,10,10] vs [20,20,30,30]: enclosing 900, union 200
    torch.testing.assert_close(giou[0, 1], torch.tensor(0 - 700 / 900))


def test_aligned_equals_diagonal_and_batch_dims():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(2, 4, 2, generator=gen) * 10
    boxes1 = torch.cat([xy, xy + torch.rand(2, 4, 2, generator=gen) * 10 + 1], -1)
    xy = torch.rand(2, 4, 2, generator=gen) * 10
    boxes2 = torch.cat([xy, xy + torch.rand(2, 4, 2, generator=gen) * 10 + 1], -1)
    for mode in ('iou', 'iof', 'giou'):
        full = bbox_overlaps(boxes1, boxes2, mode=mode)
        assert full.shape == (2, 4, 4)
        for b in range(2):
            torch.testing.assert_close(full[b], bbox_overlaps(boxes1[b], boxes2[b], mode=mode))
        aligned = bbox_overlaps(boxes1, boxes2, mode=mode, is_aligned=True)
        torch.testing.assert_close(aligned, torch.diagonal(full, dim1=-2, dim2=-1))


def test_empty_inputs_give_empty_shapes():
    empty = torch.zeros(0, 4)
    assert bbox_overlaps(empty, B2).shape == (0, 3)
    assert bbox_overlaps(B1, empty).shape == (2, 0)
    assert bbox_overlaps(empty, empty).shape == (0, 0)
    assert bbox_overlaps(empty, empty, is_aligned=True).shape == (0, )
    assert bbox_overlaps(torch.zeros(3, 0, 4), torch.zeros(3, 2, 4)).shape == (3, 0, 2)


def test_degenerate_boxes_give_zero_not_nan():
    point = torch.tensor([[3., 3., 3., 3.]])
    for mode in ('iou', 'iof', 'giou'):
        out = bbox_overlaps(point, point, mode=mode)
        assert torch.isfinite(out).all()
    assert bbox_overlaps(point, point).item() == 0.


def test_calculator_drops_score_column_and_builds_from_registry():
    calc = build_iou_calculator(dict(type='BboxOverlaps2D'))
    assert isinstance(calc, BboxOverlaps2D)
    with_scores = torch.cat([B2, torch.tensor([[0.9], [0.1], [0.5]])], dim=1)
    torch.testing.assert_close(calc(B1, with_scores), bbox_overlaps(B1, B2))
    fp16 = BboxOverlaps2D(scale=8., dtype='fp16')
    out = fp16(B1, B2)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, bbox_overlaps(B1, B2), atol=1e-3, rtol=1e-3)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match='mode'):
        bbox_overlaps(B1, B2, mode='dice')
    with pytest.raises(ValueError, match=r'\(\.\.\., N, 4\)'):
        bbox_overlaps(torch.zeros(2, 3), B2)
    with pytest.raises(ValueError, match='is_aligned'):
        bbox_overlaps(B1, B2, is_aligned=True)
    with pytest.raises(ValueError, match='columns'):
        BboxOverlaps2D()(torch.zeros(2, 6), B2)
