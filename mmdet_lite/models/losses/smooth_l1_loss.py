"""L1 and smooth-L1 regression losses."""
from typing import Optional

import torch
import torch.nn as nn

from ..builder import LOSSES
from .utils import check_avg_factor, check_reduction_override, weighted_loss


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.size() != target.size():
        raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} must have '
                         'the same shape')


@weighted_loss
def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Element-wise ``|pred - target|``; empty targets give ``pred.sum() * 0``."""
    if target.numel() == 0:
        return pred.sum() * 0
    _check_pair(pred, target)
    return torch.abs(pred - target)


@weighted_loss
def smooth_l1_loss(pred: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Element-wise Huber loss: ``0.5 d^2 / beta`` if ``d < beta`` else ``d - 0.5 beta``."""
    if beta <= 0:
        raise ValueError(f'beta must be positive, got {beta}')
    if target.numel() == 0:
        return pred.sum() * 0
    _check_pair(pred, target)
    diff = torch.abs(pred - target)
    return torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)


class _RegressionLoss(nn.Module):
    """Shared forward of the element-wise regression losses."""

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        check_reduction_override(reduction)
        self.reduction = reduction
        self.loss_weight = loss_weight

    def _loss(self, pred, target, weight, reduction, avg_factor):
        raise NotImplementedError

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Loss of (N, 4) ``pred`` against ``target`` with element ``weight``s.

        ``avg_factor`` replaces the element count of the mean (with ``'sum'`` it raises ValueError,
        empty inputs included, as in 2.28); empty targets give ``pred.sum() * 0`` (zero, still
        connected to the graph; 2.28 gives NaN for an empty ``weight`` with a plain mean).
        """
        check_reduction_override(reduction_override)
        reduction = reduction_override if reduction_override else self.reduction
        check_avg_factor(reduction, avg_factor)
        return self._reduced_loss(pred, target, weight, reduction, avg_factor)

    def _reduced_loss(self, pred: torch.Tensor, target: torch.Tensor, weight: Optional[torch.Tensor],
                      reduction: str, avg_factor: Optional[float]) -> torch.Tensor:
        """The weighted loss once ``reduction`` and ``avg_factor`` are checked."""
        if target.numel() == 0 and reduction != 'none':
            # avoids the NaN of a mean over zero weighted elements
            return pred.sum() * 0
        return self.loss_weight * self._loss(pred, target, weight, reduction, avg_factor)


@LOSSES.register_module()
class L1Loss(_RegressionLoss):
    """L1 loss.

    Args:
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def _loss(self, pred, target, weight, reduction, avg_factor):
        return l1_loss(pred, target, weight, reduction=reduction, avg_factor=avg_factor)


@LOSSES.register_module()
class SmoothL1Loss(_RegressionLoss):
    """Smooth L1 (Huber) loss.

    Args:
        beta: threshold between the quadratic and the linear part.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def __init__(self, beta: float = 1.0, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.beta = beta

    def _loss(self, pred, target, weight, reduction, avg_factor):
        return smooth_l1_loss(pred, target, weight, beta=self.beta, reduction=reduction,
                              avg_factor=avg_factor)
