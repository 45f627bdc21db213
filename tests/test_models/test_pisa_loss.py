"""PISA's isr_p against a loop transcription of 2.28's IoU-HLR, and carl_loss against a hand computation."""
import math
from types import SimpleNamespace

import torch

from mmdet_lite.core.bbox import DeltaXYWHBBoxCoder
from mmdet_lite.models.builder import build_loss
from mmdet_lite.models.losses import carl_loss, isr_p
from mmdet_lite.models.losses.pisa_loss import rank_within_groups

NUM_CLASSES = 3


def _batch():
    """Two images: 4 positives + 2 negatives, then 3 positives + 1 negative (RoI order of bbox2roi)."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 0, 1, 3, 3, 0, 0, 2, 3])
    xy = torch.rand(10, 2, generator=gen) * 40
    wh = 10 + torch.rand(10, 2, generator=gen) * 30
    rois = torch.cat([torch.zeros(10, 1), xy, xy + wh], dim=1)
    bbox_pred = torch.randn(10, 4 * NUM_CLASSES, generator=gen) * 0.2
    box_targets = torch.randn(10, 4, generator=gen) * 0.2
    cls_score = torch.randn(10, NUM_CLASSES + 1, generator=gen)
    label_weights = torch.ones(10)
    sampling_results = [SimpleNamespace(pos_assigned_gt_inds=torch.tensor([0, 1, 0, 1])),
                        SimpleNamespace(pos_assigned_gt_inds=torch.tensor([0, 0, 1]))]
    targets = (labels, label_weights, box_targets, torch.zeros(10, 4))
    return cls_score, bbox_pred, targets, rois, sampling_results


def _iou(a, b):
    w = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _naive_isr_p(cls_score, bbox_pred, targets, rois, sampling_results, coder, k, bias):
    labels, label_weights, box_targets, _ = targets
    pos = [i for i in range(len(labels)) if labels[i] < NUM_CLASSES]
    gts, last = [], 0
    for res in sampling_results:
        gt_inds = res.pos_assigned_gt_inds.tolist()
        gts += [g + last for g in gt_inds]
        if gt_inds:
            last = max(gt_inds) + 1
    ious = {}
    for i in pos:
        label = int(labels[i])
        pred = coder.decode(rois[i:i + 1, 1:], bbox_pred[i:i + 1, 4 * label:4 * label + 4])[0].tolist()
        target = coder.decode(rois[i:i + 1, 1:], box_targets[i:i + 1])[0].tolist()
        ious[i] = _iou(pred, target)
    pos_labels = {i: int(labels[i]) for i in pos}
    gt_of = dict(zip(pos, gts))
    max_l_num = max(list(pos_labels.values()).count(c) for c in set(pos_labels.values()))
    weights = {i: float(label_weights[i]) for i in pos}
    for c in sorted(set(pos_labels.values())):
        members = [i for i in pos if pos_labels[i] == c]
        for t in sorted({gt_of[i] for i in members}):
            group = sorted([i for i in members if gt_of[i] == t], key=lambda i: -ious[i])
            for rank, i in enumerate(group):
                ious[i] += max_l_num - rank
        for rank, i in enumerate(sorted(members, key=lambda i: -ious[i])):
            weights[i] *= (max_l_num - rank) / max_l_num
    weights = {i: (bias + w * (1 - bias))**k for i, w in weights.items()}
    ce = {i: -math.log(float(cls_score[i].softmax(-1)[pos_labels[i]])) for i in pos}
    ratio = sum(ce[i] * float(label_weights[i]) for i in pos) / sum(ce[i] * weights[i] for i in pos)
    expected = label_weights.clone()
    for i in pos:
        expected[i] = weights[i] * ratio
    return expected


def test_isr_p_label_weights_match_loop_reference():
    cls_score, bbox_pred, targets, rois, sampling_results = _batch()
    coder = DeltaXYWHBBoxCoder(target_stds=[0.1, 0.1, 0.2, 0.2])
    loss_cls = build_loss(dict(type='CrossEntropyLoss'))
    out = isr_p(cls_score, bbox_pred, targets, rois, sampling_results, loss_cls, coder, k=2, bias=0,
                num_class=NUM_CLASSES)
    expected = _naive_isr_p(cls_score, bbox_pred, targets, rois, sampling_results, coder, k=2, bias=0)
    torch.testing.assert_close(out[1], expected)
    assert torch.equal(targets[1], torch.ones(10))  # input weights are not modified
    assert out[0] is targets[0] and out[2] is targets[2]


def test_isr_p_without_positives_returns_targets_unchanged():
    cls_score, bbox_pred, targets, rois, _ = _batch()
    labels = torch.full((10, ), NUM_CLASSES)
    targets = (labels, ) + targets[1:]
    out = isr_p(cls_score, bbox_pred, targets, rois, [], None, None, num_class=NUM_CLASSES)
    assert all(a is b for a, b in zip(out, targets))


def test_rank_within_groups_by_hand():
    values = torch.tensor([0.3, 0.9, 0.5, 0.1, 0.7])
    groups = torch.tensor([1, 0, 1, 0, 1])
    assert rank_within_groups(values, groups).tolist() == [2, 0, 1, 1, 0]


def test_carl_loss_by_hand():
    """Two positives (labels 0, 1) and one negative; K = 2; SmoothL1 beta 1; avg_factor = R = 3."""
    cls_score = torch.tensor([[2., 0., 0.], [0., 1., 0.], [0., 0., 3.]], requires_grad=True)
    labels = torch.tensor([0, 1, 2])
    bbox_pred = torch.tensor([[0.5, 0., 2., 0., 9., 9., 9., 9.], [9., 9., 9., 9., 0., -0.2, 0., 0.],
                              [9., 9., 9., 9., 9., 9., 9., 9.]])
    bbox_targets = torch.zeros(3, 4)
    loss_bbox = build_loss(dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
    out = carl_loss(cls_score, labels, bbox_pred, bbox_targets, loss_bbox, k=1, bias=0.2, num_class=2)
    p0 = math.exp(2) / (math.exp(2) + 2)
    p1 = math.e / (math.e + 2)
    w0, w1 = 0.2 + 0.8 * p0, 0.2 + 0.8 * p1
    w0, w1 = 2 * w0 / (w0 + w1), 2 * w1 / (w0 + w1)
    reg0 = 0.5 * 0.5**2 + (2 - 0.5)  # smooth L1 of 0.5 and 2
    reg1 = 0.5 * 0.2**2
    expected = (w0 * reg0 + w1 * reg1) / 3
    assert out['loss_carl'].shape == (1, )
    assert math.isclose(out['loss_carl'].item(), expected, rel_tol=1e-5)
    out['loss_carl'].backward()
    assert cls_score.grad[:2].abs().sum() > 0 and cls_score.grad[2].abs().sum() == 0
