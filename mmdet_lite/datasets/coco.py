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

from mmdet_lite.core.visualization.palette import COCO_PALETTE

from .api_wrappers import COCO, COCOeval
from .builder import DATASETS
from .custom import CustomDataset

# Index of each summary number in ``COCOeval.stats``.
COCO_METRIC_NAMES = {
    'mAP': 0, 'mAP_50': 1, 'mAP_75': 2, 'mAP_s': 3, 'mAP_m': 4, 'mAP_l': 5,
    'AR@100': 6, 'AR@300': 7, 'AR@1000': 8, 'AR_s@1000': 9, 'AR_m@1000': 10, 'AR_l@1000': 11
}


# Why an annotation is not used for training, in the order checked (the first that applies counts).
DROP_REASONS = ('unknown category_id', 'image_id not in images', 'not finite',
                'width or height <= 0', 'width or height < 1', 'area <= 0', 'outside the image')
# Examples of each kind of dropped or clipped annotation the build-time warning names.
NUM_EXAMPLES = 3


def box_drop_reasons(xywh: np.ndarray, area: np.ndarray, known_category: np.ndarray,
                     img_wh: np.ndarray) -> np.ndarray:
    """Why each COCO annotation is dropped: index into ``DROP_REASONS``, -1 where it is kept.

    Args:
        xywh: (N, 4) float64 COCO boxes ``[x, y, w, h]`` (NaN and inf allowed).
        area: (N,) the annotations' ``area`` field.
        known_category: (N,) bool, the ``category_id`` is one of the file's categories.
        img_wh: (N, 2) width and height of each annotation's image, NaN where the image_id
            is not among the file's images.

    MMDetection 2.x drops the same boxes (w < 1, h < 1, area <= 0, no overlap with the image,
    category not selected), silently; the reasons let the dataset say so.
    """
    x1, y1, w, h = xywh.T
    with np.errstate(invalid='ignore'):
        inter_w = np.minimum(x1 + w, img_wh[:, 0]) - np.maximum(x1, 0)
        inter_h = np.minimum(y1 + h, img_wh[:, 1]) - np.maximum(y1, 0)
        failed = [~known_category, np.isnan(img_wh[:, 0]), ~np.isfinite(xywh).all(axis=1),
                  (w <= 0) | (h <= 0), (w < 1) | (h < 1), ~(area > 0),
                  ~((inter_w > 0) & (inter_h > 0))]
    reasons = np.full(len(xywh), -1, dtype=np.int64)
    for code in reversed(range(len(DROP_REASONS))):  # the first reason that applies wins
        reasons[failed[code]] = code
    return reasons


