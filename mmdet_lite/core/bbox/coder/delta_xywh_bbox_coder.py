"""(dx, dy, dw, dh) box coder of R-CNN (MMDetection 2.x ``DeltaXYWHBBoxCoder``).

Symbols: N boxes; B optional batch dim; k boxes per row (k = 1, or the number of classes for
class-specific regression). Boxes are x1y1x2y2, widths are ``x2 - x1`` (no +1).
"""
import math
from typing import Sequence, Union

import torch

from ..builder import BBOX_CODERS
from .base_bbox_coder import BaseBBoxCoder

MaxShape = Union[Sequence[int], torch.Tensor, Sequence[Sequence[int]], None]


def bbox2delta(proposals: torch.Tensor,
               gt: torch.Tensor,
               means: Sequence[float] = (0., 0., 0., 0.),
               stds: Sequence[float] = (1., 1., 1., 1.)) -> torch.Tensor:
    """Deltas that turn ``proposals`` into ``gt``, normalised by ``means``/``stds``.

    ``dx = (gx - px) / pw``, ``dy = (gy - py) / ph``, ``dw = log(gw / pw)``, ``dh = log(gh / ph)``,
    then ``(d - mean) / std``; computed in float32. Zero-size boxes give inf (callers filter them).

    Args:
        proposals: (..., 4) reference boxes.
        gt: (..., 4) target boxes, same shape.

    Returns:
        (..., 4) float32 deltas.
    """
    if proposals.shape != gt.shape or proposals.size(-1) != 4:
        raise ValueError(f'proposals and gt must both be (..., 4) of the same shape, got '
                         f'{tuple(proposals.shape)} and {tuple(gt.shape)}')
    proposals = proposals.float()
    gt = gt.float()
    # x and y side by side: half the operators of a column each, the same arithmetic per element
    p_ctr = (proposals[..., :2] + proposals[..., 2:]) * 0.5
    p_wh = proposals[..., 2:] - proposals[..., :2]
    g_ctr = (gt[..., :2] + gt[..., 2:]) * 0.5
    g_wh = gt[..., 2:] - gt[..., :2]
    deltas = torch.cat([(g_ctr - p_ctr) / p_wh, torch.log(g_wh / p_wh)], dim=-1)
    return (deltas - deltas.new_tensor(means)) / deltas.new_tensor(stds)


def delta2bbox(rois: torch.Tensor,
               deltas: torch.Tensor,
               means: Sequence[float] = (0., 0., 0., 0.),
               stds: Sequence[float] = (1., 1., 1., 1.),
               max_shape: MaxShape = None,
               wh_ratio_clip: float = 16 / 1000,
               clip_border: bool = True,
               add_ctr_clamp: bool = False,
               ctr_clamp: float = 32) -> torch.Tensor:
    """Apply ``deltas`` to ``rois`` (inverse of :func:`bbox2delta`).

    ``d = deltas * std + mean``; ``dw, dh`` are clamped to ``±|log(wh_ratio_clip)|`` (only from
    above when ``add_ctr_clamp``, which instead clamps the centre shift ``pw * dx`` to
    ``±ctr_clamp`` pixels); centre ``p + pwh * dxy``, size ``pwh * exp(dwh)``.

    Args:
        rois: (N, 4) or (B, N, 4) reference boxes.
        deltas: (N, 4k) or (B, N, 4k) deltas, k boxes per reference box.
        max_shape: (h, w[, c]) image shape, or B such shapes for batched input; when given and
            ``clip_border``, x is clamped to [0, w] and y to [0, h].
        wh_ratio_clip: maximum relative size change, ``exp(|log(wh_ratio_clip)|)``.

    Returns:
        Boxes with the shape of ``deltas``: (N, 4k) or (B, N, 4k).
    """
    if deltas.size(-1) % 4 != 0 or rois.size(-1) != 4 or deltas.shape[:-1] != rois.shape[:-1]:
        raise ValueError(f'expected rois (..., N, 4) and deltas (..., N, 4k) with equal leading '
                         f'dims, got rois {tuple(rois.shape)} and deltas {tuple(deltas.shape)}')
    num_per_roi = deltas.size(-1) // 4
    means_t = deltas.new_tensor(means).repeat(num_per_roi)
    stds_t = deltas.new_tensor(stds).repeat(num_per_roi)
    # (..., k, 4): x and y side by side, as in bbox2delta
    denorm_deltas = (deltas * stds_t + means_t).reshape(*deltas.shape[:-1], num_per_roi, 4)
    rois = rois.to(deltas.dtype)
    p_ctr = ((rois[..., :2] + rois[..., 2:]) * 0.5).unsqueeze(-2)
    p_wh = (rois[..., 2:] - rois[..., :2]).unsqueeze(-2)
    d_xy = p_wh * denorm_deltas[..., :2]
    d_wh = denorm_deltas[..., 2:]

    max_ratio = abs(math.log(wh_ratio_clip))
    if add_ctr_clamp:
        d_xy = d_xy.clamp(min=-ctr_clamp, max=ctr_clamp)
        d_wh = d_wh.clamp(max=max_ratio)
    else:
        d_wh = d_wh.clamp(min=-max_ratio, max=max_ratio)
    g_wh = p_wh * d_wh.exp()
    g_ctr = p_ctr + d_xy
    bboxes = torch.cat([g_ctr - g_wh * 0.5, g_ctr + g_wh * 0.5], dim=-1).view(deltas.size())

    if clip_border and max_shape is not None:
        bboxes = _clip_to_shape(bboxes, max_shape)
    return bboxes


