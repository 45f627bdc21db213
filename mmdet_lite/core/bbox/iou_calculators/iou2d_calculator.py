"""Pairwise and aligned IoU / IoF / GIoU of x1y1x2y2 boxes."""
from typing import Optional

import torch

from .builder import IOU_CALCULATORS

_MODES = ('iou', 'iof', 'giou')


def _check_boxes(name: str, boxes: torch.Tensor) -> None:
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(boxes).__name__}')
    if boxes.dim() < 2 or boxes.size(-1) not in (0, 4):
        raise ValueError(f'{name} must have shape (..., N, 4) (or be empty), got {tuple(boxes.shape)}')


def bbox_overlaps(bboxes1: torch.Tensor,
                  bboxes2: torch.Tensor,
                  mode: str = 'iou',
                  is_aligned: bool = False,
                  eps: float = 1e-6) -> torch.Tensor:
    """Overlaps between two sets of x1y1x2y2 boxes.

    Areas have no +1; the denominator (union, or area of ``bboxes1`` for ``'iof'``, or the
    enclosing area for GIoU) is clamped to at least ``eps``, so degenerate boxes give 0, not NaN.

    Args:
        bboxes1: (B..., M, 4) boxes; B... are optional batch dims shared with ``bboxes2``.
        bboxes2: (B..., N, 4) boxes.
        mode: ``'iou'``, ``'iof'`` (intersection over the area of ``bboxes1``) or ``'giou'``.
        is_aligned: if True compare row i with row i (requires M == N).
        eps: lower bound of the denominators.

    Returns:
        (B..., M, N) overlaps, or (B..., M) when ``is_aligned``.
    """
    if mode not in _MODES:
        raise ValueError(f'mode must be one of {_MODES}, got {mode!r}')
    _check_boxes('bboxes1', bboxes1)
    _check_boxes('bboxes2', bboxes2)
    if bboxes1.shape[:-2] != bboxes2.shape[:-2]:
        raise ValueError(f'batch dims differ: bboxes1 {tuple(bboxes1.shape)} vs bboxes2 '
                         f'{tuple(bboxes2.shape)}; expected equal leading dims')
    batch_shape = bboxes1.shape[:-2]
    rows, cols = bboxes1.size(-2), bboxes2.size(-2)
    if is_aligned and rows != cols:
        raise ValueError(f'is_aligned=True needs as many bboxes1 as bboxes2, got '
                         f'{tuple(bboxes1.shape)} and {tuple(bboxes2.shape)}')
    if rows * cols == 0:
        return bboxes1.new_zeros(batch_shape + ((rows, ) if is_aligned else (rows, cols)))

    area1 = (bboxes1[..., 2] - bboxes1[..., 0]) * (bboxes1[..., 3] - bboxes1[..., 1])
    area2 = (bboxes2[..., 2] - bboxes2[..., 0]) * (bboxes2[..., 3] - bboxes2[..., 1])
    if is_aligned:
        lt = torch.max(bboxes1[..., :2], bboxes2[..., :2])
        rb = torch.min(bboxes1[..., 2:], bboxes2[..., 2:])
        area2_b = area2
        area1_b = area1
    else:
        lt = torch.max(bboxes1[..., :, None, :2], bboxes2[..., None, :, :2])
        rb = torch.min(bboxes1[..., :, None, 2:], bboxes2[..., None, :, 2:])
        area1_b = area1[..., None]
        area2_b = area2[..., None, :]
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    union = area1_b + area2_b - overlap if mode in ('iou', 'giou') else area1_b
    eps_t = union.new_tensor([eps])
    union = torch.max(union, eps_t)
    ious = overlap / union
    if mode != 'giou':
        return ious
    if is_aligned:
        enclosed_lt = torch.min(bboxes1[..., :2], bboxes2[..., :2])
        enclosed_rb = torch.max(bboxes1[..., 2:], bboxes2[..., 2:])
    else:
        enclosed_lt = torch.min(bboxes1[..., :, None, :2], bboxes2[..., None, :, :2])
        enclosed_rb = torch.max(bboxes1[..., :, None, 2:], bboxes2[..., None, :, 2:])
    enclose_wh = (enclosed_rb - enclosed_lt).clamp(min=0)
    enclose_area = torch.max(enclose_wh[..., 0] * enclose_wh[..., 1], eps_t)
    return ious - (enclose_area - union) / enclose_area


@IOU_CALCULATORS.register_module()
class BboxOverlaps2D:
    """2D overlaps calculator; an optional 5th (score) column of the inputs is dropped.

    Args:
        scale: boxes are divided by ``scale`` before the fp16 cast (only with ``dtype='fp16'``).
        dtype: ``'fp16'`` computes in half precision to save memory; None computes in the input dtype.
    """

    def __init__(self, scale: float = 1., dtype: Optional[str] = None) -> None:
        if dtype not in (None, 'fp16'):
            raise ValueError(f"dtype must be None or 'fp16', got {dtype!r}")
        self.scale = scale
        self.dtype = dtype

    def __call__(self,
                 bboxes1: torch.Tensor,
                 bboxes2: torch.Tensor,
                 mode: str = 'iou',
                 is_aligned: bool = False) -> torch.Tensor:
        """Overlaps of (M, 4|5) ``bboxes1`` and (N, 4|5) ``bboxes2``: (M, N), or (M,) if aligned."""
        for name, boxes in (('bboxes1', bboxes1), ('bboxes2', bboxes2)):
            if boxes.size(-1) not in (0, 4, 5):
                raise ValueError(f'{name} must have 0, 4 or 5 columns, got shape {tuple(boxes.shape)}')
        if bboxes1.size(-1) == 5:
            bboxes1 = bboxes1[..., :4]
        if bboxes2.size(-1) == 5:
            bboxes2 = bboxes2[..., :4]
        if self.dtype == 'fp16':
            bboxes1 = (bboxes1 / self.scale).half()
            bboxes2 = (bboxes2 / self.scale).half()
            overlaps = bbox_overlaps(bboxes1, bboxes2, mode, is_aligned)
            # half-precision ops are slow or missing on CPU; hand back float there
            if not overlaps.is_cuda:
                overlaps = overlaps.float()
            return overlaps
        return bbox_overlaps(bboxes1, bboxes2, mode, is_aligned)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scale={self.scale}, dtype={self.dtype})'
