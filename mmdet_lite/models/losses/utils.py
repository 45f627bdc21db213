"""Element-wise loss weighting and reduction shared by all losses."""
import functools
from typing import Callable, Optional

import torch

_REDUCTIONS = ('none', 'mean', 'sum')


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss with ``'none'``, ``'mean'`` or ``'sum'``."""
    if reduction == 'none':
        return loss
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    raise ValueError(f'reduction must be one of {_REDUCTIONS}, got {reduction!r}')


def weight_reduce_loss(loss: torch.Tensor,
                       weight: Optional[torch.Tensor] = None,
                       reduction: str = 'mean',
                       avg_factor: Optional[float] = None) -> torch.Tensor:
    """Multiply by element weights, then reduce.

    Args:
        loss: element-wise loss, any shape.
        weight: weights broadcastable to ``loss``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: with ``'mean'`` the result is ``sum(loss * weight) / (avg_factor + eps)``
            (eps = float32 eps) instead of a plain mean; not allowed with ``'sum'``.

    Returns:
        The reduced loss (a scalar unless ``reduction='none'``).
    """
    check_avg_factor(reduction, avg_factor)
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == 'mean':
        # eps keeps avg_factor = 0 (every label ignored) from dividing by zero, as in 2.28
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    return loss


def check_avg_factor(reduction: str, avg_factor: Optional[float]) -> None:
    """Raise when ``avg_factor`` is given with ``reduction='sum'`` (it only divides a mean)."""
    if avg_factor is not None and reduction == 'sum':
        raise ValueError(f'avg_factor can not be used with reduction="sum"; got avg_factor={avg_factor}')


def weighted_loss(loss_func: Callable) -> Callable:
    """Give an element-wise ``loss_func(pred, target, **kwargs)`` the signature
    ``(pred, target, weight=None, reduction='mean', avg_factor=None, **kwargs)``."""

    @functools.wraps(loss_func)
    def wrapper(pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                reduction: str = 'mean',
                avg_factor: Optional[float] = None,
                **kwargs) -> torch.Tensor:
        loss = loss_func(pred, target, **kwargs)
        return weight_reduce_loss(loss, weight, reduction, avg_factor)

    return wrapper


def check_reduction_override(reduction_override: Optional[str]) -> None:
    """Raise unless ``reduction_override`` is None or a known reduction."""
    if reduction_override not in (None, ) + _REDUCTIONS:
        raise ValueError(f'reduction_override must be None or one of {_REDUCTIONS}, got '
                         f'{reduction_override!r}')
