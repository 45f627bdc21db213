"""``Compose``: run a list of pipeline transforms in order."""
import collections.abc
from typing import Callable, Dict, List, Optional, Sequence, Union

from mmcv.utils import build_from_cfg

from ..builder import PIPELINES


@PIPELINES.register_module()
class Compose:
    """Compose transforms sequentially; a transform returning None stops the chain.

    Args:
        transforms: transform config dicts (built from ``PIPELINES``) or callables.
    """

    def __init__(self, transforms: Sequence[Union[dict, Callable]]) -> None:
        if not isinstance(transforms, collections.abc.Sequence):
            raise TypeError(f'transforms must be a sequence of dicts or callables, '
                            f'got {type(transforms)}')
        self.transforms: List[Callable] = []
        for transform in transforms:
            if isinstance(transform, dict):
                self.transforms.append(build_from_cfg(transform, PIPELINES))
            elif callable(transform):
                self.transforms.append(transform)
            else:
                raise TypeError(f'transform must be callable or a dict, got {type(transform)}')

    def __call__(self, data: Dict) -> Optional[Dict]:
        for transform in self.transforms:
            data = transform(data)
            if data is None:
                return None
        return data

    def __repr__(self) -> str:
        inner = ''.join(f'\n    {t}' for t in self.transforms)
        return f'{self.__class__.__name__}({inner}\n)'
