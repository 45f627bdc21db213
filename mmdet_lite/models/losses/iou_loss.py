"""IoU-family box regression losses (MMDetection 2.x ``iou_loss.py``).

Symbols: N aligned (pred, target) box pairs, boxes x1y1x2y2 without +1 (except
:func:`bounded_iou_loss`, which keeps the legacy ``x2 - x1 + 1`` widths of 2.28).
"""
import math
import warnings
from typing import Optional, Tuple

import torch

from ...core.bbox.iou_calculators import bbox_overlaps
from ..builder import LOSSES
from .smooth_l1_loss import _RegressionLoss
from .utils import weighted_loss

_IOU_MODES = ('linear', 'square', 'log')


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.dim() != 2 or pred.size(-1) != 4 or pred.shape != target.shape:
        raise ValueError(f'expected pred and target boxes of the same shape (N, 4), got '
                         f'{tuple(pred.shape)} and {tuple(target.shape)}')


@weighted_loss
def iou_loss(pred: torch.Tensor,
             target: torch.Tensor,
             linear: bool = False,
             mode: str = 'log',
             eps: float = 1e-6) -> torch.Tensor:
    """(N,) IoU loss: ``1 - iou`` (linear), ``1 - iou^2`` (square) or ``-log(iou)`` (log).

    ``iou`` is clamped to at least ``eps``; ``linear=True`` is the deprecated spelling of
    ``mode='linear'``.
    """
    if mode not in _IOU_MODES:
        raise ValueError(f'mode must be one of {_IOU_MODES}, got {mode!r}')
    if linear:
        mode = 'linear'
        warnings.warn('DeprecationWarning: Setting "linear=True" in iou_loss is deprecated, '
                      'please use "mode=`linear`" instead.')
    _check_pair(pred, target)
    ious = bbox_overlaps(pred, target, is_aligned=True).clamp(min=eps)
    if mode == 'linear':
        return 1 - ious
    if mode == 'square':
        return 1 - ious**2
    return -ious.log()


@weighted_loss
def bounded_iou_loss(pred: torch.Tensor,
                     target: torch.Tensor,
                     beta: float = 0.2,
                     eps: float = 1e-3) -> torch.Tensor:
    """(N, 4) bounded IoU loss (https://arxiv.org/abs/1711.00164), smooth-L1 of 4 terms.

    With target centre offset ``d = t_ctr - p_ctr`` and +1 widths ``tw, pw`` per axis:
    ``l_d = 1 - max((tw - 2|d|) / (tw + 2|d| + eps), 0)`` and
    ``l_w = 1 - min(tw / (pw + eps), pw / (tw + eps))``; each ``l`` becomes ``0.5 l^2 / beta``
    below ``beta`` and ``l - 0.5 beta`` above (columns: dx, dy, dw, dh).
    """
    _check_pair(pred, target)
    pred_ctr = (pred[:, :2] + pred[:, 2:]) * 0.5
    pred_wh = pred[:, 2:] - pred[:, :2] + 1
    with torch.no_grad():
        target_ctr = (target[:, :2] + target[:, 2:]) * 0.5
        target_wh = target[:, 2:] - target[:, :2] + 1
    dist = (target_ctr - pred_ctr).abs()
    loss_ctr = 1 - torch.clamp((target_wh - 2 * dist) / (target_wh + 2 * dist + eps), min=0)
    loss_wh = 1 - torch.min(target_wh / (pred_wh + eps), pred_wh / (target_wh + eps))
    # column order dx, dy, dw, dh as in 2.28
    loss_comb = torch.cat([loss_ctr, loss_wh], dim=1)
    return torch.where(loss_comb < beta, 0.5 * loss_comb * loss_comb / beta, loss_comb - 0.5 * beta)


@weighted_loss
def giou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """(N,) ``1 - giou`` (https://arxiv.org/abs/1902.09630); denominators clamped to ``eps``."""
    _check_pair(pred, target)
    return 1 - bbox_overlaps(pred, target, mode='giou', is_aligned=True, eps=eps)


