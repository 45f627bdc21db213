"""``WIDERFaceDataset``: WIDER FACE converted to PASCAL VOC-style XML."""
import os.path as osp
from typing import List

import mmcv

from mmdet_lite.core.evaluation.class_names import wider_face_classes
from mmdet_lite.core.visualization.palette import WIDER_FACE_PALETTE

from .builder import DATASETS
from .xml_style import XMLDataset


@DATASETS.register_module()
class WIDERFaceDataset(XMLDataset):
    """WIDER FACE in the layout of https://github.com/sovrasov/wider-face-pascal-voc-annotations:
    under ``img_prefix`` (``WIDER_train/``), ``Annotations/<id>.xml`` and the images in the
    event folders the XMLs name, ``<folder>/<id>.jpg``
    (``0--Parade/0_Parade_marchingband_1_5.jpg``).
    """

    CLASSES = tuple(wider_face_classes())
    PALETTE = WIDER_FACE_PALETTE

    def load_annotations(self, ann_file: str) -> List[dict]:
        """Image dicts of the ids in ``ann_file``; ``filename`` is ``<folder>/<id>.jpg``.

        Raises:
            ValueError: an XML without ``<folder>`` or ``<size>``.
        """
        data_infos = []
        for img_id in mmcv.list_from_file(ann_file):
            root = self._xml_root(img_id)
            folder, size = root.find('folder'), root.find('size')
            if folder is None or size is None:
                raise ValueError(f'{type(self).__name__}: {self.ann_subdir}/{img_id}.xml needs '
                                 f'<folder> and <size> (the WIDER layout)')
            data_infos.append(dict(id=img_id, filename=osp.join(folder.text, f'{img_id}.jpg'),
                                   width=int(size.find('width').text),
                                   height=int(size.find('height').text)))
        return data_infos
