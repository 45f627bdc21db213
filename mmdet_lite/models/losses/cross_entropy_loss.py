"""Softmax, sigmoid (binary) and mask cross-entropy losses.

Symbols: N samples, C classes (columns of the logits).
"""
import warnings
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import LOSSES
from .utils import check_reduction_override, weight_reduce_loss

_DEFAULT_IGNORE = -100


def cross_entropy(pred: torch.Tensor,
                  label: torch.Tensor,
                  weight: Optional[torch.Tensor] = None,
                  reduction: str = 'mean',
                  avg_factor: Optional[float] = None,
                  class_weight: Optional[torch.Tensor] = None,
                  ignore_index: Optional[int] = -100,
                  avg_non_ignore: bool = False) -> torch.Tensor:
    """Softmax cross entropy of (N, C) logits against (N,) class indices, weighted per sample.

    With ``avg_non_ignore`` (and ``'mean'``, no ``avg_factor``) the mean is over the labels
    that are not ``ignore_index``, as ``F.cross_entropy`` averages; else over all N.
    """
    ignore_index = _DEFAULT_IGNORE if ignore_index is None else ignore_index
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction='none',
                           ignore_index=ignore_index)
    if avg_factor is None and avg_non_ignore and reduction == 'mean':
        avg_factor = label.numel() - (label == ignore_index).sum().item()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def _expand_onehot_labels(labels: torch.Tensor, label_weights: Optional[torch.Tensor],
                          label_channels: int,
                          ignore_index: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,) class indices -> (N, C) one-hot; labels outside [0, C) (background) give zero rows.

    Returns the one-hot labels, their (N, C) weights, and the (N, C) float valid mask: rows with
    a negative or ``ignore_index`` label are invalid and get zero weight.
    """
    valid_mask = (labels >= 0) & (labels != ignore_index)
    # compare with every class instead of scattering at nonzero() rows: no host-device sync
    classes = torch.arange(label_channels, device=labels.device)
    bin_labels = ((labels[:, None] == classes[None, :]) & valid_mask[:, None]).to(labels.dtype)
    valid_mask = valid_mask.view(-1, 1).expand(labels.size(0), label_channels).float()
    if label_weights is None:
        bin_label_weights = valid_mask
    else:
        bin_label_weights = label_weights.view(-1, 1).repeat(1, label_channels) * valid_mask
    return bin_labels, bin_label_weights, valid_mask


def binary_cross_entropy(pred: torch.Tensor,
                         label: torch.Tensor,
                         weight: Optional[torch.Tensor] = None,
                         reduction: str = 'mean',
                         avg_factor: Optional[float] = None,
                         class_weight: Optional[torch.Tensor] = None,
                         ignore_index: Optional[int] = -100,
                         avg_non_ignore: bool = False) -> torch.Tensor:
    """Sigmoid BCE of (N, C) logits against (N, C) targets or (N,) class indices (one-hot).

    Elements whose label is negative or ``ignore_index`` get zero weight; with
    ``avg_non_ignore`` (and ``'mean'``, no ``avg_factor``) the mean is over the others.
    """
    ignore_index = _DEFAULT_IGNORE if ignore_index is None else ignore_index
    if pred.dim() != label.dim():
        label, weight, valid_mask = _expand_onehot_labels(label, weight, pred.size(-1), ignore_index)
    else:
        valid_mask = ((label >= 0) & (label != ignore_index)).float()
        weight = valid_mask if weight is None else weight * valid_mask
    if avg_factor is None and avg_non_ignore and reduction == 'mean':
        avg_factor = valid_mask.sum().item()
    weight = weight.float()
    loss = F.binary_cross_entropy_with_logits(pred, label.float(), pos_weight=class_weight,
                                              reduction='none')
    return weight_reduce_loss(loss, weight, reduction=reduction, avg_factor=avg_factor)


def mask_cross_entropy(pred: torch.Tensor,
                       target: torch.Tensor,
                       label: torch.Tensor,
                       reduction: str = 'mean',
                       avg_factor: Optional[float] = None,
                       class_weight: Optional[torch.Tensor] = None,
                       ignore_index: Optional[int] = None,
                       avg_non_ignore: bool = False) -> torch.Tensor:
    """BCE of the (N, C, H, W) mask logits of each RoI's own class against (N, H, W) targets.

    Returns a (1,) tensor (mean over all pixels, as MMDetection does); ``avg_non_ignore`` has
    no effect here (nothing is ignored), as in 2.28.
    """
    if ignore_index is not None:
        raise ValueError(f'ignore_index is not supported by mask_cross_entropy, got {ignore_index}')
    num_rois = pred.size(0)
    inds = torch.arange(0, num_rois, dtype=torch.long, device=pred.device)
    pred_slice = pred[inds, label].squeeze(1)
    return F.binary_cross_entropy_with_logits(pred_slice, target, weight=class_weight,
                                              reduction='mean')[None]


@LOSSES.register_module()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy loss in softmax, sigmoid or mask mode.

    Args:
        use_sigmoid: binary cross entropy with logits per class column; integer labels (N,)
            become one-hot rows, and label == C (background) gives an all-zero row.
        use_mask: mask cross entropy (exclusive with ``use_sigmoid``).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        class_weight: per-class weights (``pos_weight`` in sigmoid mode).
        ignore_index: label ignored by the loss (default -100 when None).
        loss_weight: multiplier of the loss.
        avg_non_ignore: average a ``'mean'`` loss over the non-ignored labels only (2.28; the
            default False averages over all and warns when ``ignore_index`` is set).
    """

    def __init__(self,
                 use_sigmoid: bool = False,
                 use_mask: bool = False,
                 reduction: str = 'mean',
                 class_weight: Optional[Sequence[float]] = None,
                 ignore_index: Optional[int] = None,
                 loss_weight: float = 1.0,
                 avg_non_ignore: bool = False) -> None:
        super().__init__()
        if use_sigmoid and use_mask:
            raise ValueError('use_sigmoid and use_mask can not both be True')
        check_reduction_override(reduction)
        self.use_sigmoid = use_sigmoid
        self.use_mask = use_mask
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.class_weight = class_weight
        self.ignore_index = ignore_index
        self.avg_non_ignore = avg_non_ignore
        if ignore_index is not None and not avg_non_ignore and reduction == 'mean':
            warnings.warn(f'CrossEntropyLoss(ignore_index={ignore_index}) averages over all labels, '
                          'ignored ones included (avg_non_ignore=False, the default); set '
                          'avg_non_ignore=True to average over the non-ignored labels as '
                          'F.cross_entropy does')
        if self.use_sigmoid:
            self.cls_criterion = binary_cross_entropy
        elif self.use_mask:
            self.cls_criterion = mask_cross_entropy
        else:
            self.cls_criterion = cross_entropy

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                ignore_index: Optional[int] = None) -> torch.Tensor:
        """Loss of (N, C) logits ``cls_score`` against (N,) labels.

        Args:
            cls_score: (N, C) logits ((N, C, H, W) in mask mode).
            label: (N,) class indices ((N, C) float targets also accepted in sigmoid mode;
                (N, H, W) targets in mask mode).
            weight: (N,) per-sample weights ((N, C) in sigmoid mode with (N, C) targets).
            avg_factor: denominator replacing the element count of the mean.
            reduction_override: overrides ``self.reduction`` for this call.
            ignore_index: overrides ``self.ignore_index`` for this call.
        """
        check_reduction_override(reduction_override)
        reduction = reduction_override if reduction_override else self.reduction
        if ignore_index is None:
            ignore_index = self.ignore_index
        class_weight = (None if self.class_weight is None else cls_score.new_tensor(
            self.class_weight))
        # in mask mode ``label`` is the (N, H, W) target and ``weight`` the (N,) RoI labels
        return self.loss_weight * self.cls_criterion(
            cls_score, label, weight, reduction=reduction, avg_factor=avg_factor,
            class_weight=class_weight, ignore_index=ignore_index, avg_non_ignore=self.avg_non_ignore)

    def extra_repr(self) -> str:
        return f'avg_non_ignore={self.avg_non_ignore}'
