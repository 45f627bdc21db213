"""Non-maximum suppression with mmcv 1.x semantics: ``torchvision.ops.nms`` and a soft-NMS.

Symbols: N boxes, C foreground classes, k kept detections.
"""
from typing import List, Optional, Tuple, Union

import torch
from torchvision.ops import nms as tv_nms


def nms(boxes: torch.Tensor,
        scores: torch.Tensor,
        iou_threshold: float,
        offset: int = 0,
        score_threshold: float = 0,
        max_num: int = -1) -> Tuple[torch.Tensor, torch.Tensor]:
    """Greedy NMS (the ``mmcv.ops.nms`` contract).

    Args:
        boxes: (N, 4) x1y1x2y2.
        scores: (N,) scores.
        iou_threshold: suppress boxes whose IoU with a kept box is above this.
        offset: 0, or 1 for the legacy ``w = x2 - x1 + 1`` areas.
        score_threshold: boxes with score <= this are dropped first (when > 0).
        max_num: keep at most this many (when > 0).

    Returns:
        dets (k, 5) = kept boxes + scores, sorted by descending score; keep (k,) indices into N.
    """
    if boxes.dim() != 2 or boxes.size(1) != 4 or scores.shape != boxes.shape[:1]:
        raise ValueError(f'nms expects boxes (N, 4) and scores (N,), got {tuple(boxes.shape)} and '
                         f'{tuple(scores.shape)}')
    if offset not in (0, 1):
        raise ValueError(f'offset must be 0 or 1, got {offset}')
    valid_inds = None
    if score_threshold > 0:
        valid_mask = scores > score_threshold
        valid_inds = torch.nonzero(valid_mask, as_tuple=False).view(-1)
        boxes, scores = boxes[valid_inds], scores[valid_inds]
    # a +1 on x2/y2 turns torchvision's areas and intersections into the offset=1 ones
    boxes_for_op = boxes if offset == 0 else torch.cat([boxes[:, :2], boxes[:, 2:] + 1], dim=1)
    keep = tv_nms(boxes_for_op.float(), scores.float(), float(iou_threshold))
    if max_num > 0:
        keep = keep[:max_num]
    dets = torch.cat([boxes[keep], scores[keep].reshape(-1, 1)], dim=1)
    if valid_inds is not None:
        keep = valid_inds[keep]
    return dets, keep


_SOFT_NMS_METHODS = ('naive', 'linear', 'gaussian')


def _decay_weights(ious: torch.Tensor, method: str, iou_threshold: float,
                   sigma: float) -> torch.Tensor:
    """Score multipliers of soft-NMS for the (R,) IoUs with the last pick."""
    if method == 'linear':
        return torch.where(ious > iou_threshold, 1 - ious, torch.ones_like(ious))
    if method == 'gaussian':
        return torch.exp(-(ious * ious) / sigma)
    return (ious <= iou_threshold).to(ious)