def reaches_beyond_image(xyxy: np.ndarray, img_wh: np.ndarray) -> np.ndarray:
    """(N,) bool: the (N, 4) x1y1x2y2 box reaches outside its (N, 2) image width/height."""
    return ((xyxy[:, :2] < 0).any(axis=1) | (xyxy[:, 2] > img_wh[:, 0])
            | (xyxy[:, 3] > img_wh[:, 1]))


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
    PALETTE = COCO_PALETTE
    ALLOWED_METRICS = ('bbox', 'segm', 'proposal', 'proposal_fast')

    def load_annotations(self, ann_file: str) -> List[dict]:
        """Read ``ann_file`` with pycocotools.

        Sets ``coco``, ``cat_ids``, ``cat2label`` and ``img_ids``.
        """
        self.coco = self._read_coco(ann_file)
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
        self._warn_about_unusable_boxes(ann_file)
        return data_infos

    def _read_coco(self, ann_file: str) -> COCO:
        """The COCO API over ``ann_file`` (pycocotools' progress prints silenced)."""
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(ann_file)

    def _warn_about_unusable_boxes(self, ann_file: str) -> None:
        """One warning for the whole file: how many annotations are dropped, for which reason,
        and how many boxes are clipped to their image, with the first few by file name and id.
        ``ignore`` annotations are left out (they are meant to be skipped)."""
        anns = [ann for ann in self.coco.dataset.get('annotations', [])
                if not ann.get('ignore', False)]
        if not anns:
            return
        img_wh, known_category, xywh, area = self._annotation_arrays(anns)
        reasons = box_drop_reasons(xywh, area, known_category, img_wh)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        clipped = (reasons < 0) & reaches_beyond_image(xyxy, img_wh)
        if not (reasons >= 0).any() and not clipped.any():
            return
        lines = [f'{self.__class__.__name__} {ann_file}: {np.count_nonzero(reasons >= 0)} of '
                 f'{len(anns)} annotations dropped, {np.count_nonzero(clipped)} boxes clipped '
                 f'to their image']
        kinds = [(reason, reasons == code) for code, reason in enumerate(DROP_REASONS)]
        for kind, flagged in kinds + [('clipped to the image', clipped)]:
            if flagged.any():
                examples = ', '.join(self._describe_annotation(anns[i], kind)
                                     for i in np.flatnonzero(flagged)[:NUM_EXAMPLES])
                lines.append(f'  {kind}: {np.count_nonzero(flagged)}, e.g. {examples}')
        warnings.warn('\n'.join(lines), UserWarning)

    def _annotation_arrays(self, anns: List[dict]) -> Tuple[np.ndarray, ...]:
        """(N, 2) image width/height (NaN: unknown image), (N,) known category, (N, 4) xywh,
        (N,) area of the annotations ``anns``."""
        img_wh = np.array([(self.coco.imgs[ann['image_id']]['width'],
                            self.coco.imgs[ann['image_id']]['height'])
                           if ann['image_id'] in self.coco.imgs else (np.nan, np.nan)
                           for ann in anns], dtype=np.float64).reshape(-1, 2)
        known_category = np.array([ann['category_id'] in self.coco.cats for ann in anns],
                                  dtype=bool)
        xywh = np.array([ann['bbox'] for ann in anns], dtype=np.float64).reshape(-1, 4)
        area = np.array([ann.get('area', 1.0) for ann in anns], dtype=np.float64)
        return img_wh, known_category, xywh, area

    def _describe_annotation(self, ann: dict, reason: str) -> str:
        image = self.coco.imgs.get(ann['image_id'])
        where = image['file_name'] if image else f'image_id {ann["image_id"]}'
        detail = (f'category_id {ann["category_id"]}' if reason == 'unknown category_id'
                  else f'area {ann.get("area")}' if reason == 'area <= 0'
                  else f'bbox {ann["bbox"]}')
        return f'{where} annotation {ann["id"]} ({detail})'

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

        Skipped: ``ignore`` annotations, categories outside ``cat_ids`` and the boxes
        ``box_drop_reasons`` gives a reason for (warned about once, at build). Boxes reaching
        beyond the image are clipped to it.

        Returns:
            dict with ``bboxes`` (k, 4) float32 x1y1x2y2, ``labels`` (k,) int64,
            ``bboxes_ignore`` (j, 4) float32 (crowd), ``masks`` (k raw segmentations),
            ``seg_map`` (file name with jpg -> png).
        """
        img_wh, known_category, xywh, area = self._annotation_arrays(ann_info)
        cat_ids = np.array([ann['category_id'] for ann in ann_info], dtype=np.int64)
        ignore = np.array([bool(ann.get('ignore', False)) for ann in ann_info], dtype=bool)
        crowd = np.array([bool(ann.get('iscrowd', False)) for ann in ann_info], dtype=bool)

        known_cat_ids = np.array(self.cat_ids, dtype=np.int64)
        keep = (~ignore & (box_drop_reasons(xywh, area, known_category, img_wh) < 0)
                & np.isin(cat_ids, known_cat_ids))
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        xyxy = np.clip(xyxy, 0, np.tile(img_wh, 2)).astype(np.float32)

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
