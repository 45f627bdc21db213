"""Sigmoid focal loss (MMDetection 2.x ``FocalLoss``) in plain PyTorch.

Symbols: N predictions, C classes. Integer labels follow MMDetection's convention: class c in
[0, C) is a positive of column c, label C is background (an all-zero target row).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import LOSSES
from .utils import check_reduction_override, weight_reduce_loss


def py_sigmoid_focal_loss(pred: torch.Tensor,
                          target: torch.Tensor,
                          weight: Optional[torch.Tensor] = None,
                          gamma: float = 2.0,
                          alpha: float = 0.25,
                          reduction: str = 'mean',
                          avg_factor: Optional[float] = None,
                          activated: bool = False) -> torch.Tensor:
    """Focal loss of logits (N, C) (probabilities when ``activated``) against a one-hot (N, C) ``target``.

    ``loss = BCE(p, t) * (alpha t + (1 - alpha)(1 - t)) * pt^gamma`` with ``pt = 1 - p`` for
    t = 1 and ``p`` for t = 0 (p = sigmoid(pred)). ``weight`` is (N,) per prediction, or (N, C) /
    anything with N*C elements per element.
    """
    if pred.shape != target.shape:
        raise ValueError(f'pred {tuple(pred.shape)} and one-hot target {tuple(target.shape)} must match')
    target = target.type_as(pred)
    pred_prob = pred if activated else pred.sigmoid()
    pt = (1 - pred_prob) * target + pred_prob * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    if activated:
        bce = F.binary_cross_entropy(pred, target, reduction='none')
    else:
        bce = F.binary_cross_entropy_with_logits(pred, target, reduction='none')
    loss = bce * focal_weight
    if weight is not None and weight.shape != loss.shape:
        if weight.size(0) == loss.size(0) and weight.numel() == loss.size(0):
            weight = weight.view(-1, 1)
        elif weight.numel() == loss.numel():
            weight = weight.view(loss.size(0), -1)
        else:
            raise ValueError(f'weight {tuple(weight.shape)} fits neither (N,) nor (N, C) of loss '
                             f'{tuple(loss.shape)}')
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@LOSSES.register_module()
class FocalLoss(nn.Module):
    """Sigmoid focal loss (https://arxiv.org/abs/1708.02002).

    Args:
        use_sigmoid: must be True (MMDetection only has the sigmoid form).
        gamma: focusing exponent.
        alpha: weight of positives (1 - alpha for negatives).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: factor on the loss.
        activated: ``pred`` already holds probabilities (``py_focal_loss_with_prob``).
    """

    def __init__(self,
                 use_sigmoid: bool = True,
                 gamma: float = 2.0,
                 alpha: float = 0.25,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 activated: bool = False) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ValueError(f'FocalLoss: only the sigmoid form exists, got use_sigmoid={use_sigmoid!r}')
        check_reduction_override(reduction)
        self.use_sigmoid = use_sigmoid
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """pred (N, C) logits (probabilities when ``activated``); target (N,) labels in [0, C]
        (C = background) or a one-hot (N, C)."""
        check_reduction_override(reduction_override)
        reduction = reduction_override if reduction_override else self.reduction
        if pred.dim() != target.dim():
            num_classes = pred.size(1)
            target = F.one_hot(target, num_classes=num_classes + 1)[:, :num_classes]
        return self.loss_weight * py_sigmoid_focal_loss(pred, target, weight, self.gamma, self.alpha, reduction,
                                                        avg_factor, activated=self.activated)
