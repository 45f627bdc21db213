"""Drawing detections and ground truth (MMDetection 2.x ``mmdet.core.visualization``).

The drawing functions come from ``image.py`` on first use: matplotlib takes most of a second to
import, and importing the datasets (which take their ``PALETTE`` from ``palette.py``) or the
models should not pay for it.
"""
from .palette import get_palette, palette_val

_DRAWING = ('imshow_det_bboxes', 'imshow_gt_det_bboxes', 'parse_det_result')

__all__ = ['get_palette', 'palette_val', *_DRAWING]


def __getattr__(name: str):
    if name in _DRAWING:
        from . import image
        return getattr(image, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
