"""``MultiScaleFlipAug``: run the inner transforms once per (scale, flip) augmentation."""
import warnings
from typing import Dict, List, Optional, Tuple, Union

import mmcv

from ..builder import PIPELINES
from .compose import Compose


@PIPELINES.register_module()
class MultiScaleFlipAug:
    """Test-time augmentation over scales x (no flip, flips).

    Exactly one of ``img_scale`` and ``scale_factor`` is given. For each scale and each of
    ``[(False, None)] + [(True, d) for d in flip_direction]`` (flips only when ``flip``) the
    inner ``transforms`` run on a shallow copy of the results with ``scale`` (or
    ``scale_factor``), ``flip`` and ``flip_direction`` preset. Returns a dict of lists, one
    entry per augmentation.
    """

    def __init__(self, transforms: List[dict],
                 img_scale: Optional[Union[Tuple[int, int], List[Tuple[int, int]]]] = None,
                 scale_factor: Optional[Union[float, List[float]]] = None, flip: bool = False,
                 flip_direction: Union[str, List[str]] = 'horizontal') -> None:
        self.transforms = Compose(transforms)
        if (img_scale is None) == (scale_factor is None):
            raise ValueError(f'Must have but only one variable can be set: img_scale={img_scale}, '
                             f'scale_factor={scale_factor}')
        if img_scale is not None:
            self.img_scale = [tuple(s) for s in img_scale] if isinstance(img_scale, list) \
                else [tuple(img_scale)]
            self.scale_key = 'scale'
        else:
            self.img_scale = scale_factor if isinstance(scale_factor, list) else [scale_factor]
            self.scale_key = 'scale_factor'
        self.flip = flip
        self.flip_direction = flip_direction if isinstance(flip_direction, list) \
            else [flip_direction]
        if not mmcv.is_list_of(self.flip_direction, str):
            raise TypeError(f'flip_direction must be a str or a list of str, got {flip_direction}')
        if not self.flip and self.flip_direction != ['horizontal']:
            warnings.warn('flip_direction has no effect when flip is set to False')
        if self.flip and not any(t['type'] == 'RandomFlip' for t in transforms
                                 if isinstance(t, dict)):
            warnings.warn('flip has no effect when RandomFlip is not in transforms')

    def __call__(self, results: Dict) -> Dict[str, list]:
        flip_args = [(False, None)]
        if self.flip:
            flip_args += [(True, direction) for direction in self.flip_direction]
        aug_data = []
        for scale in self.img_scale:
            for flip, direction in flip_args:
                _results = results.copy()
                _results[self.scale_key] = scale
                _results['flip'] = flip
                _results['flip_direction'] = direction
                aug_data.append(self.transforms(_results))
        return {key: [data[key] for data in aug_data] for key in aug_data[0]}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(transforms={self.transforms}, '
                f'img_scale={self.img_scale}, flip={self.flip}, '
                f'flip_direction={self.flip_direction})')
