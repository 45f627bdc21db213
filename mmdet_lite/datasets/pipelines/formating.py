"""Formatting transforms: numpy -> tensors / DataContainers, and ``Collect``."""
from collections.abc import Sequence
from typing import Any, Dict, Sequence as SequenceT

import mmcv
import numpy as np
import torch
from mmcv.parallel import DataContainer as DC

from ..builder import PIPELINES

DEFAULT_META_KEYS = ('filename', 'ori_filename', 'ori_shape', 'img_shape', 'pad_shape',
                     'scale_factor', 'flip', 'flip_direction', 'img_norm_cfg')


def to_tensor(data: Any) -> torch.Tensor:
    """Convert a tensor, ndarray, sequence, int or float to a ``torch.Tensor``."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(data)
    if isinstance(data, Sequence) and not mmcv.is_str(data):
        return torch.tensor(data)
    if isinstance(data, int):
        return torch.LongTensor([data])
    if isinstance(data, float):
        return torch.FloatTensor([data])
    raise TypeError(f'type {type(data)} cannot be converted to tensor.')


def _img_to_chw(img: np.ndarray) -> np.ndarray:
    if img.ndim < 3:
        img = np.expand_dims(img, -1)
    return np.ascontiguousarray(img.transpose(2, 0, 1))


@PIPELINES.register_module()
class ToTensor:
    """Convert ``results[key]`` to tensors for each of ``keys``."""

    def __init__(self, keys: SequenceT[str]) -> None:
        self.keys = keys

    def __call__(self, results: Dict) -> Dict:
        for key in self.keys:
            results[key] = to_tensor(results[key])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys})'


@PIPELINES.register_module()
class ImageToTensor:
    """HWC image arrays -> contiguous CHW tensors (no DataContainer, so batch size 1)."""

    def __init__(self, keys: SequenceT[str]) -> None:
        self.keys = keys

    def __call__(self, results: Dict) -> Dict:
        for key in self.keys:
            results[key] = to_tensor(_img_to_chw(results[key])).contiguous()
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys})'


@PIPELINES.register_module()
class ToDataContainer:
    """Wrap ``results[key]`` in a ``DataContainer`` for each field ``dict(key=..., **DataContainer kwargs)``
    (e.g. ``dict(key='proposals', stack=False)`` so a test batch keeps one proposal tensor per image)."""

    def __init__(self, fields: SequenceT[dict] = (dict(key='img', stack=True), dict(key='gt_bboxes'),
                                                  dict(key='gt_labels'))) -> None:
        for field in fields:
            if 'key' not in field:
                raise KeyError(f'ToDataContainer: each field needs a "key", got {field}')
        self.fields = fields

    def __call__(self, results: Dict) -> Dict:
        for field in self.fields:
            kwargs = {name: value for name, value in field.items() if name != 'key'}
            results[field['key']] = DC(results[field['key']], **kwargs)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(fields={self.fields})'


@PIPELINES.register_module()
class DefaultFormatBundle:
    """Default formatting: ``img`` -> ``DC(tensor (3, H, W), stack=True)``; ``proposals``,
    ``gt_bboxes``, ``gt_bboxes_ignore``, ``gt_labels`` -> ``DC(tensor)`` (not stacked); ``gt_masks``
    -> ``DC(BitmapMasks, cpu_only=True)``.

    Missing ``pad_shape``, ``scale_factor`` (1.0) and ``img_norm_cfg`` (identity) are filled in.
    """

    def __call__(self, results: Dict) -> Dict:
        if 'img' in results:
            img = results['img']
            results.setdefault('pad_shape', img.shape)
            results.setdefault('scale_factor', 1.0)
            num_channels = 1 if img.ndim < 3 else img.shape[2]
            results.setdefault('img_norm_cfg', dict(mean=np.zeros(num_channels, dtype=np.float32),
                                                    std=np.ones(num_channels, dtype=np.float32),
                                                    to_rgb=False))
            results['img'] = DC(to_tensor(_img_to_chw(img)), stack=True)
        for key in ('proposals', 'gt_bboxes', 'gt_bboxes_ignore', 'gt_labels'):
            if key in results:
                results[key] = DC(to_tensor(results[key]))
        if 'gt_masks' in results:
            results['gt_masks'] = DC(results['gt_masks'], cpu_only=True)
        return results

    def __repr__(self) -> str:
        return self.__class__.__name__


@PIPELINES.register_module()
class Collect:
    """Keep ``keys`` and gather ``meta_keys`` into ``img_metas`` (``DC(dict, cpu_only=True)``)."""

    def __init__(self, keys: SequenceT[str], meta_keys: SequenceT[str] = DEFAULT_META_KEYS) -> None:
        self.keys = keys
        self.meta_keys = meta_keys

    def __call__(self, results: Dict) -> Dict:
        missing = [key for key in self.meta_keys if key not in results]
        if missing:
            raise KeyError(f'Collect: meta keys {missing} are not in the results '
                           f'(available: {sorted(results)})')
        img_meta = {key: results[key] for key in self.meta_keys}
        data = {'img_metas': DC(img_meta, cpu_only=True)}
        for key in self.keys:
            data[key] = results[key]
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys}, meta_keys={self.meta_keys})'
