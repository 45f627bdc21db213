"""``XMLDataset``: PASCAL VOC-style annotations, one XML file per image.

Layout under ``img_prefix``::

    <img_subdir>/<id>.jpg      (JPEGImages/)
    <ann_subdir>/<id>.xml      (Annotations/)

``ann_file`` lists the image ids, one a line (``ImageSets/Main/trainval.txt``).
"""
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple

import mmcv
import numpy as np
from PIL import Image

from .builder import DATASETS
from .custom import CustomDataset


def parse_voc_objects(root: ET.Element, classes: Tuple[str, ...]
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The objects of one VOC XML tree whose ``<name>`` is in ``classes``.

    Returns:
        bboxes: (k, 4) float32 x1y1x2y2, each ``int(float(text)) - 1`` (VOC's 1-based pixels,
            as MMDetection 2.x reads them).
        labels: (k,) int64 positions of the names in ``classes``.
        difficult: (k,) bool ``<difficult>1</difficult>`` (absent: 0).
    """
    names, boxes, difficult = [], [], []
    for obj in root.findall('object'):
        name = obj.find('name').text
        if name not in classes:
            continue
        box = obj.find('bndbox')
        names.append(name)
        boxes.append([int(float(box.find(key).text)) for key in ('xmin', 'ymin', 'xmax', 'ymax')])
        flag = obj.find('difficult')
        difficult.append(flag is not None and int(flag.text) != 0)
    labels = np.array([classes.index(name) for name in names], dtype=np.int64)
    bboxes = np.array(boxes, dtype=np.float32).reshape(-1, 4) - 1
    return bboxes, labels, np.array(difficult, dtype=bool)


@DATASETS.register_module()
class XMLDataset(CustomDataset):
    """Detection dataset over VOC-style XML files.

    Args:
        min_size: objects narrower or lower than this (in pixels) go to ``bboxes_ignore``
            (training only; ``WIDERFaceDataset`` uses 17).
        img_subdir: image directory under ``img_prefix``.
        ann_subdir: XML directory under ``img_prefix``.
        kwargs: :class:`CustomDataset`'s arguments.

    Raises:
        ValueError: no ``CLASSES`` and no ``classes``; ``min_size`` in test mode.
    """

    def __init__(self, min_size: Optional[float] = None, img_subdir: str = 'JPEGImages',
                 ann_subdir: str = 'Annotations', **kwargs) -> None:
        if not (self.CLASSES or kwargs.get('classes')):
            raise ValueError(f'{type(self).__name__} needs class names: CLASSES is None and '
                             f'classes={kwargs.get("classes")!r}')
        if min_size and kwargs.get('test_mode', False):
            raise ValueError(f'min_size={min_size} marks small objects as ignored for training; '
                             f'it cannot be used with test_mode=True')
        self.min_size = min_size
        self.img_subdir = img_subdir
        self.ann_subdir = ann_subdir
        super().__init__(**kwargs)
        self.cat2label = {cat: i for i, cat in enumerate(self.CLASSES)}

    def _xml_root(self, img_id: str) -> ET.Element:
        """The parsed ``<ann_subdir>/<img_id>.xml``.

        Raises:
            FileNotFoundError: the file is missing.
            ValueError: it is not well-formed XML (the path and the parser's position are named).
        """
        xml_path = osp.join(self.img_prefix, self.ann_subdir, f'{img_id}.xml')
        try:
            return ET.parse(xml_path).getroot()
        except ET.ParseError as error:
            raise ValueError(f'{type(self).__name__}: {xml_path} is not valid XML: {error}') \
                from None

    def load_annotations(self, ann_file: str) -> List[dict]:
        """Image dicts (``id``, ``filename``, ``width``, ``height``) of the ids in ``ann_file``;
        the size comes from the XML's ``<size>``, else from the image file's header."""
        data_infos = []
        for img_id in mmcv.list_from_file(ann_file):
            filename = osp.join(self.img_subdir, f'{img_id}.jpg')
            size = self._xml_root(img_id).find('size')
            if size is not None:
                width, height = int(size.find('width').text), int(size.find('height').text)
            else:
                with Image.open(osp.join(self.img_prefix, filename)) as img:
                    width, height = img.size
            data_infos.append(dict(id=img_id, filename=filename, width=width, height=height))
        return data_infos

    def _filter_imgs(self, min_size: int = 32) -> List[int]:
        """Indices of images whose shorter side is at least ``min_size`` and, with
        ``filter_empty_gt``, that hold an object of ``CLASSES`` (difficult ones count)."""
        valid_inds = []
        for i, info in enumerate(self.data_infos):
            if min(info['width'], info['height']) < min_size:
                continue
            if self.filter_empty_gt and not any(
                    obj.find('name').text in self.CLASSES
                    for obj in self._xml_root(info['id']).findall('object')):
                continue
            valid_inds.append(i)
        return valid_inds

    def get_ann_info(self, idx: int) -> Dict:
        """Annotations of image ``idx``: ``bboxes`` (k, 4) float32, ``labels`` (k,) int64,
        and ``bboxes_ignore`` / ``labels_ignore`` for difficult objects and, with
        ``min_size``, objects narrower or lower than it."""
        bboxes, labels, ignore = parse_voc_objects(self._xml_root(self.data_infos[idx]['id']),
                                                   tuple(self.CLASSES))
        if self.min_size:
            sizes = bboxes[:, 2:] - bboxes[:, :2]
            ignore = ignore | (sizes < self.min_size).any(axis=1)
        return dict(bboxes=bboxes[~ignore], labels=labels[~ignore],
                    bboxes_ignore=bboxes[ignore], labels_ignore=labels[ignore])

    def get_cat_ids(self, idx: int) -> List[int]:
        """Labels of the objects of ``CLASSES`` in image ``idx`` (difficult ones included)."""
        _, labels, _ = parse_voc_objects(self._xml_root(self.data_infos[idx]['id']),
                                         tuple(self.CLASSES))
        return labels.tolist()
