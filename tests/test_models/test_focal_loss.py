"""FocalLoss against the focal-loss formula written per element (float64 values and gradients)."""
import math

import pytest
import torch

from mmdet_lite.models import build_loss


def naive_focal_loss(logits, labels, weights, gamma, alpha):
    """Sum over elements of -alpha (1-p)^g log p (positives) / -(1-alpha) p^g log(1-p) (negatives), times
    the prediction's weight; label == C (background) makes every column negative."""
    total = logits.new_zeros(())
    num_preds, num_classes = logits.shape
    for n in range(num_preds):
        for c in range(num_classes):
            p = torch.sigmoid(logits[n, c])
            if int(labels[n]) == c:
                term = -alpha * (1 - p)**gamma * torch.log(p)
            else:
                term = -(1 - alpha) * p**gamma * torch.log(1 - p)
            total = total + term * weights[n]
    return total


def test_focal_loss_matches_formula_values_and_gradients():
    torch.manual_seed(0)
    logits = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 2, 3, 1, 3, 0])  # 3 = background
    weights = torch.tensor([1., 0.5, 1., 0., 2., 1.], dtype=torch.float64)
    loss_fn = build_loss(dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0))
    loss = loss_fn(logits, labels, weights, avg_factor=4.0)
    grad, = torch.autograd.grad(loss, logits)
    reference = 2.0 * naive_focal_loss(logits, labels, weights, 2.0, 0.25) / (4.0 + torch.finfo(torch.float32).eps)
    reference_grad, = torch.autograd.grad(reference, logits)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-12)
    assert torch.allclose(grad, reference_grad, rtol=1e-10, atol=1e-14)


def test_focal_loss_single_value_by_hand():
    # one positive logit 0: p = 0.5, loss = 0.25 * 0.5^2 * log 2
    loss = build_loss(dict(type='FocalLoss'))(torch.zeros(1, 1), torch.tensor([0]), reduction_override='sum')
    assert loss.item() == pytest.approx(0.25 * 0.25 * math.log(2), rel=1e-6)


def test_focal_loss_one_hot_target_equals_label_target():
    torch.manual_seed(1)
    logits = torch.randn(5, 2)
    labels = torch.tensor([0, 1, 2, 2, 1])
    one_hot = torch.nn.functional.one_hot(labels, 3)[:, :2]
    loss_fn = build_loss(dict(type='FocalLoss'))
    assert torch.allclose(loss_fn(logits, labels), loss_fn(logits, one_hot))


def test_focal_loss_rejects_softmax():
    with pytest.raises(ValueError, match='use_sigmoid=False'):
        build_loss(dict(type='FocalLoss', use_sigmoid=False))
