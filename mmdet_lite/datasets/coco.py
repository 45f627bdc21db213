"""``CocoDataset``: COCO-format detection data and COCO-style bbox/proposal evaluation."""
import contextlib
import io
import itertools
import logging
import os.path as osp
import tempfile
import warnings
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.utils import print_log

from .api_wrappers import COCO, COCOeval
from .builder import DATASETS
from .custom import CustomDataset

# Index of each summary number in ``COCOeval.stats``.
COCO_METRIC_NAMES = {
    'mAP': 0, 'mAP_50': 1, 'mAP_75': 2, 'mAP_s': 3, 'mAP_m': 4, 'mAP_l': 5,
    'AR@100': 6, 'AR@300': 7, 'AR@1000': 8, 'AR_s@1000': 9, 'AR_m@1000': 10, 'AR_l@1000': 11
}


def xyxy2xywh_array(bboxes: np.ndarray) -> np.ndarray:
    """(N, >=4) x1y1x2y2 -> (N, 4) COCO ``[x, y, w, h]`` (no +1)."""
    xywh = bboxes[:, :4].astype(np.float64).copy()
    xywh[:, 2:] -= xywh[:, :2]
    return xywh


@DATASETS.register_module()
class CocoDataset(CustomDataset):
    """COCO detection dataset (80 classes; ``classes=`` selects categories by name).

    ``cat_ids`` are the json's category ids of ``CLASSES`` (json order); label ``i`` is
    ``cat_ids[i]``. Crowd boxes go to ``bboxes_ignore``.
    """

    CLASSES = ('person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck',
               'boat', 'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench',
               'bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra',
               'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis',
               'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard',
               'surfboard', 'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife',
               'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
               'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
               'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard',
               'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book',
               'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush')
    ALLOWED_METRICS = ('bbox', 'segm', 'proposal', 'proposal_fast')

    def load_annotations(self, ann_file: str) -> List[dict]:
        """Read ``ann_file`` with pycocotools.

        Sets ``coco``, ``cat_ids``, ``cat2label`` and ``img_ids``.
        """
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco = COCO(ann_file)
        self.cat_ids = self.coco.get_cat_ids(cat_names=self.CLASSES)
        found = {cat['name'] for cat in self.coco.load_cats(self.cat_ids)}
        missing = [name for name in self.CLASSES if name not in found]
        if missing:
            warnings.warn(f'{self.__class__.__name__}: classes {missing} are not categories of '
                          f'{ann_file}; labels follow the {len(self.cat_ids)} categories found, '
                          f'in the order of the file')
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.img_ids = self.coco.get_img_ids()
        data_infos = []
        for info in self.coco.load_imgs(self.img_ids):
            info = dict(info, filename=info['file_name'])
            data_infos.append(info)
        ann_ids = [ann['id'] for ann in self.coco.dataset.get('annotations', [])]
        if len(set(ann_ids)) != len(ann_ids):
            raise ValueError(f"Annotation ids in '{ann_file}' are not unique!")
        return data_infos

    def get_ann_info(self, idx: int) -> Dict:
        """Parsed annotations of image ``idx`` (see ``_parse_ann_info``)."""
        img_id = self.data_infos[idx]['id']
        ann_info = self.coco.load_anns(self.coco.get_ann_ids(img_ids=[img_id]))
        return self._parse_ann_info(self.data_infos[idx], ann_info)

    def get_cat_ids(self, idx: int) -> List[int]:
        """COCO category ids of the annotations of image ``idx``."""
        img_id = self.data_infos[idx]['id']
        return [ann['category_id']
                for ann in self.coco.load_anns(self.coco.get_ann_ids(img_ids=[img_id]))]

    def _filter_imgs(self, min_size: int = 32) -> List[int]:
        """Keep images with an annotation of a selected class (if ``filter_empty_gt``)
        and a shorter side of at least ``min_size``; also reduces ``img_ids``."""
        ids_with_ann = {ann['image_id'] for ann in self.coco.anns.values()}
        ids_in_cat = set(itertools.chain.from_iterable(
            self.coco.cat_img_map[cat_id] for cat_id in self.cat_ids)) & ids_with_ann
        valid_inds, valid_img_ids = [], []
        for i, img_info in enumerate(self.data_infos):
            img_id = self.img_ids[i]
            if self.filter_empty_gt and img_id not in ids_in_cat:
                continue
            if min(img_info['width'], img_info['height']) >= min_size:
                valid_inds.append(i)
                valid_img_ids.append(img_id)
        self.img_ids = valid_img_ids
        return valid_inds

    def _parse_ann_info(self, img_info: Dict, ann_info: List[dict]) -> Dict:
        """COCO annotations of one image -> middle format.

        Skipped: ``ignore`` annotations, boxes not overlapping the image, ``area <= 0``,
        ``w < 1`` or ``h < 1``, and categories outside ``cat_ids``.

        Returns:
            dict with ``bboxes`` (k, 4) float32 x1y1x2y2, ``labels`` (k,) int64,
            ``bboxes_ignore`` (j, 4) float32 (crowd), ``masks`` (k raw segmentations),
            ``seg_map`` (file name with jpg -> png).
        """
        num_anns = len(ann_info)
        xywh = np.array([ann['bbox'] for ann in ann_info], dtype=np.float64).reshape(num_anns, 4)
        area = np.array([ann.get('area', 1.0) for ann in ann_info], dtype=np.float64)
        cat_ids = np.array([ann['category_id'] for ann in ann_info], dtype=np.int64)
        ignore = np.array([bool(ann.get('ignore', False)) for ann in ann_info], dtype=bool)
        crowd = np.array([bool(ann.get('iscrowd', False)) for ann in ann_info], dtype=bool)

        x1, y1, w, h = xywh.T
        inter_w = np.maximum(0, np.minimum(x1 + w, img_info['width']) - np.maximum(x1, 0))
        inter_h = np.maximum(0, np.minimum(y1 + h, img_info['height']) - np.maximum(y1, 0))
        known_cat_ids = np.array(self.cat_ids, dtype=np.int64)
        keep = (~ignore & (inter_w * inter_h > 0) & (area > 0) & (w >= 1) & (h >= 1)
                & np.isin(cat_ids, known_cat_ids))
        xyxy = np.stack([x1, y1, x1 + w, y1 + h], axis=1).astype(np.float32)

        is_gt = keep & ~crowd
        # label = position of the category id in cat_ids (the cat2label mapping)
        labels = (np.argmax(cat_ids[is_gt, None] == known_cat_ids[None, :], axis=1)
                  if known_cat_ids.size else np.zeros(0, dtype=np.int64))
        return dict(
            bboxes=xyxy[is_gt].reshape(-1, 4),
            labels=labels,
            bboxes_ignore=xyxy[keep & crowd].reshape(-1, 4),
            masks=[ann.get('segmentation', None) for ann, g in zip(ann_info, is_gt) if g],
            seg_map=img_info['filename'].replace('jpg', 'png'))

    def xyxy2xywh(self, bbox: np.ndarray) -> List[float]:
        """One (>=4,) x1y1x2y2 box -> COCO ``[x, y, w, h]`` list."""
        return xyxy2xywh_array(np.asarray(bbox)[None]).tolist()[0]

    def _proposal2json(self, results: Sequence[np.ndarray]) -> List[dict]:
        json_results = []
        for img_id, bboxes in zip(self.img_ids, results):
            for xywh, score in zip(xyxy2xywh_array(bboxes).tolist(), bboxes[:, 4].tolist()):
                json_results.append(dict(image_id=img_id, bbox=xywh, score=score, category_id=1))
        return json_results

    def _det2json(self, results: Sequence[Sequence[np.ndarray]]) -> List[dict]:
        json_results = []
        for img_id, per_class in zip(self.img_ids, results):
            if len(per_class) != len(self.cat_ids):
                raise ValueError(f'image {img_id}: got results for {len(per_class)} classes, '
                                 f'expected {len(self.cat_ids)} (one (n, 5) array per class)')
            for label, bboxes in enumerate(per_class):
                cat_id = self.cat_ids[label]
                for xywh, score in zip(xyxy2xywh_array(bboxes).tolist(), bboxes[:, 4].tolist()):
                    json_results.append(
                        dict(image_id=img_id, bbox=xywh, score=score, category_id=cat_id))
        return json_results

    def results2json(self, results: list, outfile_prefix: str) -> Dict[str, str]:
        """Dump results to ``<outfile_prefix>.bbox.json`` (detections) or
        ``<outfile_prefix>.proposal.json`` (proposals); returns metric -> file."""
        result_files = dict()
        if isinstance(results[0], list):
            result_files['bbox'] = f'{outfile_prefix}.bbox.json'
            result_files['proposal'] = f'{outfile_prefix}.bbox.json'
            mmcv.dump(self._det2json(results), result_files['bbox'])
        elif isinstance(results[0], tuple):
            raise NotImplementedError('mask results (bbox, segm) are not supported by mmdet_lite')
        elif isinstance(results[0], np.ndarray):
            result_files['proposal'] = f'{outfile_prefix}.proposal.json'
            mmcv.dump(self._proposal2json(results), result_files['proposal'])
        else:
            raise TypeError(f'invalid type of results: {type(results[0])}')
        return result_files

    def fast_eval_recall(self, results: Sequence[np.ndarray], proposal_nums: Sequence[int],
                         iou_thrs: Sequence[float], logger=None) -> np.ndarray:
        """Average recall over ``iou_thrs`` for each of ``proposal_nums`` (vs non-crowd GT)."""
        from mmdet_lite.core.evaluation.recall import eval_recalls
        gt_bboxes = []
        for i in range(len(self.img_ids)):
            ann_info = self.coco.load_anns(self.coco.get_ann_ids(img_ids=[self.img_ids[i]]))
            boxes = [ann['bbox'] for ann in ann_info
                     if not ann.get('ignore', False) and not ann.get('iscrowd', False)]
            xywh = np.array(boxes, dtype=np.float32).reshape(-1, 4)
            gt_bboxes.append(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1))
        recalls = eval_recalls(gt_bboxes, results, proposal_nums, iou_thrs, logger=logger)
        return recalls.mean(axis=1)

    def format_results(self, results: list, jsonfile_prefix: Optional[str] = None
                       ) -> Tuple[Dict[str, str], Optional[tempfile.TemporaryDirectory]]:
        """Write COCO json result files; returns (metric -> file, temp dir or None)."""
        if not isinstance(results, list):
            raise TypeError(f'results must be a list, got {type(results)}')
        if len(results) != len(self):
            raise ValueError(f'The length of results is not equal to the dataset len: '
                             f'{len(results)} != {len(self)}')
        tmp_dir = None
        if jsonfile_prefix is None:
            tmp_dir = tempfile.TemporaryDirectory()
            jsonfile_prefix = osp.join(tmp_dir.name, 'results')
        return self.results2json(results, jsonfile_prefix), tmp_dir

    def evaluate(self, results: list, metric: Union[str, List[str]] = 'bbox', logger=None,
                 jsonfile_prefix: Optional[str] = None, classwise: bool = False,
                 proposal_nums: Sequence[int] = (100, 300, 1000),
                 iou_thrs: Optional[Sequence[float]] = None,
                 metric_items: Optional[Union[str, List[str]]] = None) -> Dict:
        """COCO evaluation.

        Args:
            results: per image, a list of per-class (n, 5) float32 arrays (x1, y1, x2, y2,
                score) for ``bbox``; per image one (n, 5) array for proposal metrics.
            metric: one or several of ``bbox``, ``proposal``, ``proposal_fast``
                (``segm`` is accepted by name but needs mask results).

        Returns:
            OrderedDict, e.g. ``bbox_mAP, bbox_mAP_50, bbox_mAP_75, bbox_mAP_s, bbox_mAP_m,
            bbox_mAP_l`` (rounded to 3 decimals) and ``bbox_mAP_copypaste``.

        When no image has any detection the COCO API cannot run; this is logged as in
        MMDetection (``The testing results of the whole dataset is empty.``) and the
        requested metrics are reported as 0.0.
        """
        metrics = metric if isinstance(metric, list) else [metric]
        for m in metrics:
            if m not in self.ALLOWED_METRICS:
                raise KeyError(f'metric {m} is not supported; allowed metrics are '
                               f'{", ".join(self.ALLOWED_METRICS)}')
        if iou_thrs is None:
            iou_thrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        if metric_items is not None and not isinstance(metric_items, list):
            metric_items = [metric_items]
        for item in metric_items or []:
            if item not in COCO_METRIC_NAMES:
                raise KeyError(f'metric item {item} is not supported; allowed items are '
                               f'{", ".join(COCO_METRIC_NAMES)}')

        result_files, tmp_dir = self.format_results(results, jsonfile_prefix)
        eval_results = OrderedDict()
        try:
            for m in metrics:
                msg = f'Evaluating {m}...'
                print_log(msg if logger is not None else '\n' + msg, logger=logger)
                if m == 'proposal_fast':
                    ar = self.fast_eval_recall(results, proposal_nums, iou_thrs, logger='silent')
                    for i, num in enumerate(proposal_nums):
                        eval_results[f'AR@{num}'] = float(ar[i])
                    print_log(''.join(f'\nAR@{num}\t{ar[i]:.4f}'
                                      for i, num in enumerate(proposal_nums)), logger=logger)
                    continue
                if m not in result_files:
                    raise KeyError(f'{m} is not in results')
                eval_results.update(self._coco_eval(m, result_files[m], logger, classwise,
                                                    proposal_nums, iou_thrs, metric_items))
        finally:
            if tmp_dir is not None:
                tmp_dir.cleanup()
        return eval_results

    def _coco_eval(self, metric: str, result_file: str, logger, classwise: bool,
                   proposal_nums: Sequence[int], iou_thrs: Sequence[float],
                   metric_items: Optional[List[str]]) -> Dict:
        if metric == 'proposal':
            items = metric_items or ['AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000',
                                     'AR_l@1000']
            keys = list(items)
        else:
            items = metric_items or ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l']
            keys = [f'{metric}_{item}' for item in items]

        predictions = mmcv.load(result_file)
        if len(predictions) == 0:
            print_log('The testing results of the whole dataset is empty.', logger=logger,
                      level=logging.ERROR)
            out = OrderedDict((key, 0.0) for key in keys)
            if metric != 'proposal' and metric_items is None:
                out[f'{metric}_mAP_copypaste'] = ' '.join(['0.000'] * 6)
            return out

        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = self.coco.loadRes(predictions)
        coco_eval = COCOeval(self.coco, coco_dt, 'bbox' if metric == 'proposal' else metric)
        coco_eval.params.catIds = self.cat_ids
        coco_eval.params.imgIds = self.img_ids
        coco_eval.params.maxDets = list(proposal_nums)
        coco_eval.params.iouThrs = np.asarray(iou_thrs)
        if metric == 'proposal':
            coco_eval.params.useCats = 0
        summary = io.StringIO()
        with contextlib.redirect_stdout(summary):
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        print_log('\n' + summary.getvalue(), logger=logger)

        if classwise and metric != 'proposal':
            print_log('\n' + self._classwise_table(coco_eval.eval['precision']), logger=logger)
        out = OrderedDict(
            (key, float(f'{coco_eval.stats[COCO_METRIC_NAMES[item]]:.3f}'))
            for key, item in zip(keys, items))
        if metric != 'proposal' and metric_items is None:
            out[f'{metric}_mAP_copypaste'] = ' '.join(f'{ap:.3f}' for ap in coco_eval.stats[:6])
        return out

    def _classwise_table(self, precisions: np.ndarray) -> str:
        """Per-class AP table; ``precisions`` is (T iou, R recall, K cls, A area, M maxdets)."""
        if precisions.shape[2] != len(self.cat_ids):
            raise ValueError(f'precision has {precisions.shape[2]} classes, expected '
                             f'{len(self.cat_ids)}')
        valid = precisions[:, :, :, 0, -1] > -1
        sums = np.where(valid, precisions[:, :, :, 0, -1], 0).sum(axis=(0, 1))
        counts = valid.sum(axis=(0, 1))
        aps = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        names = [cat['name'] for cat in self.coco.load_cats(self.cat_ids)]
        width = max([len('category')] + [len(n) for n in names])
        lines = [f'{"category":<{width}} | AP   ', '-' * (width + 8)]
        lines += [f'{name:<{width}} | {float(ap):0.3f}' for name, ap in zip(names, aps)]
        return '\n'.join(lines)
