"""Box format conversions: flips, test-time mappings, RoI packing, per-class results."""
from typing import List, Sequence, Tuple, Union

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from ..utils import host_index

_FLIP_DIRECTIONS = ('horizontal', 'vertical', 'diagonal')


def bbox_flip(bboxes: torch.Tensor, img_shape: Sequence[int],
              direction: str = 'horizontal') -> torch.Tensor:
    """Flip (..., 4k) x1y1x2y2 boxes inside an image of shape (h, w, ...).

    Horizontal: ``x1' = w - x2``, ``x2' = w - x1``; vertical likewise on y with h; diagonal: both.
    """
    if bboxes.size(-1) % 4 != 0:
        raise ValueError(f'bboxes must have 4k columns, got shape {tuple(bboxes.shape)}')
    if direction not in _FLIP_DIRECTIONS:
        raise ValueError(f'direction must be one of {_FLIP_DIRECTIONS}, got {direction!r}')
    flipped = bboxes.clone()
    if direction in ('horizontal', 'diagonal'):
        flipped[..., 0::4] = img_shape[1] - bboxes[..., 2::4]
        flipped[..., 2::4] = img_shape[1] - bboxes[..., 0::4]
    if direction in ('vertical', 'diagonal'):
        flipped[..., 1::4] = img_shape[0] - bboxes[..., 3::4]
        flipped[..., 3::4] = img_shape[0] - bboxes[..., 1::4]
    return flipped


def bbox_mapping(bboxes: torch.Tensor,
                 img_shape: Sequence[int],
                 scale_factor: Union[float, Sequence[float], np.ndarray],
                 flip: bool,
                 flip_direction: str = 'horizontal') -> torch.Tensor:
    """Map (N, 4) boxes from the original image to the resized (and flipped) test image."""
    new_bboxes = bboxes * bboxes.new_tensor(scale_factor)
    if flip:
        new_bboxes = bbox_flip(new_bboxes, img_shape, flip_direction)
    return new_bboxes


def bbox_mapping_back(bboxes: torch.Tensor,
                      img_shape: Sequence[int],
                      scale_factor: Union[float, Sequence[float], np.ndarray],
                      flip: bool,
                      flip_direction: str = 'horizontal') -> torch.Tensor:
    """Map (N, 4k) boxes from the resized (and flipped) test image back to the original image."""
    new_bboxes = bbox_flip(bboxes, img_shape, flip_direction) if flip else bboxes
    new_bboxes = new_bboxes.view(-1, 4) / new_bboxes.new_tensor(scale_factor)
    return new_bboxes.view(bboxes.shape)


def pad_boxes(boxes_list: Sequence[torch.Tensor],
              device: Union[str, torch.device]) -> Tuple[torch.Tensor, torch.Tensor]:
    """N tensors (Gi, 4+) -> (N, G, 4) zero-padded (extra columns dropped), G = max(Gi), and the (N, G) bool
    mask of the real rows."""
    counts = np.array([boxes.size(0) for boxes in boxes_list], dtype=np.int64)
    num_max = int(counts.max(initial=0))
    valid = host_index(np.arange(num_max)[None, :] < counts[:, None], device).bool()
    padded = pad_sequence([boxes.reshape(-1, boxes.size(-1))[:, :4] for boxes in boxes_list], batch_first=True)
    return padded.reshape(len(boxes_list), num_max, 4), valid


def bbox2roi(bbox_list: Sequence[torch.Tensor]) -> torch.Tensor:
    """Pack per-image boxes into RoIs.

    Args:
        bbox_list: B tensors (Ni, 4+) of boxes (extra columns, e.g. scores, are dropped).

    Returns:
        (sum Ni, 5) RoIs ``[img_index, x1, y1, x2, y2]``, images in order.
    """
    if len({bboxes.size(1) for bboxes in bbox_list}) > 1:
        bbox_list = [bboxes[:, :4] for bboxes in bbox_list]
    return boxes2roi(torch.cat(list(bbox_list), 0)[:, :4], [len(bboxes) for bboxes in bbox_list])


def boxes2roi(bboxes: torch.Tensor, num_per_img: Sequence[int]) -> torch.Tensor:
    """(R, 4) boxes listed image after image, ``num_per_img[i]`` of image i -> (R, 5) RoIs
    ``[img_index, x1, y1, x2, y2]``."""
    if bboxes.size(0) != sum(num_per_img):
        raise ValueError(f'num_per_img {list(num_per_img)} must sum to the {bboxes.size(0)} boxes')
    # image indices from the host-known counts: one copy instead of a fill per image
    img_inds = host_index(np.repeat(np.arange(len(num_per_img)), num_per_img), bboxes.device)
    return torch.cat([img_inds.to(bboxes.dtype)[:, None], bboxes], dim=-1)


def roi2bbox(rois: torch.Tensor) -> List[torch.Tensor]:
    """Split (R, 5) RoIs into a list of (Ni, 4) boxes, one per image index present (ascending)."""
    img_ids = rois[:, 0].unique(sorted=True)
    return [rois[rois[:, 0] == img_id, 1:] for img_id in img_ids]


def bbox2result(bboxes: Union[torch.Tensor, np.ndarray], labels: Union[torch.Tensor, np.ndarray],
                num_classes: int) -> List[np.ndarray]:
    """Split detections into per-class arrays.

    Args:
        bboxes: (n, 5) boxes with scores.
        labels: (n,) class indices in [0, num_classes).
        num_classes: C, number of foreground classes.

    Returns:
        C float32 arrays of shape (ni, 5), keeping the input order within each class.
    """
    if bboxes.shape[0] == 0:
        return [np.zeros((0, 5), dtype=np.float32) for _ in range(num_classes)]
    if isinstance(bboxes, torch.Tensor):
        bboxes = bboxes.detach().cpu().numpy()
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels).astype(np.int64, copy=False)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f'labels must lie in [0, {num_classes}), got range '
                         f'[{labels.min()}, {labels.max()}] over shape {labels.shape}')
    bboxes = bboxes.astype(np.float32, copy=False)
    order = np.argsort(labels, kind='stable')
    counts = np.bincount(labels, minlength=num_classes)[:num_classes]
    return np.split(bboxes[order], np.cumsum(counts)[:-1])


def bbox_cxcywh_to_xyxy(bbox: torch.Tensor) -> torch.Tensor:
    """(..., 4) cx, cy, w, h -> x1, y1, x2, y2."""
    cx, cy, w, h = bbox.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def bbox_xyxy_to_cxcywh(bbox: torch.Tensor) -> torch.Tensor:
    """(..., 4) x1, y1, x2, y2 -> cx, cy, w, h."""
    x1, y1, x2, y2 = bbox.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)


def bbox_rescale(bboxes: torch.Tensor, scale_factor: float = 1.0) -> torch.Tensor:
    """Scale boxes about their centres: (N, 4) x1y1x2y2, or (N, 5) RoIs whose batch index is kept."""
    boxes = bboxes[:, 1:] if bboxes.size(1) == 5 else bboxes
    centers = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    half_sizes = (boxes[:, 2:] - boxes[:, :2]) * scale_factor * 0.5
    rescaled = torch.cat([centers - half_sizes, centers + half_sizes], dim=1)
    return torch.cat([bboxes[:, :1], rescaled], dim=1) if bboxes.size(1) == 5 else rescaled