def max_xy(max_shape: MaxShape, boxes: torch.Tensor) -> torch.Tensor:
    """(w, h) of ``max_shape`` as ``boxes``' dtype and device: (2,) for one (h, w, ...) shape, (B, 1, 2) for
    (B, 2+) per-image shapes, which need batched (B, N, 4k) ``boxes``."""
    shape_t = max_shape if isinstance(max_shape, torch.Tensor) else boxes.new_tensor(max_shape)
    shape_t = shape_t[..., :2].to(boxes)
    if shape_t.dim() == 2:
        if boxes.dim() != 3 or shape_t.size(0) != boxes.size(0):
            raise ValueError(f'per-image max_shape {tuple(shape_t.shape)} needs batched boxes '
                             f'(B, N, 4k) with the same B, got {tuple(boxes.shape)}')
        shape_t = shape_t[:, None, :]
    return shape_t.flip(-1)


def _clip_to_shape(bboxes: torch.Tensor, max_shape: MaxShape) -> torch.Tensor:
    """Clamp (..., 4k) boxes: x to [0, w], y to [0, h]; ``max_shape`` is (h, w, ...) or (B, 2+)."""
    # (w, h) -> (w, h, w, h, ...) matching x1, y1, x2, y2 columns
    upper = torch.cat([max_xy(max_shape, bboxes)] * (bboxes.size(-1) // 2), dim=-1)
    return torch.min(bboxes.clamp(min=0), upper)


@BBOX_CODERS.register_module()
class DeltaXYWHBBoxCoder(BaseBBoxCoder):
    """Encode/decode boxes as (dx, dy, dw, dh) normalised by ``target_means``/``target_stds``.

    Args:
        target_means: means subtracted from the deltas.
        target_stds: standard deviations dividing the deltas.
        clip_border: clip decoded boxes to ``max_shape``.
        add_ctr_clamp: clamp the decoded centre shift to ``ctr_clamp`` pixels (YOLOF style).
        ctr_clamp: maximum centre shift in pixels.
    """

    def __init__(self,
                 target_means: Sequence[float] = (0., 0., 0., 0.),
                 target_stds: Sequence[float] = (1., 1., 1., 1.),
                 clip_border: bool = True,
                 add_ctr_clamp: bool = False,
                 ctr_clamp: float = 32) -> None:
        super().__init__()
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError(f'target_means and target_stds need 4 values each, got '
                             f'{target_means} and {target_stds}')
        self.means = target_means
        self.stds = target_stds
        self.clip_border = clip_border
        self.add_ctr_clamp = add_ctr_clamp
        self.ctr_clamp = ctr_clamp

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """Deltas (N, 4) that turn the (N, 4) ``bboxes`` into the (N, 4) ``gt_bboxes``."""
        if bboxes.size(0) != gt_bboxes.size(0):
            raise ValueError(f'bboxes {tuple(bboxes.shape)} and gt_bboxes {tuple(gt_bboxes.shape)} '
                             'must have the same number of rows')
        return bbox2delta(bboxes, gt_bboxes, self.means, self.stds)

    def decode(self,
               bboxes: torch.Tensor,
               pred_bboxes: torch.Tensor,
               max_shape: MaxShape = None,
               wh_ratio_clip: float = 16 / 1000) -> torch.Tensor:
        """Boxes from (N, 4k) or (B, N, 4k) ``pred_bboxes`` deltas on (N, 4) / (B, N, 4) ``bboxes``."""
        if pred_bboxes.size(0) != bboxes.size(0) or (pred_bboxes.dim() == 3
                                                    and pred_bboxes.size(1) != bboxes.size(1)):
            raise ValueError(f'pred_bboxes {tuple(pred_bboxes.shape)} does not match bboxes '
                             f'{tuple(bboxes.shape)}; expected (N, 4k) for (N, 4) or (B, N, 4k) '
                             'for (B, N, 4)')
        return delta2bbox(bboxes, pred_bboxes, self.means, self.stds, max_shape, wh_ratio_clip,
                          self.clip_border, self.add_ctr_clamp, self.ctr_clamp)
