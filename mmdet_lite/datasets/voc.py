"""``VOCDataset``: PASCAL VOC 2007 / 2012 detection, evaluated with VOC's AP."""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

from mmdet_lite.core.evaluation.class_names import voc_classes
from mmdet_lite.core.visualization.palette import VOC_PALETTE

from .builder import DATASETS
from .xml_style import XMLDataset


def infer_voc_year(img_prefix: str) -> int:
    """2007 or 2012, from ``VOC2007`` / ``VOC2012`` in ``img_prefix``.

    Raises:
        ValueError: neither is in ``img_prefix``.
    """
    if 'VOC2007' in img_prefix:
        return 2007
    if 'VOC2012' in img_prefix:
        return 2012
    raise ValueError(f'Cannot infer dataset year from img_prefix {img_prefix!r}: it names '
                     f'neither VOC2007 nor VOC2012')


@DATASETS.register_module()
class VOCDataset(XMLDataset):
    """PASCAL VOC (20 classes); ``year`` comes from ``img_prefix``.

    ``evaluate`` follows the VOC devkit: widths and heights ``x2 - x1 + 1``
    (``use_legacy_coordinate``), and the 11-point AP for VOC2007, the area under the
    precision envelope for VOC2012.
    """

    CLASSES = tuple(voc_classes())
    PALETTE = VOC_PALETTE

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.year = infer_voc_year(self.img_prefix)

    def map_eval_options(self) -> Dict:
        """VOC's box convention, and its AP mode for ``year``."""
        return dict(dataset=self.CLASSES, eval_mode='11points' if self.year == 2007 else 'area',
                    use_legacy_coordinate=True)

    def evaluate(self, results: list, metric: Union[str, List[str]] = 'mAP', logger=None,
                 proposal_nums: Sequence[int] = (100, 300, 1000),
                 iou_thr: Union[float, List[float]] = 0.5,
                 scale_ranges: Optional[List[tuple]] = None) -> Dict:
        """:meth:`CustomDataset.evaluate` with VOC's options; ``mAP`` comes first."""
        eval_results = OrderedDict(super().evaluate(results, metric, logger, proposal_nums,
                                                    iou_thr, scale_ranges))
        if 'mAP' in eval_results:
            eval_results.move_to_end('mAP', last=False)
        return eval_results
