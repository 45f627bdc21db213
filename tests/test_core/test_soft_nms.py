"""Soft-NMS against a naive pure-Python reference and hand-computed decays."""
import math

import pytest
import torch

from mmdet_lite.core.post_processing import batched_nms, multiclass_nms, soft_nms

from .test_bbox_nms import iou

# A and B overlap with IoU 50 / 150 = 1/3; C overlaps neither
BOXES = torch.tensor([[0., 0., 10., 10.], [5., 0., 15., 10.], [20., 20., 30., 30.]])
SCORES = torch.tensor([0.9, 0.8, 0.7])


def naive_soft_nms(boxes, scores, iou_threshold, sigma, min_score, method):
    """mmcv's CPU loop over Python lists: returns [(index, decayed score)] in pick order."""
    alive = {i: s for i, s in enumerate(scores)}
    kept = []
    while alive:
        pick = max(alive, key=lambda i: (alive[i], -i))
        kept.append((pick, alive.pop(pick)))
        for j in list(alive):
            overlap = iou(boxes[pick], boxes[j])
            if method == 'linear':
                alive[j] *= 1 - overlap if overlap > iou_threshold else 1.
            elif method == 'gaussian':
                alive[j] *= math.exp(-overlap * overlap / sigma)
            else:
                alive[j] *= 0. if overlap > iou_threshold else 1.
            if alive[j] < min_score:
                del alive[j]
    return kept


def test_soft_nms_linear_hand_numbers():
    dets, keep = soft_nms(BOXES, SCORES, iou_threshold=0.3, method='linear')
    assert keep.tolist() == [0, 2, 1]
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7, 0.8 * 2 / 3]))
    torch.testing.assert_close(dets[:, :4], BOXES[[0, 2, 1]])
    # below the threshold the linear decay does nothing
    _, keep = soft_nms(BOXES, SCORES, iou_threshold=0.5, method='linear')
    assert keep.tolist() == [0, 1, 2]


def test_soft_nms_gaussian_hand_numbers_and_min_score():
    dets, keep = soft_nms(BOXES, SCORES, sigma=0.5, method='gaussian')
    assert keep.tolist() == [0, 2, 1]
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7, 0.8 * math.exp(-2 / 9)]))
    _, keep = soft_nms(BOXES, SCORES, sigma=0.5, min_score=0.65, method='gaussian')
    assert keep.tolist() == [0, 2]


@pytest.mark.parametrize('method', ['linear', 'gaussian', 'naive'])
def test_soft_nms_matches_naive_reference(method):
    gen = torch.Generator().manual_seed(3)
    xy = torch.rand(40, 2, generator=gen) * 30
    boxes = torch.cat([xy, xy + torch.rand(40, 2, generator=gen) * 15 + 1], dim=1)
    scores = torch.rand(40, generator=gen)
    dets, keep = soft_nms(boxes, scores, iou_threshold=0.4, sigma=0.5, min_score=0.05,
                          method=method)
    expected = naive_soft_nms(boxes.tolist(), scores.tolist(), 0.4, 0.5, 0.05, method)
    assert keep.tolist() == [i for i, _ in expected]
    torch.testing.assert_close(dets[:, 4], torch.tensor([s for _, s in expected]))
    assert bool((dets[1:, 4] <= dets[:-1, 4]).all())


def test_soft_nms_empty_and_bad_method():
    dets, keep = soft_nms(torch.zeros(0, 4), torch.zeros(0))
    assert dets.shape == (0, 5) and keep.shape == (0, )
    with pytest.raises(ValueError, match='method'):
        soft_nms(BOXES, SCORES, method='hard')


def test_batched_soft_nms_decays_only_within_a_class():
    cfg = dict(type='soft_nms', iou_threshold=0.3, min_score=0.05)
    dets, keep = batched_nms(BOXES, SCORES, torch.tensor([0, 1, 0]), cfg)
    assert keep.tolist() == [0, 1, 2]
    torch.testing.assert_close(dets, torch.cat([BOXES, SCORES[:, None]], dim=1))
    dets, keep = batched_nms(BOXES, SCORES, torch.tensor([0, 0, 1]), dict(cfg, split_thr=2))
    assert keep.tolist() == [0, 2, 1]
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7, 0.8 * 2 / 3]))


def test_multiclass_nms_accepts_rcnn_soft_nms_config():
    # class 0 scores, class 1 scores, background
    multi_scores = torch.tensor([[0.9, 0.01, 0.09], [0.8, 0.01, 0.19], [0.01, 0.7, 0.29]])
    nms_cfg = dict(type='soft_nms', iou_threshold=0.3, min_score=0.05)
    dets, labels = multiclass_nms(BOXES, multi_scores, 0.05, nms_cfg, max_num=100)
    assert labels.tolist() == [0, 1, 0]
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7, 0.8 * 2 / 3]))
