"""Geometric and photometric transforms with MMDetection 2.x semantics and result keys."""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np

from ..builder import PIPELINES

Scale = Tuple[int, int]


@PIPELINES.register_module()
class Resize:
    """Resize images and boxes.

    The target ``scale`` (long, short edge when ``keep_ratio``; (w, h) otherwise) is chosen as
    in MMDetection 2.x: with ``ratio_range`` the single ``img_scale`` times a uniform ratio;
    else the single ``img_scale``; else, for several scales, ``multiscale_mode='range'`` draws
    long and short edges uniformly between the given ones and ``'value'`` picks one of them.
    A ``scale`` already in ``results`` (set by ``MultiScaleFlipAug``) is used as is; a preset
    float ``scale_factor`` gives ``scale = int(img_dim * factor)``.

    Adds ``img_shape``, ``pad_shape``, ``scale_factor`` (4,) float32 ``[w_s, h_s, w_s, h_s]``
    with ``w_s = new_w / w``, ``keep_ratio``, ``scale``, ``scale_idx``. Boxes in
    ``bbox_fields`` are multiplied by ``scale_factor`` and, with ``bbox_clip_border``,
    clipped to ``[0, W] x [0, H]``. Masks in ``mask_fields`` and maps in ``seg_fields``
    (``gt_semantic_seg``) are resized like the image with nearest interpolation (2.x writes
    every seg map to ``gt_semantic_seg``; here each keeps its key).
    """

    def __init__(self, img_scale: Optional[Union[Scale, List[Scale]]] = None,
                 multiscale_mode: str = 'range', ratio_range: Optional[Tuple[float, float]] = None,
                 keep_ratio: bool = True, bbox_clip_border: bool = True, backend: str = 'cv2',
                 override: bool = False) -> None:
        if img_scale is None:
            self.img_scale = None
        elif isinstance(img_scale, list):
            self.img_scale = [tuple(s) for s in img_scale]
        else:
            self.img_scale = [tuple(img_scale)]
        if ratio_range is not None:
            if self.img_scale is not None and len(self.img_scale) != 1:
                raise ValueError(f'ratio_range={ratio_range} needs exactly one img_scale, '
                                 f'got {self.img_scale}')
        elif multiscale_mode not in ('value', 'range'):
            raise ValueError(f"multiscale_mode must be 'value' or 'range', got {multiscale_mode!r}")
        self.backend = backend
        self.multiscale_mode = multiscale_mode
        self.ratio_range = ratio_range
        self.keep_ratio = keep_ratio
        self.override = override
        self.bbox_clip_border = bbox_clip_border

    @staticmethod
    def random_select(img_scales: List[Scale]) -> Tuple[Scale, int]:
        """Pick one of ``img_scales`` uniformly; returns (scale, index)."""
        scale_idx = np.random.randint(len(img_scales))
        return img_scales[scale_idx], scale_idx

    @staticmethod
    def random_sample(img_scales: List[Scale]) -> Tuple[Scale, None]:
        """Draw (long, short) edges uniformly between the two given scales (inclusive)."""
        if len(img_scales) != 2:
            raise ValueError(f"multiscale_mode='range' needs 2 img_scales, got {img_scales}")
        long_edges = [max(s) for s in img_scales]
        short_edges = [min(s) for s in img_scales]
        long_edge = np.random.randint(min(long_edges), max(long_edges) + 1)
        short_edge = np.random.randint(min(short_edges), max(short_edges) + 1)
        return (long_edge, short_edge), None

    @staticmethod
    def random_sample_ratio(img_scale: Scale, ratio_range: Tuple[float, float]
                            ) -> Tuple[Scale, None]:
        """Scale ``img_scale`` by a ratio drawn uniformly from ``ratio_range``."""
        min_ratio, max_ratio = ratio_range
        if not min_ratio <= max_ratio:
            raise ValueError(f'ratio_range must be (min, max) with min <= max, got {ratio_range}')
        ratio = np.random.random_sample() * (max_ratio - min_ratio) + min_ratio
        return (int(img_scale[0] * ratio), int(img_scale[1] * ratio)), None

    def _random_scale(self, results: Dict) -> None:
        if self.img_scale is None:
            raise ValueError('Resize(img_scale=None) needs results["scale"] or '
                             'results["scale_factor"] to be set beforehand')
        if self.ratio_range is not None:
            scale, scale_idx = self.random_sample_ratio(self.img_scale[0], self.ratio_range)
        elif len(self.img_scale) == 1:
            scale, scale_idx = self.img_scale[0], 0
        elif self.multiscale_mode == 'range':
            scale, scale_idx = self.random_sample(self.img_scale)
        else:
            scale, scale_idx = self.random_select(self.img_scale)
        results['scale'] = scale
        results['scale_idx'] = scale_idx

    def _resize_img(self, results: Dict) -> None:
        for key in results.get('img_fields', ['img']):
            old_h, old_w = results[key].shape[:2]
            if self.keep_ratio:
                img = mmcv.imrescale(results[key], results['scale'], backend=self.backend)
                new_h, new_w = img.shape[:2]
                w_scale, h_scale = new_w / old_w, new_h / old_h
            else:
                img, w_scale, h_scale = mmcv.imresize(results[key], results['scale'],
                                                      return_scale=True, backend=self.backend)
            results[key] = img
            results['img_shape'] = img.shape
            results['pad_shape'] = img.shape  # updated by Pad when padding follows
            results['scale_factor'] = np.array([w_scale, h_scale, w_scale, h_scale],
                                               dtype=np.float32)
            results['keep_ratio'] = self.keep_ratio

    def _resize_bboxes(self, results: Dict) -> None:
        img_h, img_w = results['img_shape'][:2]
        for key in results.get('bbox_fields', []):
            bboxes = results[key] * results['scale_factor']
            if self.bbox_clip_border:
                bboxes[:, 0::2] = np.clip(bboxes[:, 0::2], 0, img_w)
                bboxes[:, 1::2] = np.clip(bboxes[:, 1::2], 0, img_h)
            results[key] = bboxes

    def _resize_masks(self, results: Dict) -> None:
        """Masks in ``mask_fields`` follow the image (``img_shape`` when not ``keep_ratio``)."""
        for key in results.get('mask_fields', []):
            if self.keep_ratio:
                results[key] = results[key].rescale(results['scale'])
            else:
                results[key] = results[key].resize(results['img_shape'][:2])

    def _resize_seg(self, results: Dict) -> None:
        """Resize each (H, W) map in ``seg_fields`` to ``img_shape`` the way the image was, with
        nearest-neighbour interpolation so labels stay labels."""
        for key in results.get('seg_fields', []):
            if self.keep_ratio:
                results[key] = mmcv.imrescale(results[key], results['scale'], interpolation='nearest',
                                              backend=self.backend)
            else:
                results[key] = mmcv.imresize(results[key], results['scale'], interpolation='nearest',
                                             backend=self.backend)

    def __call__(self, results: Dict) -> Dict:
        if 'scale' not in results:
            if 'scale_factor' in results:
                img_shape = results['img'].shape[:2]
                scale_factor = results['scale_factor']
                if not isinstance(scale_factor, float):
                    raise TypeError(f'a preset scale_factor must be a float, '
                                    f'got {type(scale_factor)}')
                results['scale'] = tuple(int(x * scale_factor) for x in img_shape)[::-1]
            else:
                self._random_scale(results)
        elif not self.override:
            if 'scale_factor' in results:
                raise ValueError('scale and scale_factor cannot be both set.')
        else:
            results.pop('scale')
            results.pop('scale_factor', None)
            self._random_scale(results)
        self._resize_img(results)
        self._resize_bboxes(results)
        self._resize_masks(results)
        self._resize_seg(results)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'multiscale_mode={self.multiscale_mode}, ratio_range={self.ratio_range}, '
                f'keep_ratio={self.keep_ratio}, bbox_clip_border={self.bbox_clip_border})')


