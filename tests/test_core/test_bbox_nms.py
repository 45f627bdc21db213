import pytest
import torch

from mmdet_lite.core.post_processing import batched_nms, multiclass_nms, nms

NMS_CFG = dict(type='nms', iou_threshold=0.5)


def iou(a, b):
    """IoU of two boxes given as lists (no +1), computed by hand."""
    w = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(union, 1e-6)


def naive_nms(boxes, scores, thr):
    """Greedy NMS over Python lists; returns kept indices by descending score."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep, suppressed = [], set()
    for i in order:
        if i in suppressed:
            continue
        keep.append(i)
        for j in order:
            if j != i and j not in suppressed and iou(boxes[i], boxes[j]) > thr:
                suppressed.add(j)
    return keep


def naive_batched_nms(boxes, scores, idxs, thr):
    keep = []
    for group in sorted(set(idxs)):
        members = [i for i in range(len(idxs)) if idxs[i] == group]
        kept = naive_nms([boxes[i] for i in members], [scores[i] for i in members], thr)
        keep += [members[k] for k in kept]
    return sorted(keep, key=lambda i: -scores[i])


def clustered_boxes(num, seed):
    """Boxes around a few centres so that NMS has work to do; distinct scores."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[20., 20.], [25., 22.], [60., 50.]])
    ctr = centres[torch.randint(0, 3, (num, ), generator=gen)] + torch.randn(num, 2, generator=gen) * 3
    wh = torch.rand(num, 2, generator=gen) * 10 + 8
    boxes = torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1)
    scores = torch.randperm(num, generator=gen).float() / num + 0.01
    return boxes, scores


@pytest.mark.parametrize('seed', [0, 1])
def test_nms_matches_greedy_reference(seed):
    boxes, scores = clustered_boxes(40, seed)
    dets, keep = nms(boxes, scores, 0.5)
    assert keep.tolist() == naive_nms(boxes.tolist(), scores.tolist(), 0.5)
    torch.testing.assert_close(dets, torch.cat([boxes[keep], scores[keep, None]], 1))


def test_nms_offset_score_threshold_and_max_num():
    boxes = torch.tensor([[0., 0., 9., 9.], [5., 0., 14., 9.], [30., 30., 40., 40.]])
    scores = torch.tensor([0.9, 0.8, 0.1])
    # offset 0: IoU 36/126 = 0.286 -> kept; offset 1: 50/150 = 0.333 -> suppressed
    assert nms(boxes, scores, 0.3)[1].tolist() == [0, 1, 2]
    assert nms(boxes, scores, 0.3, offset=1)[1].tolist() == [0, 2]
    assert nms(boxes, scores, 0.3, score_threshold=0.5)[1].tolist() == [0, 1]
    assert nms(boxes, scores, 0.3, max_num=1)[1].tolist() == [0]


@pytest.mark.parametrize('split_thr', [10000, 5])
def test_batched_nms_matches_per_group_reference(split_thr):
    boxes, scores = clustered_boxes(60, 3)
    idxs = torch.randint(0, 4, (60, ), generator=torch.Generator().manual_seed(4))
    dets, keep = batched_nms(boxes, scores, idxs, dict(NMS_CFG, split_thr=split_thr))
    expected = naive_batched_nms(boxes.tolist(), scores.tolist(), idxs.tolist(), 0.5)
    assert keep.tolist() == expected
    torch.testing.assert_close(dets, torch.cat([boxes[keep], scores[keep, None]], 1))


def test_batched_nms_class_agnostic_and_empty():
    boxes, scores = clustered_boxes(30, 5)
    idxs = torch.arange(30) % 3
    _, keep = batched_nms(boxes, scores, idxs, NMS_CFG, class_agnostic=True)
    assert keep.tolist() == naive_nms(boxes.tolist(), scores.tolist(), 0.5)
    _, keep_cfg = batched_nms(boxes, scores, idxs, dict(NMS_CFG, class_agnostic=True))
    assert torch.equal(keep, keep_cfg)
    dets, keep = batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                             NMS_CFG)
    assert dets.shape == (0, 5) and keep.shape == (0, )
    with pytest.raises(ValueError, match='nms_cfg type'):
        batched_nms(boxes, scores, idxs, dict(type='fast_nms', iou_threshold=0.5))


def naive_multiclass_nms(bboxes, scores, score_thr, thr, max_num, class_specific):
    """Loop over every (box, class) pair, NMS per class, sort, truncate."""
    num_classes = len(scores[0]) - 1
    pairs = []
    for i in range(len(bboxes)):
        for c in range(num_classes):
            if scores[i][c] > score_thr:
                box = bboxes[i][4 * c:4 * c + 4] if class_specific else bboxes[i]
                pairs.append((box, scores[i][c], c))
    keep = naive_batched_nms([p[0] for p in pairs], [p[1] for p in pairs], [p[2] for p in pairs],
                             thr)
    if max_num > 0:
        keep = keep[:max_num]
    return [pairs[k][0] + [pairs[k][1]] for k in keep], [pairs[k][2] for k in keep]


@pytest.mark.parametrize('class_specific', [True, False])
def test_multiclass_nms_matches_reference(class_specific):
    gen = torch.Generator().manual_seed(6)
    num_boxes, num_classes = 25, 3
    base, _ = clustered_boxes(num_boxes, 7)
    bboxes = (base.repeat(1, num_classes) + torch.randn(num_boxes, 4 * num_classes, generator=gen)
              if class_specific else base)
    scores = torch.rand(num_boxes, num_classes + 1, generator=gen).softmax(-1)
    dets, labels = multiclass_nms(bboxes, scores, 0.2, NMS_CFG, max_num=10)
    exp_dets, exp_labels = naive_multiclass_nms(bboxes.tolist(), scores.tolist(), 0.2, 0.5, 10,
                                                class_specific)
    assert len(exp_labels) > 3
    assert labels.tolist() == exp_labels
    torch.testing.assert_close(dets, torch.tensor(exp_dets))


def test_multiclass_nms_threshold_is_strict_and_background_dropped():
    bboxes = torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([[0.05, 0.5, 0.45], [0.06, 0.0, 0.94]])
    dets, labels, inds = multiclass_nms(bboxes, scores, 0.05, NMS_CFG, return_inds=True)
    # score 0.05 == thr dropped; background column (0.45, 0.94) never used
    assert labels.tolist() == [1, 0]
    torch.testing.assert_close(dets, torch.tensor([[0., 0., 10., 10., 0.5], [20., 20., 30., 30., 0.06]]))
    assert inds.tolist() == [1, 2]  # flattened (box, class) pair indices


def test_multiclass_nms_score_factors_and_empty():
    bboxes = torch.tensor([[0., 0., 10., 10.]])
    scores = torch.tensor([[0.5, 0.5]])
    dets, labels = multiclass_nms(bboxes, scores, 0.3, NMS_CFG, score_factors=torch.tensor([0.5]))
    torch.testing.assert_close(dets, torch.tensor([[0., 0., 10., 10., 0.25]]))
    dets, labels = multiclass_nms(bboxes, scores, 0.6, NMS_CFG)
    assert dets.shape == (0, 5) and labels.shape == (0, )
