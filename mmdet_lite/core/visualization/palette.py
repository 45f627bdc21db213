"""Class colours for drawing (MMDetection 2.x ``get_palette``); colours are RGB tuples 0-255.

The dataset palettes live here, not in ``mmdet_lite.datasets``: the datasets take their
``PALETTE`` from this module (core does not import the layers above it).
"""
from typing import List, Sequence, Tuple, Union

import mmcv
import numpy as np

RGB = Tuple[int, int, int]

COCO_PALETTE: List[RGB] = [
    (220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230), (106, 0, 228), (0, 60, 100),
    (0, 80, 100), (0, 0, 70), (0, 0, 192), (250, 170, 30), (100, 170, 30), (220, 220, 0),
    (175, 116, 175), (250, 0, 30), (165, 42, 42), (255, 77, 255), (0, 226, 252),
    (182, 182, 255), (0, 82, 0), (120, 166, 157), (110, 76, 0), (174, 57, 255), (199, 100, 0),
    (72, 0, 118), (255, 179, 240), (0, 125, 92), (209, 0, 151), (188, 208, 182),
    (0, 220, 176), (255, 99, 164), (92, 0, 73), (133, 129, 255), (78, 180, 255), (0, 228, 0),
    (174, 255, 243), (45, 89, 255), (134, 134, 103), (145, 148, 174), (255, 208, 186),
    (197, 226, 255), (171, 134, 1), (109, 63, 54), (207, 138, 255), (151, 0, 95), (9, 80, 61),
    (84, 105, 51), (74, 65, 105), (166, 196, 102), (208, 195, 210), (255, 109, 65),
    (0, 143, 149), (179, 0, 194), (209, 99, 106), (5, 121, 0), (227, 255, 205),
    (147, 186, 208), (153, 69, 1), (3, 95, 161), (163, 255, 0), (119, 0, 170), (0, 182, 199),
    (0, 165, 120), (183, 130, 88), (95, 32, 0), (130, 114, 135), (110, 129, 133),
    (166, 74, 118), (219, 142, 185), (79, 210, 114), (178, 90, 62), (65, 70, 15),
    (127, 167, 115), (59, 105, 106), (142, 108, 45), (196, 172, 0), (95, 54, 80),
    (128, 76, 255), (201, 57, 1), (246, 0, 122), (191, 162, 208)]

VOC_PALETTE: List[RGB] = [
    (106, 0, 228), (119, 11, 32), (165, 42, 42), (0, 0, 192), (197, 226, 255), (0, 60, 100),
    (0, 0, 142), (255, 77, 255), (153, 69, 1), (120, 166, 157), (0, 182, 199), (0, 226, 252),
    (182, 182, 255), (0, 0, 230), (220, 20, 60), (163, 255, 0), (0, 82, 0), (3, 95, 161),
    (0, 80, 100), (183, 130, 88)]

CITYSCAPES_PALETTE: List[RGB] = [
    (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
    (0, 0, 230), (119, 11, 32)]

WIDER_FACE_PALETTE: List[RGB] = [(0, 255, 0)]

NAMED_PALETTES = {'coco': COCO_PALETTE, 'voc': VOC_PALETTE, 'citys': CITYSCAPES_PALETTE}

Palette = Union[None, str, RGB, Sequence[RGB]]


def palette_val(palette: Sequence[RGB]) -> List[Tuple[float, float, float]]:
    """RGB 0-255 tuples -> RGB 0-1 tuples (matplotlib's colours)."""
    return [tuple(channel / 255 for channel in color) for color in palette]


def random_palette(num_classes: int) -> List[RGB]:
    """``num_classes`` colours drawn with seed 42 (the same every call; numpy's global random
    state is left as it was)."""
    colors = np.random.RandomState(42).randint(0, 256, size=(num_classes, 3))
    return [tuple(int(c) for c in color) for color in colors]


def get_palette(palette: Palette, num_classes: int) -> List[RGB]:
    """At least ``num_classes`` RGB colours, colour ``i`` for label ``i``.

    Args:
        palette: a list of RGB tuples (used as is); one RGB tuple (every class); ``'coco'``,
            ``'voc'``, ``'citys'`` (the dataset palettes); ``'random'`` or None (seeded random
            colours); another string is a colour name mmcv knows (``'green'``, ``'red'``, ...).
        num_classes: number of colours needed.

    Raises:
        TypeError: ``palette`` is none of the above.
        ValueError: an unknown colour name, or fewer colours than ``num_classes``.
    """
    if not isinstance(num_classes, int):
        raise TypeError(f'num_classes must be an int, got {type(num_classes).__name__}')
    if isinstance(palette, list):
        colors = palette
    elif isinstance(palette, tuple):
        colors = [palette] * num_classes
    elif palette is None or palette == 'random':
        colors = random_palette(num_classes)
    elif isinstance(palette, str) and palette in NAMED_PALETTES:
        colors = NAMED_PALETTES[palette]
    elif isinstance(palette, str):
        try:
            bgr = mmcv.color_val(palette)
        except (KeyError, TypeError, AssertionError):
            raise ValueError(f'unknown palette {palette!r}: expected coco, voc, citys, random, '
                             f'an RGB tuple, a list of them or a colour name') from None
        colors = [bgr[::-1]] * num_classes
    else:
        raise TypeError(f'Invalid type for palette: {type(palette).__name__} ({palette!r})')
    if len(colors) < num_classes:
        raise ValueError(f'palette has {len(colors)} colours for {num_classes} classes: the '
                         'length of palette should not be less than num_classes')
    return list(colors)
