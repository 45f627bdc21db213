"""Side-aware bucketing box coder of SABL (MMDetection 2.x ``BucketingBBoxCoder``,
https://arxiv.org/abs/1912.04260).

Each proposal is scaled by ``scale_factor`` about its centre and each side of it cut into B = ``num_buckets``
buckets of width ``w / B`` (height ``h / B``); a side's search range is the S = ceil(B / 2) buckets next to it,
counted inwards. A boundary is coded as the index of its nearest bucket (bucketing estimation) plus its
offset from that bucket's centre in bucket units (fine regression).

Symbols: N boxes; S buckets per side; sides ordered left, right, top, down (x1, x2, y1, y2); the (N, 4S)
tensors are those four (N, S) blocks side by side.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..builder import BBOX_CODERS
from ..transforms import bbox_rescale
from .base_bbox_coder import BaseBBoxCoder


def generate_buckets(proposals: torch.Tensor, num_buckets: int,
                     scale_factor: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Bucket centres (N, 4, S) of the sides (left, right, top, down, each counted from its side inwards) and
    bucket sizes (N, 4) (w / B for left/right, h / B for top/down) of the rescaled (N, 4) proposals."""
    proposals = bbox_rescale(proposals, scale_factor)
    side_num = int(np.ceil(num_buckets / 2.0))
    bucket_w = (proposals[:, 2] - proposals[:, 0]) / num_buckets
    bucket_h = (proposals[:, 3] - proposals[:, 1]) / num_buckets
    sizes = torch.stack([bucket_w, bucket_w, bucket_h, bucket_h], dim=1)
    # left/top buckets step inwards from x1/y1 (+), right/down ones from x2/y2 (-)
    directions = proposals.new_tensor([1., -1., 1., -1.])
    sides = proposals[:, [0, 2, 1, 3]]
    steps = 0.5 + torch.arange(side_num, device=proposals.device, dtype=proposals.dtype)
    centers = sides[:, :, None] + directions[None, :, None] * steps[None, None, :] * sizes[:, :, None]
    return centers, sizes