@PIPELINES.register_module()
class RandomFlip:
    """Flip image and boxes horizontally, vertically or diagonally.

    With one direction, ``flip_ratio`` is the flip probability; with a list of directions,
    a float ``flip_ratio`` is split evenly among them and a list gives one probability per
    direction. ``flip_ratio=None`` never flips unless ``results['flip']`` is preset (as
    ``MultiScaleFlipAug`` does). The choice uses numpy's global RNG. Sets ``flip`` and
    ``flip_direction``.
    """

    _VALID_DIRECTIONS = ('horizontal', 'vertical', 'diagonal')

    def __init__(self, flip_ratio: Optional[Union[float, List[float]]] = None,
                 direction: Union[str, List[str]] = 'horizontal') -> None:
        if isinstance(flip_ratio, list):
            if not all(0 <= r <= 1 for r in flip_ratio) or not 0 <= sum(flip_ratio) <= 1:
                raise ValueError(f'flip_ratio list must hold probabilities summing to <= 1, '
                                 f'got {flip_ratio}')
        elif isinstance(flip_ratio, (int, float)):
            if not 0 <= flip_ratio <= 1:
                raise ValueError(f'flip_ratio must be in [0, 1], got {flip_ratio}')
        elif flip_ratio is not None:
            raise ValueError(f'flip_ratio must be None, a float or a list, got {type(flip_ratio)}')
        directions = direction if isinstance(direction, list) else [direction]
        if not all(d in self._VALID_DIRECTIONS for d in directions):
            raise ValueError(f'direction must be in {self._VALID_DIRECTIONS}, got {direction}')
        if isinstance(flip_ratio, list) and len(flip_ratio) != len(directions):
            raise ValueError(f'flip_ratio {flip_ratio} and direction {direction} must have '
                             f'the same length')
        self.flip_ratio = flip_ratio
        self.direction = direction

    @staticmethod
    def bbox_flip(bboxes: np.ndarray, img_shape: Tuple[int, ...], direction: str) -> np.ndarray:
        """Flip boxes (..., 4k) x1y1x2y2 inside an image of shape (H, W[, C]): ``x' = W - x``."""
        if bboxes.shape[-1] % 4 != 0:
            raise ValueError(f'bboxes last dim must be a multiple of 4, got shape {bboxes.shape}')
        if direction not in RandomFlip._VALID_DIRECTIONS:
            raise ValueError(f"invalid flipping direction '{direction}'")
        img_h, img_w = img_shape[:2]
        flipped = bboxes.copy()
        if direction in ('horizontal', 'diagonal'):
            flipped[..., 0::4] = img_w - bboxes[..., 2::4]
            flipped[..., 2::4] = img_w - bboxes[..., 0::4]
        if direction in ('vertical', 'diagonal'):
            flipped[..., 1::4] = img_h - bboxes[..., 3::4]
            flipped[..., 3::4] = img_h - bboxes[..., 1::4]
        return flipped

    def _choose_direction(self) -> Optional[str]:
        directions = (list(self.direction) if isinstance(self.direction, list)
                      else [self.direction]) + [None]
        if isinstance(self.flip_ratio, list):
            probs = list(self.flip_ratio) + [1 - sum(self.flip_ratio)]
        else:
            flip_ratio = 0.0 if self.flip_ratio is None else float(self.flip_ratio)
            per_direction = flip_ratio / (len(directions) - 1)
            probs = [per_direction] * (len(directions) - 1) + [1 - flip_ratio]
        return np.random.choice(np.array(directions, dtype=object), p=probs)

    def __call__(self, results: Dict) -> Dict:
        if 'flip' not in results:
            cur_dir = self._choose_direction()
            results['flip'] = cur_dir is not None
            results['flip_direction'] = cur_dir
        elif 'flip_direction' not in results:
            results['flip_direction'] = None
        if results['flip']:
            direction = results['flip_direction']
            for key in results.get('img_fields', ['img']):
                results[key] = mmcv.imflip(results[key], direction=direction)
            for key in results.get('bbox_fields', []):
                results[key] = self.bbox_flip(results[key], results['img_shape'], direction)
            for key in results.get('mask_fields', []):
                results[key] = results[key].flip(direction)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(flip_ratio={self.flip_ratio})'


