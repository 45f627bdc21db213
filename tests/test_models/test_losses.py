import math

import pytest
import torch
import torch.nn.functional as F

from mmdet_lite.models.builder import build_loss
from mmdet_lite.models.losses import (Accuracy, CrossEntropyLoss, L1Loss, SmoothL1Loss, accuracy,
                                      weight_reduce_loss)

LOG2 = math.log(2)


def softplus(x):
    return math.log1p(math.exp(x))


def test_weight_reduce_loss_rules():
    loss = torch.tensor([1., 2., 3., 4.])
    weight = torch.tensor([1., 0., 1., 0.5])
    assert weight_reduce_loss(loss, weight, 'sum').item() == 6.
    assert weight_reduce_loss(loss, weight, 'mean').item() == 1.5
    assert weight_reduce_loss(loss, weight, 'mean', avg_factor=3).item() == 2.
    assert weight_reduce_loss(loss, weight, 'none', avg_factor=3).tolist() == [1., 0., 3., 2.]
    with pytest.raises(ValueError, match='avg_factor'):
        weight_reduce_loss(loss, weight, 'sum', avg_factor=3)
    with pytest.raises(ValueError, match='reduction'):
        weight_reduce_loss(loss, None, 'max')


def test_softmax_cross_entropy_hand_numbers_and_avg_factor():
    loss_fn = build_loss(dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
    logits = torch.tensor([[0., 0.], [math.log(3), 0.], [0., 0.]])
    labels = torch.tensor([0, 0, 1])
    per_sample = [LOG2, math.log(4 / 3), LOG2]
    assert loss_fn(logits, labels).item() == pytest.approx(sum(per_sample) / 3)
    weights = torch.tensor([1., 1., 0.])
    # RCNN style: weighted sum over the sampled RoIs / avg_factor
    assert loss_fn(logits, labels, weights, avg_factor=2.).item() == pytest.approx(
        (per_sample[0] + per_sample[1]) / 2)
    assert loss_fn(logits, labels, reduction_override='sum').item() == pytest.approx(sum(per_sample))
    scaled = CrossEntropyLoss(loss_weight=2.0)
    assert scaled(logits, labels).item() == pytest.approx(2 * sum(per_sample) / 3)


def test_softmax_ignore_index_and_class_weight():
    logits = torch.tensor([[0., 0.], [2., 0.]])
    labels = torch.tensor([1, 0])
    ignored = CrossEntropyLoss(ignore_index=1, reduction='sum')
    assert ignored(logits, labels).item() == pytest.approx(softplus(-2))
    assert CrossEntropyLoss(reduction='sum')(logits, labels, ignore_index=0).item() == pytest.approx(LOG2)
    weighted = CrossEntropyLoss(class_weight=[1., 3.], reduction='sum')
    assert weighted(logits, labels).item() == pytest.approx(3 * LOG2 + softplus(-2))



def test_softmax_avg_non_ignore_averages_over_kept_labels_only():
    logits, labels = torch.zeros(3, 3), torch.tensor([0, 1, 2])  # CE of every row: log 3
    with pytest.warns(UserWarning, match=r'ignore_index=2\) averages over all labels'):
        plain = CrossEntropyLoss(ignore_index=2)
    non_ignore = CrossEntropyLoss(ignore_index=2, avg_non_ignore=True)
    assert plain(logits, labels).item() == pytest.approx(2 * math.log(3) / 3)
    assert non_ignore(logits, labels).item() == pytest.approx(2 * math.log(3) / 2)
    # an explicit avg_factor wins, as in 2.28
    assert non_ignore(logits, labels, avg_factor=4).item() == pytest.approx(2 * math.log(3) / 4)
    assert 'avg_non_ignore=True' in repr(non_ignore)


def test_sigmoid_avg_non_ignore_counts_valid_elements():
    logits, labels = torch.zeros(2, 2), torch.tensor([0, -100])  # BCE of every element: log 2
    # row 1 is ignored: 2 valid of 4 elements
    assert CrossEntropyLoss(use_sigmoid=True)(logits, labels).item() == pytest.approx(2 * LOG2 / 4)
    assert CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True)(logits, labels).item() == pytest.approx(LOG2)


def test_no_avg_non_ignore_warning_without_ignore_index(recwarn):
    CrossEntropyLoss()
    assert not [w for w in recwarn if 'avg_non_ignore' in str(w.message)]

def test_sigmoid_rpn_style_labels_background_is_zero_row():
    loss_fn = build_loss(dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))
    logits = torch.tensor([[2.], [2.], [-1.]])
    labels = torch.tensor([0, 1, 1])  # 1 == num_classes -> background
    weights = torch.tensor([1., 1., 0.])
    # fg: softplus(-2); bg: softplus(2); third has weight 0; divided by num_total_samples = 4
    expected = (softplus(-2) + softplus(2)) / 4
    assert loss_fn(logits, labels, weights, avg_factor=4).item() == pytest.approx(expected)


def test_sigmoid_multiclass_equals_one_hot_bce():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, generator=gen)
    labels = torch.tensor([0, 2, 3, 1, 3])
    one_hot = F.one_hot(labels, 4)[:, :3].float()
    loss = CrossEntropyLoss(use_sigmoid=True)(logits, labels)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, one_hot))
    # ignore_index rows get zero weight
    ignored = CrossEntropyLoss(use_sigmoid=True, reduction='sum')(logits, labels, ignore_index=2)
    keep = labels != 2
    torch.testing.assert_close(ignored, F.binary_cross_entropy_with_logits(
        logits[keep], one_hot[keep], reduction='sum'))


