"""Instance masks as one (k, H, W) uint8 array (MMDetection 2.x ``BitmapMasks``).

mmdet_lite trains no mask heads; the masks exist so that pipelines loading them (``LoadAnnotations(
with_mask=True)``, as the 2.28 crop640 configs do) transform them the way 2.28 does.
"""
from typing import List, Sequence, Tuple, Union

import mmcv
import numpy as np
import pycocotools.mask as mask_utils
import torch

# cv2 resizes at most 512 channels at once
_CV2_MAX_CHANNELS = 512


def polygons_or_rle_to_bitmap(segmentation: Union[list, dict], height: int, width: int) -> np.ndarray:
    """One COCO ``segmentation`` (polygons, uncompressed or compressed RLE) -> (H, W) uint8."""
    if not isinstance(segmentation, (list, dict)):
        raise ValueError(f'a COCO segmentation must be polygons (list) or RLE (dict), got {segmentation!r}; '
                         'LoadAnnotations(with_mask=True) needs a segmentation on every annotation')
    if isinstance(segmentation, list):  # polygons of one object
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get('counts'), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle)


def _per_channel(masks: np.ndarray, fn) -> np.ndarray:
    """Apply an (H, W[, C]) image function to (k, H, W) masks as channels, 512 at a time."""
    chunks = [fn(np.ascontiguousarray(masks[i:i + _CV2_MAX_CHANNELS].transpose(1, 2, 0)))
              for i in range(0, len(masks), _CV2_MAX_CHANNELS)]
    return np.concatenate([c.reshape(c.shape[0], c.shape[1], -1).transpose(2, 0, 1) for c in chunks])


class BitmapMasks:
    """k binary masks of one image, ``masks`` (k, height, width) uint8."""

    def __init__(self, masks: Union[np.ndarray, Sequence[np.ndarray]], height: int, width: int) -> None:
        self.height = height
        self.width = width
        if len(masks) == 0:
            self.masks = np.empty((0, height, width), dtype=np.uint8)
            return
        masks = np.stack(masks) if isinstance(masks, list) else np.asarray(masks)
        if masks.shape[-2:] != (height, width):
            raise ValueError(f'masks of shape {masks.shape} do not match ({height}, {width})')
        self.masks = masks.reshape(-1, height, width)

    def __getitem__(self, index) -> 'BitmapMasks':
        return BitmapMasks(self.masks[index].reshape(-1, self.height, self.width), self.height, self.width)

    def __len__(self) -> int:
        return len(self.masks)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_masks={len(self)}, height={self.height}, width={self.width})'

    def rescale(self, scale: Union[float, Tuple[int, int]], interpolation: str = 'nearest') -> 'BitmapMasks':
        """Rescale keeping the aspect ratio as ``mmcv.imrescale`` does for the image."""
        if len(self) == 0:
            new_w, new_h = mmcv.rescale_size((self.width, self.height), scale)
            return BitmapMasks(np.empty((0, new_h, new_w), dtype=np.uint8), new_h, new_w)
        rescaled = _per_channel(self.masks, lambda m: mmcv.imrescale(m, scale, interpolation=interpolation))
        return BitmapMasks(rescaled, *rescaled.shape[1:])

    def resize(self, out_shape: Tuple[int, int], interpolation: str = 'nearest') -> 'BitmapMasks':
        """Resize to ``out_shape`` (h, w)."""
        if len(self) == 0:
            return BitmapMasks(np.empty((0, *out_shape), dtype=np.uint8), *out_shape)
        resized = _per_channel(self.masks,
                               lambda m: mmcv.imresize(m, out_shape[::-1], interpolation=interpolation))
        return BitmapMasks(resized, *out_shape)

    def flip(self, flip_direction: str = 'horizontal') -> 'BitmapMasks':
        axes = {'horizontal': (-1, ), 'vertical': (-2, ), 'diagonal': (-2, -1)}
        if flip_direction not in axes:
            raise ValueError(f'flip_direction must be one of {sorted(axes)}, got {flip_direction!r}')
        return BitmapMasks(np.flip(self.masks, axis=axes[flip_direction]).copy(), self.height, self.width)

    def pad(self, out_shape: Tuple[int, int], pad_val: int = 0) -> 'BitmapMasks':
        """Pad bottom/right to ``out_shape`` (h, w)."""
        padded = np.full((len(self), *out_shape), pad_val, dtype=self.masks.dtype)
        padded[:, :self.height, :self.width] = self.masks
        return BitmapMasks(padded, *out_shape)

    def crop(self, bbox: np.ndarray) -> 'BitmapMasks':
        """Crop to ``bbox`` (4,) x1y1x2y2 (clipped to the masks; at least 1 x 1)."""
        bbox = bbox.copy()
        bbox[0::2] = np.clip(bbox[0::2], 0, self.width)
        bbox[1::2] = np.clip(bbox[1::2], 0, self.height)
        x1, y1, x2, y2 = (int(v) for v in bbox)
        w, h = max(x2 - x1, 1), max(y2 - y1, 1)
        return BitmapMasks(self.masks[:, y1:y1 + h, x1:x1 + w], h, w)

    @property
    def areas(self) -> np.ndarray:
        """(k,) foreground pixel counts."""
        return self.masks.sum((1, 2))

    def get_bboxes(self) -> np.ndarray:
        """(k, 4) float32 x1y1x2y2 tight boxes of the foregrounds (zeros for empty masks)."""
        cols, rows = self.masks.any(axis=1), self.masks.any(axis=2)
        boxes = np.zeros((len(self), 4), dtype=np.float32)
        nonempty = cols.any(axis=1)
        boxes[nonempty, 0] = cols[nonempty].argmax(axis=1)
        boxes[nonempty, 2] = self.width - cols[nonempty, ::-1].argmax(axis=1)
        boxes[nonempty, 1] = rows[nonempty].argmax(axis=1)
        boxes[nonempty, 3] = self.height - rows[nonempty, ::-1].argmax(axis=1)
        return boxes

    def to_ndarray(self) -> np.ndarray:
        return self.masks

    def to_tensor(self, dtype: torch.dtype, device: Union[str, torch.device]) -> torch.Tensor:
        return torch.tensor(self.masks, dtype=dtype, device=device)


def bitmap_masks_from_coco(segmentations: List[Union[list, dict]], height: int, width: int) -> BitmapMasks:
    """COCO segmentations of one image -> :class:`BitmapMasks` (``poly2mask=True`` in 2.x)."""
    return BitmapMasks([polygons_or_rle_to_bitmap(s, height, width) for s in segmentations], height, width)
