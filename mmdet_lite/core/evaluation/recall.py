"""Proposal recall (``eval_recalls``), as used by COCO's ``proposal_fast`` metric."""
from typing import List, Optional, Sequence, Union

import numpy as np
from mmcv.utils import print_log

from .bbox_overlaps import bbox_overlaps


def _greedy_matched_ious(ious: np.ndarray) -> np.ndarray:
    """IoU of each GT under greedy one-to-one matching, best pair first.

    Args:
        ious: (G, P) IoUs between G ground truths and P proposals.

    Returns:
        (G,) matched IoU per GT (0 when no proposal is left for it).
    """
    ious = ious.copy()
    matched = np.zeros(ious.shape[0], dtype=np.float32)
    if ious.size == 0:
        return matched
    for _ in range(min(ious.shape)):
        gt_idx, box_idx = np.unravel_index(np.argmax(ious), ious.shape)
        if ious[gt_idx, box_idx] < 0:
            break
        matched[gt_idx] = ious[gt_idx, box_idx]
        ious[gt_idx, :] = -1
        ious[:, box_idx] = -1
    return matched


def eval_recalls(gts: Sequence[np.ndarray], proposals: Sequence[np.ndarray],
                 proposal_nums: Union[int, Sequence[int], None] = None,
                 iou_thrs: Union[float, Sequence[float]] = 0.5, logger=None,
                 use_legacy_coordinate: bool = False) -> np.ndarray:
    """Recall of the top proposals of every image.

    Args:
        gts: per image (G_i, 4) GT boxes.
        proposals: per image (P_i, 4 or 5) proposals, sorted by score when 5 columns.
        proposal_nums: top-k cut-offs (default: all proposals).
        iou_thrs: IoU thresholds.
        logger: where the recall table goes (``print_log``'s ``logger``).
        use_legacy_coordinate: IoUs with ``w = x2 - x1 + 1`` (MMDetection 1.x).

    Returns:
        (len(proposal_nums), len(iou_thrs)) recalls.
    """
    if len(gts) != len(proposals):
        raise ValueError(f'got {len(gts)} GT lists but {len(proposals)} proposal lists')
    proposal_nums = np.array([proposal_nums] if isinstance(proposal_nums, int)
                             else (proposal_nums or [max(len(p) for p in proposals)]))
    iou_thrs = np.array([iou_thrs] if isinstance(iou_thrs, float) else iou_thrs,
                        dtype=np.float32)
    matched: List[np.ndarray] = []  # per image, (len(proposal_nums), G_i)
    for gt, proposal in zip(gts, proposals):
        proposal = np.asarray(proposal, dtype=np.float32)
        proposal = proposal if proposal.size else np.zeros((0, 4), dtype=np.float32)
        if proposal.shape[1] == 5:
            proposal = proposal[np.argsort(-proposal[:, 4], kind='stable')]
        gt = np.asarray(gt, dtype=np.float32).reshape(-1, 4)
        ious = bbox_overlaps(gt, proposal[:, :4], use_legacy_coordinate=use_legacy_coordinate)
        matched.append(np.stack([_greedy_matched_ious(ious[:, :num]) for num in proposal_nums]))
    all_matched = np.concatenate(matched, axis=1) if matched else np.zeros((len(proposal_nums), 0))
    total_gts = max(all_matched.shape[1], 1)
    recalls = (all_matched[:, :, None] >= iou_thrs[None, None, :]).sum(axis=1) / total_gts
    _print_recall_summary(recalls, proposal_nums, iou_thrs, logger)
    return recalls


def _print_recall_summary(recalls: np.ndarray, proposal_nums: np.ndarray, iou_thrs: np.ndarray,
                          logger: Optional[object]) -> None:
    header = 'proposals ' + ' '.join(f'{thr:.3f}' for thr in iou_thrs)
    rows = [f'{num:<9} ' + ' '.join(f'{r:.3f}' for r in row)
            for num, row in zip(proposal_nums, recalls)]
    print_log('\n'.join([header] + rows), logger=logger)
