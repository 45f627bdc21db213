"""Class names of the standard datasets, and ``get_classes`` by dataset name (MMDetection 2.x)."""
from typing import List


def voc_classes() -> List[str]:
    """The 20 PASCAL VOC classes, in label order."""
    return ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
            'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep',
            'sofa', 'train', 'tvmonitor']


def wider_face_classes() -> List[str]:
    """WIDER FACE's one class."""
    return ['face']


def cityscapes_classes() -> List[str]:
    """The 8 Cityscapes instance classes, in label order."""
    return ['person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle']


# The names MMDetection 2.x accepts for each dataset (``eval_map(dataset='voc07')`` among them).
DATASET_ALIASES = {
    'voc': ['voc', 'pascal_voc', 'voc07', 'voc12'],
    'wider_face': ['WIDERFaceDataset', 'wider_face', 'WIDERFace'],
    'cityscapes': ['cityscapes'],
}
_CLASS_NAMES = {'voc': voc_classes, 'wider_face': wider_face_classes,
                'cityscapes': cityscapes_classes}


def get_classes(dataset: str) -> List[str]:
    """Class names of ``dataset``, one of the names in ``DATASET_ALIASES``.

    Raises:
        ValueError: an unknown name (the known ones are listed).
        TypeError: ``dataset`` is not a string.
    """
    if not isinstance(dataset, str):
        raise TypeError(f'dataset must be a dataset name (str), got {type(dataset).__name__}')
    for name, aliases in DATASET_ALIASES.items():
        if dataset in aliases:
            return _CLASS_NAMES[name]()
    known = sorted(alias for aliases in DATASET_ALIASES.values() for alias in aliases)
    raise ValueError(f'Unrecognized dataset: {dataset!r}; known names: {", ".join(known)}')
