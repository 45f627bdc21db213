"""PISA's importance-based positive reweighting (ISR-P) and classification-aware regression loss (CARL),
MMDetection 2.x ``isr_p`` / ``carl_loss`` (https://arxiv.org/abs/1904.04821).

Symbols: R sampled RoIs of the batch, P positives among them (label in [0, num_class)), K = num_class.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from ...core.bbox import bbox_overlaps


def _positives(labels: torch.Tensor, num_class: int) -> torch.Tensor:
    """(P,) indices of the foreground labels of (R,) ``labels``."""
    return ((labels >= 0) & (labels < num_class)).nonzero(as_tuple=False).view(-1)


def rank_within_groups(values: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Descending rank (0 = largest) of each of the (P,) ``values`` among those sharing its (P,) ``groups`` key."""
    order = torch.argsort(values, descending=True, stable=True)
    order = order[torch.argsort(groups[order], stable=True)]
    counts = torch.unique_consecutive(groups[order], return_counts=True)[1]
    starts = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order), device=order.device) - starts
    return rank


def _batch_gt_ids(sampling_results: Sequence) -> torch.Tensor:
    """(P,) ground-truth ids of the positives of all images, made distinct across images the 2.28 way: an image's
    ids are shifted by 1 + the largest unshifted id of the last earlier image with positives."""
    gts, last_max_gt = [], 0
    for res in sampling_results:
        gt_inds = res.pos_assigned_gt_inds
        gts.append(gt_inds + last_max_gt)
        if len(gt_inds) != 0:
            last_max_gt = int(gt_inds.max()) + 1
    return torch.cat(gts)