def test_mask_cross_entropy_picks_own_class_channel():
    gen = torch.Generator().manual_seed(1)
    mask_pred = torch.randn(2, 3, 4, 4, generator=gen)
    targets = (torch.rand(2, 4, 4, generator=gen) > 0.5).float()
    rois_labels = torch.tensor([2, 0])
    loss = CrossEntropyLoss(use_mask=True)(mask_pred, targets, rois_labels)
    expected = F.binary_cross_entropy_with_logits(mask_pred[[0, 1], [2, 0]], targets)
    torch.testing.assert_close(loss, expected[None])
    with pytest.raises(ValueError, match='use_sigmoid'):
        CrossEntropyLoss(use_sigmoid=True, use_mask=True)


def test_l1_loss_normalised_by_avg_factor():
    loss_fn = build_loss(dict(type='L1Loss', loss_weight=1.0))
    pred = torch.tensor([[1., 2., 3., 4.], [0., 0., 0., 0.]])
    target = torch.tensor([[0., 0., 0., 0.], [1., 1., 1., 1.]])
    weight = torch.tensor([[1., 1., 1., 1.], [0., 0., 0., 0.]])
    # RPN/RCNN: sum of weighted |d| over positives / number of sampled boxes
    assert loss_fn(pred, target, weight, avg_factor=5).item() == pytest.approx(10 / 5)
    assert loss_fn(pred, target).item() == pytest.approx(14 / 8)
    assert loss_fn(pred, target, reduction_override='none').shape == (2, 4)
    assert L1Loss(loss_weight=0.5)(pred, target, reduction_override='sum').item() == 7.
    with pytest.raises(ValueError, match='reduction_override'):
        loss_fn(pred, target, reduction_override='max')


def test_smooth_l1_hand_numbers():
    loss_fn = build_loss(dict(type='SmoothL1Loss', beta=1.0, reduction='sum'))
    pred = torch.tensor([[0.5, 2., 0., -3.]])
    target = torch.zeros(1, 4)
    # 0.5*0.25/1, 2-0.5, 0, 3-0.5
    assert loss_fn(pred, target).item() == pytest.approx(0.125 + 1.5 + 0 + 2.5)
    half_beta = SmoothL1Loss(beta=0.5, reduction='sum')
    assert half_beta(pred, target).item() == pytest.approx(0.5 * 0.25 / 0.5 + 1.75 + 0 + 2.75)


@pytest.mark.parametrize('loss_cls', [L1Loss, SmoothL1Loss])
def test_empty_targets_give_zero_with_gradient(loss_cls):
    pred = torch.zeros(0, 4, requires_grad=True)
    for kwargs in (dict(), dict(weight=torch.zeros(0, 4)), dict(weight=torch.zeros(0, 4),
                                                                  avg_factor=0)):
        loss = loss_cls()(pred, torch.zeros(0, 4), **kwargs)
        assert loss.item() == 0. and not torch.isnan(loss)
        loss.backward()
    assert pred.grad.shape == (0, 4)



@pytest.mark.parametrize('loss_cls', [L1Loss, SmoothL1Loss])
@pytest.mark.parametrize('num_boxes', [0, 2])
def test_avg_factor_with_sum_raises_even_for_empty_inputs(loss_cls, num_boxes):
    pred, target = torch.zeros(num_boxes, 4), torch.ones(num_boxes, 4)
    with pytest.raises(ValueError, match='avg_factor can not be used with reduction="sum"; got avg_factor=2'):
        loss_cls()(pred, target, torch.ones(num_boxes, 4), avg_factor=2, reduction_override='sum')


def test_zero_avg_factor_gives_zero_not_nan():
    # 2.28 divides by avg_factor + float32 eps: 0 / (0 + eps) = 0, and 1 / (0.5 + eps) ~ 2
    assert weight_reduce_loss(torch.zeros(3), None, 'mean', avg_factor=0).item() == 0.
    assert weight_reduce_loss(torch.ones(1), None, 'mean', avg_factor=0.5).item() == pytest.approx(2.)

def test_regression_shape_mismatch_raises():
    with pytest.raises(ValueError, match='same shape'):
        L1Loss()(torch.zeros(2, 4), torch.zeros(2, 3))


def test_accuracy_percent_topk_thresh_and_empty():
    pred = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    target = torch.tensor([1, 1, 2, 1])
    top1 = accuracy(pred, target)
    assert top1.shape == (1, ) and top1.item() == pytest.approx(50.)
    top1, top2 = accuracy(pred, target, topk=(1, 2))
    assert top2.item() == pytest.approx(100.)
    assert accuracy(pred, target, thresh=0.6).item() == pytest.approx(25.)
    assert Accuracy(topk=(1, ))(pred, target)[0].item() == pytest.approx(50.)
    assert accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)).item() == 0.
    with pytest.raises(ValueError, match='maxk'):
        accuracy(pred, target, topk=4)


@pytest.mark.parametrize('ignore_index', [-100, 1])
def test_expand_onehot_labels_matches_a_per_row_loop(ignore_index):
    from mmdet_lite.models.losses.cross_entropy_loss import _expand_onehot_labels
    labels = torch.tensor([0, 2, 3, -1, 1, -100, 2, 5])  # 3 = background (C), 5 out of range
    weights = torch.arange(1., 9.)
    bin_labels, bin_weights, valid_mask = _expand_onehot_labels(labels, weights, 3, ignore_index)
    expected_labels = torch.zeros(8, 3, dtype=torch.long)
    expected_valid = torch.zeros(8, 3)
    for row, label in enumerate(labels.tolist()):
        if label >= 0 and label != ignore_index:
            expected_valid[row] = 1
            if label < 3:
                expected_labels[row, label] = 1
    assert bin_labels.dtype == labels.dtype and torch.equal(bin_labels, expected_labels)
    assert torch.equal(valid_mask, expected_valid)
    assert torch.equal(bin_weights, weights[:, None] * expected_valid)