def _iou_and_center_penalty(pred: torch.Tensor, target: torch.Tensor,
                            eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """(N,) ``iou = inter / (union + eps)`` and (N,) DIoU penalty ``rho^2 / (c^2 + eps)``.

    ``rho`` is the distance between the box centres, ``c`` the diagonal of the enclosing box.
    """
    lt = torch.max(pred[:, :2], target[:, :2])
    rb = torch.min(pred[:, 2:], target[:, 2:])
    inter_wh = (rb - lt).clamp(min=0)
    overlap = inter_wh[:, 0] * inter_wh[:, 1]
    area_pred = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_target = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    ious = overlap / (area_pred + area_target - overlap + eps)

    enclose_wh = (torch.max(pred[:, 2:], target[:, 2:]) -
                  torch.min(pred[:, :2], target[:, :2])).clamp(min=0)
    diag2 = enclose_wh[:, 0]**2 + enclose_wh[:, 1]**2 + eps
    # sum of corners = 2 * centre, hence the / 4
    rho2 = (((target[:, :2] + target[:, 2:]) - (pred[:, :2] + pred[:, 2:]))**2).sum(dim=1) / 4
    return ious, rho2 / diag2


@weighted_loss
def diou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """(N,) ``1 - iou + rho^2 / c^2`` (https://arxiv.org/abs/1911.08287)."""
    _check_pair(pred, target)
    ious, penalty = _iou_and_center_penalty(pred, target, eps)
    return 1 - (ious - penalty)


@weighted_loss
def ciou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """(N,) ``1 - clamp(iou - rho^2 / c^2 - alpha v, -1, 1)`` (https://arxiv.org/abs/2005.03572).

    ``v = 4 / pi^2 (atan(wt / (ht + eps)) - atan(wp / (hp + eps)))^2`` and, without gradient,
    ``alpha = [iou > 0.5] v / (1 - iou + v)``.
    """
    _check_pair(pred, target)
    ious, penalty = _iou_and_center_penalty(pred, target, eps)
    pred_w, pred_h = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1] + eps
    target_w, target_h = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1] + eps
    v = (4 / math.pi**2) * (torch.atan(target_w / target_h) - torch.atan(pred_w / pred_h))**2
    with torch.no_grad():
        alpha = (ious > 0.5).to(v) * v / (1 - ious + v)
    cious = ious - (penalty + alpha * v)
    return 1 - cious.clamp(min=-1.0, max=1.0)