def isr_p(cls_score: torch.Tensor,
          bbox_pred: torch.Tensor,
          bbox_targets: Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
          rois: torch.Tensor,
          sampling_results: Sequence,
          loss_cls: Callable,
          bbox_coder,
          k: float = 2,
          bias: float = 0,
          num_class: int = 80) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Importance-based Sample Reweighting of the positives (ISR-P): new classification weights from the IoU
    hierarchical local rank (IoU-HLR).

    IoU-HLR: the IoU of each positive's decoded box with its target is ranked among the positives of the same
    (class, ground truth), ``iou += max_l_num - rank`` (max_l_num: positives of the most frequent class), and
    the result ranked again within the class: ``w = label_weight * (max_l_num - rank) / max_l_num``, then
    ``w = (bias + (1 - bias) * w) ** k``, rescaled so the positives' weighted ``loss_cls`` is unchanged.

    Args:
        cls_score: (R, K+1) logits; bbox_pred: (R, 4K) or (R, 4) deltas (both used without gradient).
        bbox_targets: (labels (R,), label_weights (R,), bbox_targets (R, 4), bbox_weights (R, 4)).
        rois: (R, 5) RoIs or (R, 4) anchors.
        sampling_results: per image, in RoI order (their ``pos_assigned_gt_inds``).
        loss_cls: the head's classification loss (called with ``reduction_override='none'``).
        bbox_coder: the head's coder (``decode``).

    Returns:
        the targets tuple with new label weights (a new tensor; the input is not modified).
    """
    labels, label_weights, box_targets, bbox_weights = bbox_targets
    pos_label_inds = _positives(labels, num_class)
    if pos_label_inds.numel() == 0:
        return labels, label_weights, box_targets, bbox_weights
    pos_labels = labels[pos_label_inds]
    gts = _batch_gt_ids(sampling_results).to(labels.device)
    if len(gts) != len(pos_label_inds):
        raise ValueError(f'sampling_results have {len(gts)} positives but labels have {len(pos_label_inds)}')
    cls_score = cls_score.detach()
    bbox_pred = bbox_pred.detach()
    pos_rois = rois[pos_label_inds][:, 1:] if rois.size(-1) == 5 else rois[pos_label_inds]
    if bbox_pred.size(-1) > 4:
        pos_delta_pred = bbox_pred.view(bbox_pred.size(0), -1, 4)[pos_label_inds, pos_labels]
    else:
        pos_delta_pred = bbox_pred[pos_label_inds].view(-1, 4)
    pos_bbox_pred = bbox_coder.decode(pos_rois, pos_delta_pred)
    target_bbox_pred = bbox_coder.decode(pos_rois, box_targets[pos_label_inds].view(-1, 4))
    ious = bbox_overlaps(pos_bbox_pred, target_bbox_pred, is_aligned=True)

    max_l_num = pos_labels.bincount().max().float()
    label_gt_key = pos_labels * (int(gts.max()) + 1) + gts
    ious = ious + max_l_num - rank_within_groups(ious, label_gt_key).float()
    l_iou_rank = rank_within_groups(ious, pos_labels).float()
    pos_weights = label_weights[pos_label_inds]
    pos_imp_weights = pos_weights * (max_l_num - l_iou_rank) / max_l_num
    pos_imp_weights = (bias + pos_imp_weights * (1 - bias)).pow(k)

    pos_loss_cls = loss_cls(cls_score[pos_label_inds], pos_labels, reduction_override='none')
    if pos_loss_cls.dim() > 1:
        ori_pos_loss_cls = pos_loss_cls * pos_weights[:, None]
        new_pos_loss_cls = pos_loss_cls * pos_imp_weights[:, None]
    else:
        ori_pos_loss_cls = pos_loss_cls * pos_weights
        new_pos_loss_cls = pos_loss_cls * pos_imp_weights
    pos_imp_weights = pos_imp_weights * (ori_pos_loss_cls.sum() / new_pos_loss_cls.sum())
    label_weights = label_weights.clone()
    label_weights[pos_label_inds] = pos_imp_weights
    return labels, label_weights, box_targets, bbox_weights


def carl_loss(cls_score: torch.Tensor,
              labels: torch.Tensor,
              bbox_pred: torch.Tensor,
              bbox_targets: torch.Tensor,
              loss_bbox: Callable,
              k: float = 1,
              bias: float = 0.2,
              avg_factor: Optional[float] = None,
              sigmoid: bool = False,
              num_class: int = 80) -> Dict[str, torch.Tensor]:
    """Classification-Aware Regression Loss: each positive's regression loss (4 terms, divided by
    ``avg_factor``, default R) weighted by ``(bias + (1 - bias) * p) ** k``, p its score of its class
    (softmax, or sigmoid), weights rescaled to sum to P. Gradients flow into ``cls_score``.

    Args:
        cls_score: (R, K+1) logits; labels: (R,); bbox_pred: (R, 4K) or (R, 4); bbox_targets: (R, 4).
        loss_bbox: the head's regression loss (called with ``reduction_override='none'``).

    Returns:
        ``dict(loss_carl=(1,) tensor)``.
    """
    pos_label_inds = _positives(labels, num_class)
    pos_labels = labels[pos_label_inds]
    probs = cls_score.sigmoid() if sigmoid else cls_score.softmax(-1)
    pos_cls_score = probs[pos_label_inds, pos_labels]
    carl_loss_weights = (bias + (1 - bias) * pos_cls_score).pow(k)
    carl_loss_weights = carl_loss_weights * (float(pos_cls_score.size(0)) / carl_loss_weights.sum())
    if avg_factor is None:
        avg_factor = bbox_targets.size(0)
    if bbox_pred.size(-1) > 4:
        pos_bbox_preds = bbox_pred.view(bbox_pred.size(0), -1, 4)[pos_label_inds, pos_labels]
    else:
        pos_bbox_preds = bbox_pred[pos_label_inds]
    ori_loss_reg = loss_bbox(pos_bbox_preds, bbox_targets[pos_label_inds], reduction_override='none') / avg_factor
    loss_carl = (ori_loss_reg * carl_loss_weights[:, None]).sum()
    return dict(loss_carl=loss_carl[None])
