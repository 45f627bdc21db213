"""``CityscapesDataset``: Cityscapes instances converted to COCO format
(``tools/dataset_converters/cityscapes.py`` of MMDetection), evaluated with COCO's bbox AP."""
import importlib.util
from typing import Dict, List, Optional, Sequence, Union

from mmdet_lite.core.evaluation.class_names import cityscapes_classes
from mmdet_lite.core.visualization.palette import CITYSCAPES_PALETTE

from .builder import DATASETS
from .coco import CocoDataset


def check_cityscapes_metric_available() -> None:
    """Raise why metric ``'cityscapes'`` cannot run here.

    Raises:
        ModuleNotFoundError: ``cityscapesscripts`` is not installed.
        NotImplementedError: it is installed, but its instance-level evaluation scores masks,
            which mmdet_lite's detectors do not produce.
    """
    if importlib.util.find_spec('cityscapesscripts') is None:
        raise ModuleNotFoundError(
            "metric 'cityscapes' (the Cityscapes instance-level evaluation) needs the package "
            "cityscapesscripts, which is not installed: pip install cityscapesscripts. "
            "metric='bbox' evaluates boxes with COCO's AP without it.")
    raise NotImplementedError(
        "metric 'cityscapes' scores instance masks; mmdet_lite's detectors give boxes only. "
        "Use metric='bbox'.")


@DATASETS.register_module()
class CityscapesDataset(CocoDataset):
    """The 8 Cityscapes instance classes in a COCO-format json.

    Differs from :class:`CocoDataset` in its training filter (``_filter_imgs``) and in
    accepting metric ``'cityscapes'`` by name (see :func:`check_cityscapes_metric_available`).
    """

    CLASSES = tuple(cityscapes_classes())
    PALETTE = CITYSCAPES_PALETTE
    ALLOWED_METRICS = CocoDataset.ALLOWED_METRICS + ('cityscapes',)

    def _filter_imgs(self, min_size: int = 32) -> List[int]:
        """Keep images whose shorter side is at least ``min_size`` and, with
        ``filter_empty_gt``, that hold an annotation of a selected class and at least one
        that is not crowd; also reduces ``img_ids``."""
        valid_inds, valid_img_ids = [], []
        selected = set(self.cat_ids)
        for i, info in enumerate(self.data_infos):
            img_id = self.img_ids[i]
            anns = self.coco.load_anns(self.coco.get_ann_ids(img_ids=[img_id]))
            has_selected = any(ann['category_id'] in selected for ann in anns)
            all_crowd = all(ann.get('iscrowd', False) for ann in anns)
            if self.filter_empty_gt and (not has_selected or all_crowd):
                continue
            if min(info['width'], info['height']) >= min_size:
                valid_inds.append(i)
                valid_img_ids.append(img_id)
        self.img_ids = valid_img_ids
        return valid_inds

    def _parse_ann_info(self, img_info: Dict, ann_info: List[dict]) -> Dict:
        """:meth:`CocoDataset._parse_ann_info`; ``seg_map`` is the image's ``segm_file``
        where the converter wrote one."""
        ann = super()._parse_ann_info(img_info, ann_info)
        if 'segm_file' in img_info:
            ann['seg_map'] = img_info['segm_file']
        return ann

    def evaluate(self, results: list, metric: Union[str, List[str]] = 'bbox', logger=None,
                 outfile_prefix: Optional[str] = None, classwise: bool = False,
                 proposal_nums: Sequence[int] = (100, 300, 1000),
                 iou_thrs: Optional[Sequence[float]] = None) -> Dict:
        """COCO metrics (``bbox``, ``proposal``, ``proposal_fast``) as in :class:`CocoDataset`;
        ``outfile_prefix`` is where their json files go.

        Raises:
            ModuleNotFoundError, NotImplementedError: metric ``'cityscapes'``, see
                :func:`check_cityscapes_metric_available`.
        """
        metrics = list(metric) if isinstance(metric, (list, tuple)) else [metric]
        if 'cityscapes' in metrics:
            check_cityscapes_metric_available()
        return super().evaluate(results, metrics, logger, jsonfile_prefix=outfile_prefix,
                                classwise=classwise, proposal_nums=proposal_nums,
                                iou_thrs=iou_thrs)
