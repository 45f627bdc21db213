"""Top-k classification accuracy in percent."""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn


def accuracy(pred: torch.Tensor,
             target: torch.Tensor,
             topk: Union[int, Tuple[int, ...]] = 1,
             thresh: Optional[float] = None) -> Union[torch.Tensor, List[torch.Tensor]]:
    """Percentage of samples whose target is among the top-k predictions.

    Args:
        pred: (N, C) scores.
        target: (N,) class indices.
        topk: k, or a tuple of ks.
        thresh: a prediction only counts if its score is above this.

    Returns:
        (1,) tensor in [0, 100] for an int ``topk``, else a list of them; 0 when N == 0.
    """
    if not isinstance(topk, (int, tuple)):
        raise TypeError(f'topk must be an int or a tuple of ints, got {topk!r}')
    return_single = isinstance(topk, int)
    topk = (topk, ) if return_single else topk
    maxk = max(topk)
    if pred.size(0) == 0:
        accu = [pred.new_tensor(0.) for _ in topk]
        return accu[0] if return_single else accu
    if pred.dim() != 2 or target.dim() != 1 or pred.size(0) != target.size(0):
        raise ValueError(f'expected pred (N, C) and target (N,), got {tuple(pred.shape)} and '
                         f'{tuple(target.shape)}')
    if maxk > pred.size(1):
        raise ValueError(f'maxk {maxk} exceeds the number of classes {pred.size(1)}')
    pred_value, pred_label = pred.topk(maxk, dim=1)
    pred_label = pred_label.t()  # (maxk, N)
    correct = pred_label.eq(target.view(1, -1).expand_as(pred_label))
    if thresh is not None:
        correct = correct & (pred_value > thresh).t()
    res = [correct[:k].reshape(-1).float().sum(0, keepdim=True) * (100.0 / pred.size(0))
           for k in topk]
    return res[0] if return_single else res


class Accuracy(nn.Module):
    """Module wrapper of :func:`accuracy`.

    Args:
        topk: k, or a tuple of ks.
        thresh: a prediction only counts if its score is above this.
    """

    def __init__(self, topk: Union[int, Tuple[int, ...]] = (1, ), thresh: Optional[float] = None):
        super().__init__()
        self.topk = topk
        self.thresh = thresh

    def forward(self, pred: torch.Tensor, target: torch.Tensor):
        """Accuracy of (N, C) ``pred`` against (N,) ``target``."""
        return accuracy(pred, target, self.topk, self.thresh)