def soft_nms(boxes: torch.Tensor,
             scores: torch.Tensor,
             iou_threshold: float = 0.3,
             sigma: float = 0.5,
             min_score: float = 1e-3,
             method: str = 'linear',
             offset: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Soft-NMS (https://arxiv.org/abs/1704.04503; the ``mmcv.ops.soft_nms`` contract).

    Repeatedly picks the highest remaining score (ties: the lower index) and multiplies the
    score of every remaining box by a decay of its IoU with the pick:
    ``'linear'``: ``1 - iou`` where ``iou > iou_threshold``, else 1; ``'gaussian'``:
    ``exp(-iou^2 / sigma)`` (no threshold); ``'naive'``: 0 where ``iou > iou_threshold``, else 1.
    Remaining boxes whose decayed score falls below ``min_score`` are dropped (as in mmcv, the
    first pick itself is never compared with ``min_score``). The loop runs once per pick; each
    step is vectorised over the R remaining boxes.

    Args:
        boxes: (N, 4) x1y1x2y2.
        scores: (N,) scores.
        offset: 0, or 1 for the legacy ``w = x2 - x1 + 1`` areas.

    Returns:
        dets (k, 5) = kept boxes + decayed scores, sorted by descending score; keep (k,)
        indices into N.
    """
    if boxes.dim() != 2 or boxes.size(1) != 4 or scores.shape != boxes.shape[:1]:
        raise ValueError(f'soft_nms expects boxes (N, 4) and scores (N,), got '
                         f'{tuple(boxes.shape)} and {tuple(scores.shape)}')
    if method not in _SOFT_NMS_METHODS:
        raise ValueError(f'method must be one of {_SOFT_NMS_METHODS}, got {method!r}')
    if offset not in (0, 1):
        raise ValueError(f'offset must be 0 or 1, got {offset}')
    if sigma <= 0 and method == 'gaussian':
        raise ValueError(f'sigma must be positive, got {sigma}')
    areas = (boxes[:, 2] - boxes[:, 0] + offset) * (boxes[:, 3] - boxes[:, 1] + offset)
    remaining = torch.arange(boxes.size(0), device=boxes.device)
    remaining_scores = scores.clone()
    picks, pick_scores = [], []
    while remaining.numel() > 0:
        top = torch.argmax(remaining_scores)
        pick = remaining[top]
        picks.append(pick)
        pick_scores.append(remaining_scores[top])
        rest = torch.arange(remaining.numel(), device=boxes.device) != top
        remaining, remaining_scores = remaining[rest], remaining_scores[rest]
        lt = torch.max(boxes[pick, :2], boxes[remaining, :2])
        rb = torch.min(boxes[pick, 2:], boxes[remaining, 2:])
        inter_wh = (rb - lt + offset).clamp(min=0)
        inter = inter_wh[:, 0] * inter_wh[:, 1]
        # the clamp keeps two zero-area boxes at IoU 0 instead of NaN
        union = (areas[pick] + areas[remaining] - inter).clamp(min=torch.finfo(areas.dtype).eps)
        remaining_scores = remaining_scores * _decay_weights(inter / union, method, iou_threshold,
                                                             sigma)
        alive = remaining_scores >= min_score
        remaining, remaining_scores = remaining[alive], remaining_scores[alive]
    if not picks:
        return boxes.new_zeros((0, 5)), torch.zeros(0, dtype=torch.long, device=boxes.device)
    keep = torch.stack(picks)
    dets = torch.cat([boxes[keep], torch.stack(pick_scores)[:, None].to(boxes)], dim=1)
    return dets, keep


_NMS_OPS = {'nms': nms, 'soft_nms': soft_nms}


def batched_nms(boxes: torch.Tensor,
                scores: torch.Tensor,
                idxs: torch.Tensor,
                nms_cfg: dict,
                class_agnostic: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """NMS independently inside each group ``idxs`` (the ``mmcv.ops.batched_nms`` contract).

    Groups are separated by shifting each box by ``idx * (max_coordinate + 1)`` and running one
    NMS; with ``N >= split_thr`` (default 10000) groups are processed one by one instead.

    Args:
        boxes: (N, 4) x1y1x2y2.
        scores: (N,) scores.
        idxs: (N,) group of each box (class or level id).
        nms_cfg: ``dict(type='nms', iou_threshold=..., [offset, score_threshold, max_num,
            split_thr, class_agnostic])``, or ``dict(type='soft_nms', iou_threshold=...,
            [sigma, min_score, method, offset, split_thr, class_agnostic])`` (scores decayed).
        class_agnostic: ignore ``idxs`` (overridden by ``nms_cfg['class_agnostic']``).

    Returns:
        dets (k, 5) boxes + scores sorted by descending score; keep (k,) indices into N.
    """
    nms_cfg_ = dict(nms_cfg)
    class_agnostic = nms_cfg_.pop('class_agnostic', class_agnostic)
    nms_type = nms_cfg_.pop('type', 'nms')
    if nms_type not in _NMS_OPS:
        raise ValueError(f'nms_cfg type must be one of {sorted(_NMS_OPS)}, got {nms_type!r}')
    nms_op = _NMS_OPS[nms_type]
    split_thr = nms_cfg_.pop('split_thr', 10000)
    if boxes.numel() == 0:
        return boxes.new_zeros((0, 5)), idxs.new_zeros((0, ), dtype=torch.long)

    if class_agnostic:
        boxes_for_nms = boxes
    else:
        max_coordinate = boxes.max()
        offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
        boxes_for_nms = boxes + offsets[:, None]

    if boxes_for_nms.shape[0] < split_thr:
        dets, keep = nms_op(boxes_for_nms, scores, **nms_cfg_)
        return torch.cat([boxes[keep], dets[:, -1:]], dim=-1), keep

    max_num = nms_cfg_.pop('max_num', -1)
    total_mask = scores.new_zeros(scores.size(), dtype=torch.bool)
    scores_after_nms = scores.new_zeros(scores.size())
    for group_id in torch.unique(idxs):
        mask = (idxs == group_id).nonzero(as_tuple=False).view(-1)
        dets, keep = nms_op(boxes_for_nms[mask], scores[mask], **nms_cfg_)
        total_mask[mask[keep]] = True
        scores_after_nms[mask[keep]] = dets[:, -1]
    keep = total_mask.nonzero(as_tuple=False).view(-1)
    scores, inds = scores_after_nms[keep].sort(descending=True)
    keep = keep[inds]
    boxes = boxes[keep]
    if max_num > 0:
        keep, boxes, scores = keep[:max_num], boxes[:max_num], scores[:max_num]
    return torch.cat([boxes, scores[:, None]], dim=-1), keep


def multiclass_nms(
    multi_bboxes: torch.Tensor,
    multi_scores: torch.Tensor,
    score_thr: float,
    nms_cfg: dict,
    max_num: int = -1,
    score_factors: Optional[torch.Tensor] = None,
    return_inds: bool = False
) -> Union[Tuple[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per-class NMS over all (box, class) pairs at once (batched by class).

    Args:
        multi_bboxes: (N, 4) class-agnostic or (N, 4C) class-specific boxes.
        multi_scores: (N, C + 1) scores; the last column is the background and is dropped.
        score_thr: pairs with score <= this are dropped (strict ``>``, before ``score_factors``).
        nms_cfg: config of :func:`batched_nms`.
        max_num: keep at most this many detections (when > 0).
        score_factors: (N,) factors multiplied into the scores (e.g. centerness).
        return_inds: also return the indices of the kept pairs into the flattened (N * C) pairs.

    Returns:
        dets (k, 5) boxes + scores sorted by descending score, labels (k,) in [0, C)
        [, inds (k,)].
    """
    if multi_scores.dim() != 2 or multi_bboxes.size(0) != multi_scores.size(0):
        raise ValueError(f'expected multi_bboxes (N, 4 or 4C) and multi_scores (N, C+1), got '
                         f'{tuple(multi_bboxes.shape)} and {tuple(multi_scores.shape)}')
    num_classes = multi_scores.size(1) - 1
    num_boxes = multi_scores.size(0)
    if multi_bboxes.shape[1] > 4:
        bboxes = multi_bboxes.reshape(num_boxes, -1, 4)
    else:
        bboxes = multi_bboxes[:, None].expand(num_boxes, num_classes, 4)
    scores = multi_scores[:, :-1]
    labels = torch.arange(num_classes, dtype=torch.long, device=scores.device)
    labels = labels.view(1, -1).expand_as(scores)

    bboxes = bboxes.reshape(-1, 4)
    scores = scores.reshape(-1)
    labels = labels.reshape(-1)
    valid_mask = scores > score_thr
    if score_factors is not None:
        score_factors = score_factors.view(-1, 1).expand(num_boxes, num_classes).reshape(-1)
        scores = scores * score_factors
    inds = valid_mask.nonzero(as_tuple=False).view(-1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]

    if bboxes.numel() == 0:
        dets = torch.cat([bboxes, scores[:, None]], -1)
        return (dets, labels, inds) if return_inds else (dets, labels)

    dets, keep = batched_nms(bboxes, scores, labels, nms_cfg)
    if max_num > 0:
        dets = dets[:max_num]
        keep = keep[:max_num]
    if return_inds:
        return dets, labels[keep], inds[keep]
    return dets, labels[keep]


def nms_match(dets: torch.Tensor, iou_threshold: float) -> List[torch.Tensor]:
    """Greedy NMS that keeps the groups (the ``mmcv.ops.nms_match`` contract, used by PISA's ScoreHLRSampler).

    Boxes are visited by descending score; each not-yet-grouped box opens a group and takes every later
    ungrouped box whose IoU with it is ``>= iou_threshold`` (areas without the +1 offset).

    Args:
        dets: (N, 5) x1, y1, x2, y2, score.

    Returns:
        one (n_g,) long tensor per group: its opening box first, then the matched boxes by descending score.
    """
    if dets.dim() != 2 or dets.size(1) != 5:
        raise ValueError(f'nms_match expects dets (N, 5), got {tuple(dets.shape)}')
    if dets.size(0) == 0:
        return []
    dets = dets.detach()
    order = dets[:, 4].argsort(descending=True)
    boxes = dets[order, :4]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lt = torch.max(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.min(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    matches = (inter / (areas[:, None] + areas[None, :] - inter)) >= iou_threshold
    # boxes are in score order, so a group only takes boxes after its opener
    matches = torch.triu(matches, diagonal=1).cpu()
    grouped = torch.zeros(len(order), dtype=torch.bool)
    groups = []
    for i in range(len(order)):  # sequential by nature: a box's group depends on all earlier groups
        if grouped[i]:
            continue
        members = torch.nonzero(matches[i] & ~grouped, as_tuple=False).view(-1)
        grouped[members] = True
        groups.append(order[torch.cat([members.new_tensor([i]), members]).to(order.device)])
    return groups
