"""Balanced L1 loss of Libra R-CNN (https://arxiv.org/abs/1904.02701)."""
import math
from typing import Optional

import torch

from ..builder import LOSSES
from .smooth_l1_loss import _RegressionLoss, _check_pair
from .utils import weighted_loss


@weighted_loss
def balanced_l1_loss(pred: torch.Tensor,
                     target: torch.Tensor,
                     beta: float = 1.0,
                     alpha: float = 0.5,
                     gamma: float = 1.5) -> torch.Tensor:
    """Element-wise balanced L1 of ``d = |pred - target|`` with ``b = e^(gamma / alpha) - 1``.

    ``alpha / b (b d + 1) log(b d / beta + 1) - alpha d`` if ``d < beta``, else
    ``gamma d + gamma / b - alpha beta``; empty targets give ``pred.sum() * 0``.
    """
    if beta <= 0:
        raise ValueError(f'beta must be positive, got {beta}')
    if target.numel() == 0:
        return pred.sum() * 0
    _check_pair(pred, target)
    diff = torch.abs(pred - target)
    b = math.exp(gamma / alpha) - 1
    inner = alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff
    outer = gamma * diff + gamma / b - alpha * beta
    return torch.where(diff < beta, inner, outer)


@LOSSES.register_module()
class BalancedL1Loss(_RegressionLoss):
    """Balanced L1 loss; see :func:`balanced_l1_loss`.

    Args:
        alpha: scale of the inlier (``d < beta``) gradient.
        gamma: bound of the outlier gradient.
        beta: switch point between the log and the linear part.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    def __init__(self,
                 alpha: float = 0.5,
                 gamma: float = 1.5,
                 beta: float = 1.0,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.alpha = alpha
        self.gamma = gamma
        self.beta = beta

    def _loss(self, pred: torch.Tensor, target: torch.Tensor, weight: Optional[torch.Tensor],
              reduction: str, avg_factor: Optional[float]) -> torch.Tensor:
        return balanced_l1_loss(pred, target, weight, beta=self.beta, alpha=self.alpha,
                                gamma=self.gamma, reduction=reduction, avg_factor=avg_factor)