class _IoUFamilyLoss(_RegressionLoss):
    """Shared forward of the IoU-family losses (weight handling of 2.28): ``weight`` is (N,) or
    (N, 4), (N, 4) averaged to (N,) (except for :class:`BoundedIoULoss`, whose loss is (N, 4)).
    The loss is per box, (N,) ((N, 4) for BoundedIoULoss) with ``'none'``. With no positive
    weight (and a reduction) it is ``(pred * weight).sum()``: zero, connected to the graph."""

    def __init__(self, eps: float, reduction: str, loss_weight: float) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.eps = eps

    def _reduced_loss(self, pred: torch.Tensor, target: torch.Tensor, weight: Optional[torch.Tensor],
                      reduction: str, avg_factor: Optional[float]) -> torch.Tensor:
        if weight is not None and not torch.any(weight > 0) and reduction != 'none':
            if pred.dim() == weight.dim() + 1:
                weight = weight.unsqueeze(1)
            return (pred * weight).sum()
        return super()._reduced_loss(pred, target, self._box_weight(pred, weight), reduction,
                                     avg_factor)

    @staticmethod
    def _box_weight(pred: torch.Tensor, weight: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """(N,) per-box weight from (N,) or (N, 4) ``weight``."""
        if weight is None or weight.dim() <= 1:
            return weight
        if weight.shape != pred.shape:
            raise ValueError(f'weight {tuple(weight.shape)} must be (N,) or match pred '
                             f'{tuple(pred.shape)}')
        return weight.mean(-1)


@LOSSES.register_module()
class IoULoss(_IoUFamilyLoss):
    """IoU loss (https://arxiv.org/abs/1608.01471) with ``'linear'``, ``'square'`` or ``'log'`` scale.

    Args:
        linear: deprecated; True means ``mode='linear'`` (warns).
        eps: lower bound of the IoU (avoids ``log(0)``).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
        mode: ``'linear'`` (1 - iou), ``'square'`` (1 - iou^2) or ``'log'`` (-log iou).
    """

    def __init__(self,
                 linear: bool = False,
                 eps: float = 1e-6,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 mode: str = 'log') -> None:
        super().__init__(eps=eps, reduction=reduction, loss_weight=loss_weight)
        if mode not in _IOU_MODES:
            raise ValueError(f'mode must be one of {_IOU_MODES}, got {mode!r}')
        if linear:
            mode = 'linear'
            warnings.warn('DeprecationWarning: Setting "linear=True" in IOULoss is deprecated, '
                          'please use "mode=`linear`" instead.')
        self.mode = mode
        self.linear = linear

    def _loss(self, pred, target, weight, reduction, avg_factor):
        return iou_loss(pred, target, weight, mode=self.mode, eps=self.eps, reduction=reduction,
                        avg_factor=avg_factor)


@LOSSES.register_module()
class BoundedIoULoss(_IoUFamilyLoss):
    """Bounded IoU loss; see :func:`bounded_iou_loss`.

    Args:
        beta: threshold of the smooth-L1 applied to each term.
        eps: added to the denominators.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def __init__(self,
                 beta: float = 0.2,
                 eps: float = 1e-3,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(eps=eps, reduction=reduction, loss_weight=loss_weight)
        if beta <= 0:
            raise ValueError(f'beta must be positive, got {beta}')
        self.beta = beta

    @staticmethod
    def _box_weight(pred, weight):
        # the loss is (N, 4): (N, 4) weights apply element-wise, (N,) ones per box
        return weight if weight is None or weight.dim() > 1 else weight[:, None]

    def _loss(self, pred, target, weight, reduction, avg_factor):
        return bounded_iou_loss(pred, target, weight, beta=self.beta, eps=self.eps,
                                reduction=reduction, avg_factor=avg_factor)


@LOSSES.register_module()
class GIoULoss(_IoUFamilyLoss):
    """Generalized IoU loss ``1 - giou``.

    Args:
        eps: lower bound of the union and enclosing area.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def __init__(self, eps: float = 1e-6, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(eps=eps, reduction=reduction, loss_weight=loss_weight)

    def _loss(self, pred, target, weight, reduction, avg_factor):
        return giou_loss(pred, target, weight, eps=self.eps, reduction=reduction,
                         avg_factor=avg_factor)


@LOSSES.register_module()
class DIoULoss(_IoUFamilyLoss):
    """Distance IoU loss ``1 - iou + rho^2 / c^2``.

    Args:
        eps: added to the union and the squared enclosing diagonal.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def __init__(self, eps: float = 1e-6, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(eps=eps, reduction=reduction, loss_weight=loss_weight)

    def _loss(self, pred, target, weight, reduction, avg_factor):
        return diou_loss(pred, target, weight, eps=self.eps, reduction=reduction,
                         avg_factor=avg_factor)


@LOSSES.register_module()
class CIoULoss(_IoUFamilyLoss):
    """Complete IoU loss: DIoU plus an aspect-ratio term ``alpha v``.

    Args:
        eps: added to the union, the squared enclosing diagonal and the heights.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def __init__(self, eps: float = 1e-6, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(eps=eps, reduction=reduction, loss_weight=loss_weight)

    def _loss(self, pred, target, weight, reduction, avg_factor):
        return ciou_loss(pred, target, weight, eps=self.eps, reduction=reduction,
                         avg_factor=avg_factor)
