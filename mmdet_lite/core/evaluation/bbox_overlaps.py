"""IoU / IoF between two sets of boxes, in numpy (for evaluation code)."""
import numpy as np


def bbox_overlaps(bboxes1: np.ndarray, bboxes2: np.ndarray, mode: str = 'iou',
                  eps: float = 1e-6) -> np.ndarray:
    """Pairwise overlaps.

    Args:
        bboxes1: (N, 4) x1y1x2y2.
        bboxes2: (K, 4) x1y1x2y2.
        mode: ``'iou'`` (intersection over union) or ``'iof'`` (over the area of ``bboxes1``).

    Returns:
        (N, K) float32.
    """
    if mode not in ('iou', 'iof'):
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    bboxes1 = np.asarray(bboxes1, dtype=np.float32).reshape(-1, 4)
    bboxes2 = np.asarray(bboxes2, dtype=np.float32).reshape(-1, 4)
    area1 = (bboxes1[:, 2] - bboxes1[:, 0]) * (bboxes1[:, 3] - bboxes1[:, 1])
    area2 = (bboxes2[:, 2] - bboxes2[:, 0]) * (bboxes2[:, 3] - bboxes2[:, 1])
    lt = np.maximum(bboxes1[:, None, :2], bboxes2[None, :, :2])
    rb = np.minimum(bboxes1[:, None, 2:], bboxes2[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    overlap = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - overlap if mode == 'iou' \
        else np.broadcast_to(area1[:, None], overlap.shape)
    return (overlap / np.maximum(union, eps)).astype(np.float32)