@PIPELINES.register_module()
class Normalize:
    """``(img - mean) / std`` per channel after optional BGR->RGB; float32 output.

    Sets ``img_norm_cfg = dict(mean, std, to_rgb)`` with float32 arrays.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True) -> None:
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        self.to_rgb = to_rgb

    def __call__(self, results: Dict) -> Dict:
        for key in results.get('img_fields', ['img']):
            results[key] = self._normalize(results[key])
        results['img_norm_cfg'] = dict(mean=self.mean, std=self.std, to_rgb=self.to_rgb)
        return results

    def _normalize(self, img: np.ndarray) -> np.ndarray:
        return mmcv.imnormalize(img, self.mean, self.std, self.to_rgb)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mean={self.mean.tolist()}, std={self.std.tolist()}, '
                f'to_rgb={self.to_rgb})')


@PIPELINES.register_module()
class Pad:
    """Pad images bottom/right to a fixed ``size`` (h, w), to multiples of ``size_divisor``
    or to a square.

    Boxes are unchanged (padding is at the bottom/right); masks in ``mask_fields`` are padded to
    ``pad_shape`` with ``pad_val['masks']``. Sets ``pad_shape``,
    ``pad_fixed_size``, ``pad_size_divisor``.
    """

    def __init__(self, size: Optional[Tuple[int, int]] = None, size_divisor: Optional[int] = None,
                 pad_to_square: bool = False,
                 pad_val: Union[float, dict] = dict(img=0, masks=0, seg=255)) -> None:
        self.size = size
        self.size_divisor = size_divisor
        if isinstance(pad_val, (int, float)):
            warnings.warn('pad_val of float type is deprecated now, please use '
                          'pad_val=dict(img=pad_val, masks=pad_val, seg=255) instead.',
                          DeprecationWarning)
            pad_val = dict(img=pad_val, masks=pad_val, seg=255)
        if not isinstance(pad_val, dict):
            raise TypeError(f'pad_val must be a dict or a number, got {type(pad_val)}')
        self.pad_val = pad_val
        self.pad_to_square = pad_to_square
        if pad_to_square:
            if size is not None or size_divisor is not None:
                raise ValueError('The size and size_divisor must be None when pad_to_square '
                                 f'is True, got size={size}, size_divisor={size_divisor}')
        elif (size is None) == (size_divisor is None):
            raise ValueError(f'exactly one of size ({size}) and size_divisor ({size_divisor}) '
                             f'must be set')

    def __call__(self, results: Dict) -> Dict:
        for key in results.get('img_fields', ['img']):
            pad_shape = self._padded_shape(results[key].shape)
            results[key] = self._pad(results[key], pad_shape)
        results['pad_shape'] = pad_shape
        results['pad_fixed_size'] = self.size
        results['pad_size_divisor'] = self.size_divisor
        for key in results.get('mask_fields', []):
            results[key] = results[key].pad(results['pad_shape'][:2], pad_val=self.pad_val.get('masks', 0))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, size_divisor={self.size_divisor}, '
                f'pad_to_square={self.pad_to_square}, pad_val={self.pad_val})')

    def _padded_shape(self, img_shape: Tuple[int, ...]) -> Tuple[int, ...]:
        """``img_shape`` (H, W[, C]) -> (H', W'[, C]): ``size`` (a larger image stays as it is, as
        ``mmcv.impad`` leaves it), the next multiples of ``size_divisor`` or the longer side squared."""
        height, width = img_shape[:2]
        if self.pad_to_square:
            height = width = max(height, width)
        elif self.size is not None:
            height, width = max(height, self.size[0]), max(width, self.size[1])
        else:
            height = -(-height // self.size_divisor) * self.size_divisor
            width = -(-width // self.size_divisor) * self.size_divisor
        return (height, width) + tuple(img_shape[2:])

    def _pad(self, img: np.ndarray, pad_shape: Tuple[int, ...]) -> np.ndarray:
        return mmcv.impad(img, shape=pad_shape[:2], pad_val=self.pad_val.get('img', 0))


@PIPELINES.register_module()
class DeviceNormalize(Normalize):
    """``Normalize`` whose pixels are normalised later, on the device, by the detector's
    ``DetDataPreprocessor``: the image is left as it is (uint8 stays uint8); ``img_norm_cfg`` is
    written as ``Normalize`` writes it. ``train_detector`` puts it in place of ``Normalize`` in
    the training pipelines when ``device_preprocess`` is on."""

    def _normalize(self, img: np.ndarray) -> np.ndarray:
        return img


@PIPELINES.register_module()
class DevicePad(Pad):
    """``Pad`` whose image padding is done later, on the device, by the detector's
    ``DetDataPreprocessor``: the image is left as it is; ``pad_shape``, ``pad_fixed_size`` and
    ``pad_size_divisor`` are written and masks padded as ``Pad`` does."""

    def _pad(self, img: np.ndarray, pad_shape: Tuple[int, ...]) -> np.ndarray:
        return img


@PIPELINES.register_module()
class RandomCrop:
    """Crop a random window of the image; boxes are shifted, clipped and filtered.

    The window size (h, w) follows ``crop_type``: 'absolute' ``crop_size`` = (h, w) pixels (capped
    by the image); 'absolute_range' h and w each drawn from ``[crop_size[0], crop_size[1]]``
    (capped); 'relative' ``(h_frac, w_frac)`` of the image; 'relative_range' each fraction drawn
    from ``[crop_size[i], 1]``. Its top-left corner is drawn uniformly (numpy's global RNG) so that
    it stays inside the image. Boxes in ``bbox_fields`` lose the offset, are clipped to the window
    with ``bbox_clip_border`` and those with no area are dropped with their labels
    (``gt_labels`` / ``gt_labels_ignore``). When no ``gt_bboxes`` is left and not
    ``allow_negative_crop``, returns None (the dataset then draws another image). The masks of
    kept boxes (``gt_masks`` / ``gt_masks_ignore``) and maps in ``seg_fields`` are cropped like
    the image; ``recompute_bbox`` then replaces the boxes by the cropped masks' tight boxes.
    Sets ``img_shape``.
    """

    _CROP_TYPES = ('relative_range', 'relative', 'absolute', 'absolute_range')
    _BBOX2LABEL = {'gt_bboxes': 'gt_labels', 'gt_bboxes_ignore': 'gt_labels_ignore'}
    _BBOX2MASK = {'gt_bboxes': 'gt_masks', 'gt_bboxes_ignore': 'gt_masks_ignore'}

    def __init__(self, crop_size: Tuple[Union[int, float], Union[int, float]], crop_type: str = 'absolute',
                 allow_negative_crop: bool = False, recompute_bbox: bool = False,
                 bbox_clip_border: bool = True) -> None:
        if crop_type not in self._CROP_TYPES:
            raise ValueError(f'crop_type must be one of {self._CROP_TYPES}, got {crop_type!r}')
        if crop_type in ('absolute', 'absolute_range'):
            if not all(isinstance(s, int) and s > 0 for s in crop_size):
                raise ValueError(f'crop_size must be 2 positive ints for crop_type={crop_type!r}, '
                                 f'got {crop_size}')
            if crop_type == 'absolute_range' and crop_size[0] > crop_size[1]:
                raise ValueError(f"crop_size must be (min, max) for crop_type='absolute_range', got {crop_size}")
        elif not all(0 < s <= 1 for s in crop_size):
            raise ValueError(f'crop_size must be 2 fractions in (0, 1] for crop_type={crop_type!r}, '
                             f'got {crop_size}')
        self.crop_size = crop_size
        self.crop_type = crop_type
        self.allow_negative_crop = allow_negative_crop
        self.recompute_bbox = recompute_bbox
        self.bbox_clip_border = bbox_clip_border

    def _get_crop_size(self, image_size: Tuple[int, int]) -> Tuple[int, int]:
        """The (h, w) of the window for an image of (h, w) ``image_size``."""
        h, w = image_size
        if self.crop_type == 'absolute':
            return min(self.crop_size[0], h), min(self.crop_size[1], w)
        if self.crop_type == 'absolute_range':
            crop_h = np.random.randint(min(h, self.crop_size[0]), min(h, self.crop_size[1]) + 1)
            crop_w = np.random.randint(min(w, self.crop_size[0]), min(w, self.crop_size[1]) + 1)
            return crop_h, crop_w
        if self.crop_type == 'relative':
            crop_h, crop_w = self.crop_size
        else:
            crop_size = np.asarray(self.crop_size, dtype=np.float32)
            crop_h, crop_w = crop_size + np.random.rand(2) * (1 - crop_size)
        return int(h * crop_h + 0.5), int(w * crop_w + 0.5)

    def _crop_data(self, results: Dict, crop_size: Tuple[int, int]) -> Optional[Dict]:
        for key in results.get('img_fields', ['img']):
            img = results[key]
            margin_h = max(img.shape[0] - crop_size[0], 0)
            margin_w = max(img.shape[1] - crop_size[1], 0)
            offset_h = np.random.randint(0, margin_h + 1)
            offset_w = np.random.randint(0, margin_w + 1)
            crop_y1, crop_y2 = offset_h, offset_h + crop_size[0]
            crop_x1, crop_x2 = offset_w, offset_w + crop_size[1]
            results[key] = img[crop_y1:crop_y2, crop_x1:crop_x2, ...]
        img_shape = results[key].shape
        results['img_shape'] = img_shape

        bbox_offset = np.array([offset_w, offset_h, offset_w, offset_h], dtype=np.float32)
        for key in results.get('bbox_fields', []):
            bboxes = results[key] - bbox_offset
            if self.bbox_clip_border:
                bboxes[:, 0::2] = np.clip(bboxes[:, 0::2], 0, img_shape[1])
                bboxes[:, 1::2] = np.clip(bboxes[:, 1::2], 0, img_shape[0])
            valid = (bboxes[:, 2] > bboxes[:, 0]) & (bboxes[:, 3] > bboxes[:, 1])
            if key == 'gt_bboxes' and not valid.any() and not self.allow_negative_crop:
                return None
            results[key] = bboxes[valid, :]
            label_key = self._BBOX2LABEL.get(key)
            if label_key in results:
                results[label_key] = results[label_key][valid]
            mask_key = self._BBOX2MASK.get(key)
            if mask_key in results:
                window = np.asarray([crop_x1, crop_y1, crop_x2, crop_y2])
                results[mask_key] = results[mask_key][valid.nonzero()[0]].crop(window)
                if self.recompute_bbox:
                    results[key] = results[mask_key].get_bboxes()
        for key in results.get('seg_fields', []):
            results[key] = results[key][crop_y1:crop_y2, crop_x1:crop_x2]
        return results

    def __call__(self, results: Dict) -> Optional[Dict]:
        crop_size = self._get_crop_size(results['img'].shape[:2])
        return self._crop_data(results, crop_size)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, crop_type={self.crop_type}, '
                f'allow_negative_crop={self.allow_negative_crop}, bbox_clip_border={self.bbox_clip_border})')
