"""Legacy (dx, dy, dw, dh) box coder of MMDetection 1.x (``LegacyDeltaXYWHBBoxCoder``).

Symbols: N boxes; B optional batch dim; k boxes per row (k = 1, or the number of classes). Boxes are x1y1x2y2 with
the legacy +1 convention: ``w = x2 - x1 + 1``; a decoded box spans ``[ctr - w/2 + 0.5,
ctr + w/2 - 0.5]``, so ``legacy_delta2bbox(p, legacy_bbox2delta(p, g)) == g``.
"""
import math
from typing import Sequence

import torch

from ..builder import BBOX_CODERS
from .base_bbox_coder import BaseBBoxCoder
from .delta_xywh_bbox_coder import MaxShape, max_xy


def _legacy_centers_and_sizes(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) x1y1x2y2 -> (..., 4) (cx, cy, w + 1 convention, h + 1 convention)."""
    ctr = (boxes[..., :2] + boxes[..., 2:]) * 0.5
    size = boxes[..., 2:] - boxes[..., :2] + 1.0
    return torch.cat([ctr, size], dim=-1)


def legacy_bbox2delta(proposals: torch.Tensor,
                      gt: torch.Tensor,
                      means: Sequence[float] = (0., 0., 0., 0.),
                      stds: Sequence[float] = (1., 1., 1., 1.)) -> torch.Tensor:
    """Deltas that turn ``proposals`` into ``gt`` with +1 widths, normalised by means/stds.

    ``dx = (gx - px) / pw``, ``dw = log(gw / pw)`` with ``w = x2 - x1 + 1`` (same for y, h),
    then ``(d - mean) / std``; computed in float32.

    Args:
        proposals: (..., 4) reference boxes.
        gt: (..., 4) target boxes, same shape.

    Returns:
        (..., 4) float32 deltas.
    """
    if proposals.shape != gt.shape or proposals.size(-1) != 4:
        raise ValueError(f'proposals and gt must both be (..., 4) of the same shape, got '
                         f'{tuple(proposals.shape)} and {tuple(gt.shape)}')
    p = _legacy_centers_and_sizes(proposals.float())
    g = _legacy_centers_and_sizes(gt.float())
    deltas = torch.cat([(g[..., :2] - p[..., :2]) / p[..., 2:], torch.log(g[..., 2:] / p[..., 2:])],
                       dim=-1)
    return (deltas - deltas.new_tensor(means)) / deltas.new_tensor(stds)


def legacy_delta2bbox(rois: torch.Tensor,
                      deltas: torch.Tensor,
                      means: Sequence[float] = (0., 0., 0., 0.),
                      stds: Sequence[float] = (1., 1., 1., 1.),
                      max_shape: MaxShape = None,
                      wh_ratio_clip: float = 16 / 1000) -> torch.Tensor:
    """Apply ``deltas`` to ``rois`` with +1 widths (inverse of :func:`legacy_bbox2delta`).

    ``d = deltas * std + mean``; ``dw, dh`` clamped to ``±|log(wh_ratio_clip)|``; centre
    ``p + pwh * dxy``, size ``pwh * exp(dwh)``; box ``[ctr - size/2 + 0.5, ctr + size/2 - 0.5]``.

    Args:
        rois: (N, 4) or (B, N, 4) reference boxes.
        deltas: (N, 4k) or (B, N, 4k) deltas, k boxes per reference box.
        max_shape: (h, w[, c]) image shape, or B such shapes for batched input; when given, x is
            clamped to [0, w - 1] and y to [0, h - 1].
        wh_ratio_clip: maximum relative size change, ``exp(|log(wh_ratio_clip)|)``.

    Returns:
        Boxes with the shape of ``deltas``: (N, 4k) or (B, N, 4k).
    """
    if (rois.dim() not in (2, 3) or rois.size(-1) != 4 or deltas.size(-1) % 4 != 0
            or deltas.shape[:-1] != rois.shape[:-1]):
        raise ValueError(f'expected rois (N, 4) and deltas (N, 4k), or (B, N, 4) and (B, N, 4k), got '
                         f'rois {tuple(rois.shape)} and deltas {tuple(deltas.shape)}')
    num_per_roi = deltas.size(-1) // 4
    denorm = (deltas.view(*deltas.shape[:-1], num_per_roi, 4) * deltas.new_tensor(stds)
              + deltas.new_tensor(means))
    max_ratio = abs(math.log(wh_ratio_clip))
    d_ctr = denorm[..., :2]
    d_size = denorm[..., 2:].clamp(min=-max_ratio, max=max_ratio)

    p = _legacy_centers_and_sizes(rois.to(deltas.dtype))[..., None, :]
    ctr = p[..., :2] + p[..., 2:] * d_ctr
    size = p[..., 2:] * d_size.exp()
    top_left = ctr - size * 0.5 + 0.5
    bottom_right = ctr + size * 0.5 - 0.5
    if max_shape is not None:
        # last pixel (w - 1, h - 1); per image (B, 1, 1, 2) against the (B, N, k, 2) corners
        upper = max_xy(max_shape, deltas) - 1
        upper = upper[:, :, None, :] if upper.dim() == 3 else upper
        top_left = torch.min(top_left.clamp(min=0), upper)
        bottom_right = torch.min(bottom_right.clamp(min=0), upper)
    return torch.cat([top_left, bottom_right], dim=-1).view(deltas.shape)


@BBOX_CODERS.register_module()
class LegacyDeltaXYWHBBoxCoder(BaseBBoxCoder):
    """MMDetection 1.x box coder: :class:`DeltaXYWHBBoxCoder` with ``w = x2 - x1 + 1``.

    Args:
        target_means: means subtracted from the deltas.
        target_stds: standard deviations dividing the deltas.
    """

    def __init__(self,
                 target_means: Sequence[float] = (0., 0., 0., 0.),
                 target_stds: Sequence[float] = (1., 1., 1., 1.)) -> None:
        super().__init__()
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError(f'target_means and target_stds need 4 values each, got '
                             f'{target_means} and {target_stds}')
        self.means = target_means
        self.stds = target_stds

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """Deltas (N, 4) that turn the (N, 4) ``bboxes`` into the (N, 4) ``gt_bboxes``."""
        if bboxes.size(0) != gt_bboxes.size(0):
            raise ValueError(f'bboxes {tuple(bboxes.shape)} and gt_bboxes {tuple(gt_bboxes.shape)} '
                             'must have the same number of rows')
        return legacy_bbox2delta(bboxes, gt_bboxes, self.means, self.stds)

    def decode(self,
               bboxes: torch.Tensor,
               pred_bboxes: torch.Tensor,
               max_shape: MaxShape = None,
               wh_ratio_clip: float = 16 / 1000) -> torch.Tensor:
        """Boxes from (N, 4k) or (B, N, 4k) ``pred_bboxes`` deltas on (N, 4) / (B, N, 4) ``bboxes``."""
        return legacy_delta2bbox(bboxes, pred_bboxes, self.means, self.stds, max_shape,
                                 wh_ratio_clip)
