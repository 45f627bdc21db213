"""IoU-family and balanced L1 losses against naive per-box float64 references."""
import math

import pytest
import torch

from mmdet_lite.models.builder import build_loss
from mmdet_lite.models.losses import (BalancedL1Loss, BoundedIoULoss, CIoULoss, DIoULoss, GIoULoss,
                                      IoULoss)


def _box_pairs(num: int = 12) -> tuple:
    """(num, 4) float64 target boxes and predictions: half jittered (IoU > 0.5), half random."""
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(num, 2, generator=gen, dtype=torch.float64) * 20
    wh = torch.rand(num, 2, generator=gen, dtype=torch.float64) * 10 + 2
    target = torch.cat([xy, xy + wh], dim=1)
    jitter = (torch.rand(num, 4, generator=gen, dtype=torch.float64) - 0.5) * 1.0
    xy_r = torch.rand(num, 2, generator=gen, dtype=torch.float64) * 20
    wh_r = torch.rand(num, 2, generator=gen, dtype=torch.float64) * 10 + 2
    pred = torch.where(torch.arange(num)[:, None] % 2 == 0, target + jitter,
                       torch.cat([xy_r, xy_r + wh_r], dim=1))
    return pred, target


def _geometry(p, t):
    """Scalar (0-d) intersection, union, enclosing w/h, squared centre distance of one pair."""
    iw = torch.clamp(torch.minimum(p[2], t[2]) - torch.maximum(p[0], t[0]), min=0)
    ih = torch.clamp(torch.minimum(p[3], t[3]) - torch.maximum(p[1], t[1]), min=0)
    inter = iw * ih
    union = (p[2] - p[0]) * (p[3] - p[1]) + (t[2] - t[0]) * (t[3] - t[1]) - inter
    cw = torch.maximum(p[2], t[2]) - torch.minimum(p[0], t[0])
    ch = torch.maximum(p[3], t[3]) - torch.minimum(p[1], t[1])
    rho2 = ((p[0] + p[2]) / 2 - (t[0] + t[2]) / 2)**2 + ((p[1] + p[3]) / 2 - (t[1] + t[3]) / 2)**2
    return inter, union, cw, ch, rho2


def ref_iou(p, t, mode, eps=1e-6):
    inter, union, *_ = _geometry(p, t)
    iou = torch.clamp(inter / torch.clamp(union, min=eps), min=eps)
    return {'linear': 1 - iou, 'square': 1 - iou * iou, 'log': -torch.log(iou)}[mode]


def ref_giou(p, t, eps=1e-6):
    inter, union, cw, ch, _ = _geometry(p, t)
    union = torch.clamp(union, min=eps)
    enclose = torch.clamp(cw * ch, min=eps)
    return 1 - (inter / union - (enclose - union) / enclose)


def ref_diou(p, t, eps=1e-6):
    inter, union, cw, ch, rho2 = _geometry(p, t)
    return 1 - inter / (union + eps) + rho2 / (cw * cw + ch * ch + eps)


def ref_ciou(p, t, eps=1e-6):
    inter, union, cw, ch, rho2 = _geometry(p, t)
    iou = inter / (union + eps)
    v = 4 / math.pi**2 * (torch.atan((t[2] - t[0]) / (t[3] - t[1] + eps)) -
                          torch.atan((p[2] - p[0]) / (p[3] - p[1] + eps)))**2
    alpha = (v / (1 - iou + v)).detach() if iou.item() > 0.5 else 0.
    ciou = iou - rho2 / (cw * cw + ch * ch + eps) - alpha * v
    return 1 - torch.clamp(ciou, -1, 1)


def ref_bounded(p, t, beta=0.2, eps=1e-3):
    terms = []
    for lo, hi in ((0, 2), (1, 3)):
        tw, pw = t[hi] - t[lo] + 1, p[hi] - p[lo] + 1
        dist = torch.abs((t[lo] + t[hi]) / 2 - (p[lo] + p[hi]) / 2)
        terms.append((1 - torch.clamp((tw - 2 * dist) / (tw + 2 * dist + eps), min=0),
                      1 - torch.minimum(tw / (pw + eps), pw / (tw + eps))))
    values = [terms[0][0], terms[1][0], terms[0][1], terms[1][1]]  # dx, dy, dw, dh
    return torch.stack([0.5 * x * x / beta if x < beta else x - 0.5 * beta for x in values])


def ref_balanced_l1(p, t, alpha=0.5, gamma=1.5, beta=1.0):
    b = math.e**(gamma / alpha) - 1
    out = []
    for d in torch.abs(p - t):
        if d < beta:
            out.append(alpha / b * (b * d + 1) * torch.log(b * d / beta + 1) - alpha * d)
        else:
            out.append(gamma * d + gamma / b - alpha * beta)
    return torch.stack(out)


def _values_and_grads(fn, pred, target, weight):
    pred = pred.clone().requires_grad_(True)
    loss = fn(pred, target)
    (grad, ) = torch.autograd.grad((loss * weight).sum(), pred)
    return loss.detach(), grad


ORACLE_CASES = [
    (IoULoss(mode='linear', reduction='none'), lambda p, t: ref_iou(p, t, 'linear')),
    (IoULoss(mode='square', reduction='none'), lambda p, t: ref_iou(p, t, 'square')),
    (IoULoss(mode='log', reduction='none'), lambda p, t: ref_iou(p, t, 'log')),
    (GIoULoss(reduction='none'), ref_giou),
    (DIoULoss(reduction='none'), ref_diou),
    (CIoULoss(reduction='none'), ref_ciou),
    (BoundedIoULoss(reduction='none'), ref_bounded),
    (BalancedL1Loss(reduction='none'), ref_balanced_l1),
]