def bbox2bucket(proposals: torch.Tensor,
                gt: torch.Tensor,
                num_buckets: int,
                scale_factor: float,
                offset_topk: int = 2,
                offset_upperbound: float = 1.0,
                cls_ignore_neighbor: bool = True) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets of (N, 4) ``gt`` relative to (N, 4) ``proposals``.

    Returns (each (N, 4S)):
        offsets: (bucket centre - gt side) / bucket size, for every bucket.
        offset_weights: 1 at the nearest bucket, and at the next ``offset_topk - 1`` nearest ones whose
            |offset| < ``offset_upperbound``.
        bucket_labels: one-hot of the nearest bucket.
        cls_weights: with ``cls_ignore_neighbor``, 0 for non-nearest buckets with |offset| < 1, else 1.
    """
    if proposals.shape != gt.shape or proposals.dim() != 2 or proposals.size(1) != 4:
        raise ValueError(f'bbox2bucket expects proposals and gt of the same (N, 4) shape, got '
                         f'{tuple(proposals.shape)} and {tuple(gt.shape)}')
    proposals = proposals.float()
    gt = gt.float()
    num = proposals.size(0)
    centers, sizes = generate_buckets(proposals, num_buckets, scale_factor)
    side_num = centers.size(2)
    offsets = (centers - gt[:, [0, 2, 1, 3], None]) / sizes[:, :, None]
    topk_dists, topk_labels = offsets.abs().topk(offset_topk, dim=2, largest=False, sorted=True)
    topk_weights = torch.cat([topk_dists[:, :, :1].new_ones(num, 4, 1),
                              (topk_dists[:, :, 1:] < offset_upperbound).float()], dim=2)
    offset_weights = offsets.new_zeros(offsets.shape).scatter(2, topk_labels, topk_weights)
    bucket_labels = F.one_hot(topk_labels[:, :, 0], side_num).float()
    if cls_ignore_neighbor:
        cls_weights = (~((offsets.abs() < 1) & (bucket_labels == 0))).float()
    else:
        cls_weights = torch.ones_like(offsets)
    return (offsets.reshape(num, -1), offset_weights.reshape(num, -1), bucket_labels.reshape(num, -1),
            cls_weights.reshape(num, -1))


def bucket2bbox(proposals: torch.Tensor,
                cls_preds: torch.Tensor,
                offset_preds: torch.Tensor,
                num_buckets: int,
                scale_factor: float = 1.0,
                max_shape: Optional[Sequence[int]] = None,
                clip_border: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """Boxes (N, 4) from (N, 4S) bucket logits and offsets: each side at its top-scoring bucket's centre minus
    that bucket's offset; clamped to [0, W - 1] x [0, H - 1] when ``clip_border`` and ``max_shape`` (H, W, ...).

    Also returns the (N,) localisation confidence (bucketing-guided rescoring): per side the top softmax
    probability, plus the second one when its bucket neighbours the first, averaged over the 4 sides.
    """
    num = proposals.size(0)
    side_num = int(np.ceil(num_buckets / 2.0))
    scores = F.softmax(cls_preds.view(num, 4, side_num), dim=2)
    score_topk, score_label = scores.topk(2, dim=2, largest=True, sorted=True)
    centers, sizes = generate_buckets(proposals, num_buckets, scale_factor)
    best = score_label[:, :, :1]
    side_centers = centers.gather(2, best).squeeze(2)
    side_offsets = offset_preds.view(num, 4, side_num).gather(2, best).squeeze(2)
    sides = side_centers - side_offsets * sizes
    x1, x2, y1, y2 = sides.unbind(1)
    if clip_border and max_shape is not None:
        x1 = x1.clamp(min=0, max=max_shape[1] - 1)
        y1 = y1.clamp(min=0, max=max_shape[0] - 1)
        x2 = x2.clamp(min=0, max=max_shape[1] - 1)
        y2 = y2.clamp(min=0, max=max_shape[0] - 1)
    bboxes = torch.stack([x1, y1, x2, y2], dim=-1)
    neighbours = (score_label[:, :, 0] - score_label[:, :, 1]).abs() == 1
    loc_confidence = (score_topk[:, :, 0] + score_topk[:, :, 1] * neighbours.float()).mean(dim=1)
    return bboxes, loc_confidence


@BBOX_CODERS.register_module()
class BucketingBBoxCoder(BaseBBoxCoder):
    """SABL's coder: ``encode`` -> (offsets, offset_weights, bucket_labels, cls_weights), ``decode`` ->
    (bboxes, loc_confidence); see :func:`bbox2bucket` and :func:`bucket2bbox`."""

    def __init__(self,
                 num_buckets: int,
                 scale_factor: float,
                 offset_topk: int = 2,
                 offset_upperbound: float = 1.0,
                 cls_ignore_neighbor: bool = True,
                 clip_border: bool = True) -> None:
        super().__init__()
        side_num = int(np.ceil(num_buckets / 2.0))
        if not 1 <= offset_topk <= side_num:
            raise ValueError(f'offset_topk must be in [1, ceil(num_buckets / 2) = {side_num}], got {offset_topk}')
        self.num_buckets = num_buckets
        self.scale_factor = scale_factor
        self.offset_topk = offset_topk
        self.offset_upperbound = offset_upperbound
        self.cls_ignore_neighbor = cls_ignore_neighbor
        self.clip_border = clip_border

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(N, 4) proposals and (N, 4) ground truths -> four (N, 4S) target tensors."""
        return bbox2bucket(bboxes, gt_bboxes, self.num_buckets, self.scale_factor, self.offset_topk,
                           self.offset_upperbound, self.cls_ignore_neighbor)

    def decode(self, bboxes: torch.Tensor, pred_bboxes: Sequence[torch.Tensor],
               max_shape: Optional[Sequence[int]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, 4) proposals and ``(cls_preds (N, 4S), offset_preds (N, 4S))`` -> bboxes (N, 4), confidence (N,)."""
        if len(pred_bboxes) != 2:
            raise ValueError(f'pred_bboxes must be (cls_preds, offset_preds), got {len(pred_bboxes)} tensors')
        cls_preds, offset_preds = pred_bboxes
        if cls_preds.size(0) != bboxes.size(0) or offset_preds.size(0) != bboxes.size(0):
            raise ValueError(f'{bboxes.size(0)} boxes but predictions of shapes {tuple(cls_preds.shape)} and '
                             f'{tuple(offset_preds.shape)}')
        return bucket2bbox(bboxes, cls_preds, offset_preds, self.num_buckets, self.scale_factor, max_shape,
                           self.clip_border)
