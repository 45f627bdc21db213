"""IoU / IoF between two sets of boxes, in numpy (for evaluation code)."""
import numpy as np


def bbox_overlaps(bboxes1: np.ndarray, bboxes2: np.ndarray, mode: str = 'iou',
                  eps: float = 1e-6, use_legacy_coordinate: bool = False) -> np.ndarray:
    """Pairwise overlaps.

    Args:
        bboxes1: (N, 4) x1y1x2y2.
        bboxes2: (K, 4) x1y1x2y2.
        mode: ``'iou'`` (intersection over union) or ``'iof'`` (over the area of ``bboxes1``).
        eps: lower bound of the denominator.
        use_legacy_coordinate: MMDetection 1.x pixel convention, ``w = x2 - x1 + 1`` (and for
            heights and intersections alike).

    Returns:
        (N, K) float32.
    """
    if mode not in ('iou', 'iof'):
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    extra_length = 1. if use_legacy_coordinate else 0.
    bboxes1 = np.asarray(bboxes1, dtype=np.float32).reshape(-1, 4)
    bboxes2 = np.asarray(bboxes2, dtype=np.float32).reshape(-1, 4)
    area1 = box_areas(bboxes1, extra_length)
    area2 = box_areas(bboxes2, extra_length)
    lt = np.maximum(bboxes1[:, None, :2], bboxes2[None, :, :2])
    rb = np.minimum(bboxes1[:, None, 2:], bboxes2[None, :, 2:])
    wh = np.clip(rb - lt + extra_length, 0, None)
    overlap = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - overlap if mode == 'iou' \
        else np.broadcast_to(area1[:, None], overlap.shape)
    return (overlap / np.maximum(union, eps)).astype(np.float32)


def box_areas(bboxes: np.ndarray, extra_length: float = 0.) -> np.ndarray:
    """(N, 4) x1y1x2y2 -> (N,) ``(x2 - x1 + extra_length) * (y2 - y1 + extra_length)``."""
    return (bboxes[:, 2] - bboxes[:, 0] + extra_length) * (bboxes[:, 3] - bboxes[:, 1] + extra_length)