@pytest.mark.parametrize('loss_module,ref_fn', ORACLE_CASES,
                         ids=['iou-linear', 'iou-square', 'iou-log', 'giou', 'diou', 'ciou',
                              'bounded-iou', 'balanced-l1'])
def test_loss_matches_per_box_reference_values_and_gradients(loss_module, ref_fn):
    pred, target = _box_pairs()
    if isinstance(loss_module, BalancedL1Loss):
        pred = target + (pred - target) * 0.2  # both branches: |d| below and above beta
    vectorised = _values_and_grads(loss_module, pred, target, 1.0)
    per_box = _values_and_grads(
        lambda p, t: torch.stack([ref_fn(p[i], t[i]) for i in range(len(p))]), pred, target, 1.0)
    weight = torch.linspace(0.5, 2, pred.size(0), dtype=torch.float64)
    weight = weight.view(-1, *([1] * (vectorised[0].dim() - 1)))
    torch.testing.assert_close(vectorised[0], per_box[0], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(_values_and_grads(loss_module, pred, target, weight)[1],
                               _values_and_grads(
                                   lambda p, t: torch.stack([ref_fn(p[i], t[i])
                                                             for i in range(len(p))]),
                                   pred, target, weight)[1], rtol=1e-9, atol=1e-12)
    assert per_box[1].abs().sum() > 0


PRED = torch.tensor([[0., 0., 2., 2.]])
TARGET = torch.tensor([[1., 0., 3., 2.]])  # inter 2, union 6: IoU 1/3


def test_iou_loss_hand_numbers_for_each_mode():
    assert IoULoss(mode='log')(PRED, TARGET).item() == pytest.approx(math.log(3))
    assert IoULoss(mode='linear')(PRED, TARGET).item() == pytest.approx(2 / 3)
    assert IoULoss(mode='square')(PRED, TARGET).item() == pytest.approx(8 / 9)


def test_iou_loss_deprecated_linear_flag_means_linear_mode():
    with pytest.warns(UserWarning, match='linear=True'):
        loss = build_loss(dict(type='IoULoss', linear=True, loss_weight=2.0))
    assert loss.mode == 'linear'
    assert loss(PRED, TARGET).item() == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match='mode'):
        IoULoss(mode='cube')


def test_giou_loss_hand_number_for_disjoint_boxes():
    # IoU 0, union 2, enclosing box 3: GIoU = -1/3
    pred, target = torch.tensor([[0., 0., 1., 1.]]), torch.tensor([[2., 0., 3., 1.]])
    assert GIoULoss()(pred, target).item() == pytest.approx(4 / 3)


def test_diou_loss_hand_number():
    # centres 1 apart, enclosing box 3 x 2: penalty 1/13
    assert DIoULoss()(PRED, TARGET).item() == pytest.approx(2 / 3 + 1 / 13)


def test_ciou_loss_hand_number_with_aspect_term():
    pred, target = torch.tensor([[0., 0., 4., 3.]]), torch.tensor([[0., 0., 4., 4.]])
    iou, penalty = 0.75, 0.25 / 32
    v = 4 / math.pi**2 * (math.atan(1.) - math.atan(4 / 3))**2
    expected = 1 - (iou - penalty - v / (1 - iou + v) * v)
    assert CIoULoss()(pred, target).item() == pytest.approx(expected, rel=1e-5)


def test_bounded_iou_loss_hand_number():
    # +1 widths 10, centres 1 apart along x: only the dx term is above beta
    pred, target = torch.tensor([[0., 0., 9., 9.]]), torch.tensor([[1., 0., 10., 9.]])
    loss = build_loss(dict(type='BoundedIoULoss', beta=0.2, eps=1e-3, reduction='none'))(pred, target)
    small = 1 - 10 / 10.001
    expected = [1 - 8 / (12 + 1e-3) - 0.1, 0.5 * small**2 / 0.2, 2.5 * small**2, 2.5 * small**2]
    torch.testing.assert_close(loss, torch.tensor([expected]), rtol=1e-5, atol=1e-9)


def test_balanced_l1_hand_number_at_beta_and_config_keys():
    loss = build_loss(dict(type='BalancedL1Loss', alpha=0.5, gamma=1.5, beta=1.0, loss_weight=1.0,
                           reduction='sum'))
    pred, target = torch.tensor([[1., 0., 0., 0.]]), torch.zeros(1, 4)
    assert loss(pred, target).item() == pytest.approx(1 + 1.5 / (math.e**3 - 1))


def test_iou_losses_weight_handling():
    pred, target = torch.cat([PRED, PRED]), torch.cat([TARGET, PRED])  # IoU 1/3 and 1
    loss = IoULoss(mode='linear')
    assert loss(pred, target, torch.tensor([1., 0.]), avg_factor=0.5).item() == pytest.approx(4 / 3)
    four_col = torch.tensor([[1., 1., 0., 0.], [1., 1., 1., 1.]])
    assert loss(pred, target, four_col, reduction_override='sum').item() == pytest.approx(1 / 3)
    zero_pred = pred.clone().requires_grad_(True)
    zero = loss(zero_pred, target, torch.zeros(2))
    zero.backward()
    assert zero.item() == 0 and zero_pred.grad is not None
    with pytest.raises(ValueError, match='avg_factor'):
        loss(pred, target, avg_factor=2., reduction_override='sum')


def test_iou_losses_empty_targets_give_connected_zero():
    pred = torch.zeros(0, 4, requires_grad=True)
    for loss in (IoULoss(), GIoULoss(), DIoULoss(), CIoULoss(), BoundedIoULoss(), BalancedL1Loss()):
        value = loss(pred, torch.zeros(0, 4))
        assert value.item() == 0 and value.requires_grad
