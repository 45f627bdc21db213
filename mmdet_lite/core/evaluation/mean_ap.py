"""VOC-style mean average precision (``eval_map``), as ``CustomDataset.evaluate`` uses it.

Boxes are x1y1x2y2 with areas ``(x2 - x1) * (y2 - y1)``, or ``(x2 - x1 + 1) * (y2 - y1 + 1)`` with
``use_legacy_coordinate`` (MMDetection 1.x).
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.utils import print_log

from .bbox_overlaps import bbox_overlaps, box_areas
from .class_names import get_classes

AreaRange = Tuple[Optional[float], Optional[float]]


def average_precision(recalls: np.ndarray, precisions: np.ndarray,
                      mode: str = 'area') -> Union[float, np.ndarray]:
    """AP from a precision/recall curve.

    Args:
        recalls, precisions: (S, D) or (D,) curves over D detections (S scale ranges).
        mode: ``'area'`` (area under the monotone precision envelope) or ``'11points'``
            (VOC07: mean of the best precision at recall >= 0, 0.1, ..., 1).

    Returns:
        (S,) APs, or a float for 1-d input.
    """
    squeeze = recalls.ndim == 1
    recalls, precisions = np.atleast_2d(recalls), np.atleast_2d(precisions)
    if recalls.shape != precisions.shape:
        raise ValueError(f'recalls {recalls.shape} and precisions {precisions.shape} differ')
    num_scales = recalls.shape[0]
    if mode == 'area':
        zeros = np.zeros((num_scales, 1), dtype=recalls.dtype)
        mrec = np.hstack([zeros, recalls, np.ones((num_scales, 1), dtype=recalls.dtype)])
        mpre = np.hstack([zeros, precisions, zeros])
        mpre = np.maximum.accumulate(mpre[:, ::-1], axis=1)[:, ::-1]
        ap = ((mrec[:, 1:] - mrec[:, :-1]) * mpre[:, 1:]).sum(axis=1)
    elif mode == '11points':
        thrs = np.arange(0, 1.1, 0.1)
        reached = recalls[:, None, :] >= thrs[None, :, None]  # (S, 11, D)
        best = np.where(reached, precisions[:, None, :], 0).max(axis=2, initial=0)
        ap = best.sum(axis=1) / 11
    else:
        raise ValueError(f'Unrecognized mode {mode!r}, only "area" and "11points" are supported')
    return float(ap[0]) if squeeze else ap


# datasets whose default tp/fp function (2.28's tpfp_imagenet) is not implemented
_UNSUPPORTED_DATASETS = ('det', 'vid')
# datasets evaluated with :func:`tpfp_openimages` by default
_OPENIMAGES_DATASETS = ('oid_challenge', 'oid_v6')


def tpfp_default(det_bboxes: np.ndarray, gt_bboxes: np.ndarray,
                 gt_bboxes_ignore: Optional[np.ndarray] = None, iou_thr: float = 0.5,
                 area_ranges: Optional[List[AreaRange]] = None, use_legacy_coordinate: bool = False,
                 **kwargs) -> Tuple[np.ndarray, np.ndarray]:
    """True/false positives of one image and class.

    Each detection, in descending score order, matches the GT of highest IoU; it is a TP if
    that IoU >= ``iou_thr`` and the GT was not matched before, a FP otherwise. Detections
    matched to an ignored GT (or a GT outside the area range) count as neither. Unmatched
    detections outside an area range count as neither.

    Args:
        det_bboxes: (D, 5) x1y1x2y2 + score.
        gt_bboxes: (G, 4).
        gt_bboxes_ignore: (J, 4).
        area_ranges: S (min_area, max_area) ranges, default one unbounded range.
        use_legacy_coordinate: areas and IoUs with ``w = x2 - x1 + 1`` (MMDetection 1.x).
        kwargs: ignored; 2.28's ``eval_map`` hands its OpenImages options to every ``tpfp_fn``.

    Returns:
        tp, fp: (S, D) float32 0/1 arrays, in the input order of ``det_bboxes``.
    """
    extra_length = 1. if use_legacy_coordinate else 0.
    gt_bboxes_ignore = np.zeros((0, 4), np.float32) if gt_bboxes_ignore is None \
        else gt_bboxes_ignore
    gt_ignore = np.concatenate([np.zeros(len(gt_bboxes), bool), np.ones(len(gt_bboxes_ignore),
                                                                          bool)])
    all_gts = np.vstack([gt_bboxes.reshape(-1, 4), gt_bboxes_ignore.reshape(-1, 4)])
    area_ranges = area_ranges or [(None, None)]
    num_dets = det_bboxes.shape[0]
    tp = np.zeros((len(area_ranges), num_dets), dtype=np.float32)
    fp = np.zeros((len(area_ranges), num_dets), dtype=np.float32)
    det_areas = box_areas(det_bboxes, extra_length)
    if len(all_gts) == 0:
        for k, (min_area, max_area) in enumerate(area_ranges):
            fp[k] = 1 if min_area is None else (det_areas >= min_area) & (det_areas < max_area)
        return tp, fp
    ious = bbox_overlaps(det_bboxes[:, :4], all_gts, use_legacy_coordinate=use_legacy_coordinate)
    ious_max, ious_argmax = ious.max(axis=1), ious.argmax(axis=1)
    order = np.argsort(-det_bboxes[:, -1], kind='stable')
    matched = ious_max >= iou_thr
    for k, (min_area, max_area) in enumerate(area_ranges):
        if min_area is None:
            gt_out = np.zeros(len(all_gts), bool)
            det_in_range = np.ones(num_dets, bool)
        else:
            gt_areas = box_areas(all_gts, extra_length)
            gt_out = (gt_areas < min_area) | (gt_areas >= max_area)
            det_in_range = (det_areas >= min_area) & (det_areas < max_area)
        counted = matched & ~(gt_ignore | gt_out)[ious_argmax]
        counted_in_order = order[counted[order]]
        # The first (highest-scoring) detection on each GT is the TP; later ones are FPs.
        _, first = np.unique(ious_argmax[counted_in_order], return_index=True)
        tp[k, counted_in_order[first]] = 1
        fp[k, counted] = 1 - tp[k, counted]
        fp[k, ~matched & det_in_range] = 1
    return tp, fp


def tpfp_openimages(det_bboxes: np.ndarray, gt_bboxes: np.ndarray,
                    gt_bboxes_ignore: Optional[np.ndarray] = None, iou_thr: float = 0.5,
                    area_ranges: Optional[List[AreaRange]] = None,
                    use_legacy_coordinate: bool = False,
                    gt_bboxes_group_of: Optional[np.ndarray] = None, use_group_of: bool = True,
                    ioa_thr: Optional[float] = 0.5,
                    **kwargs) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True/false positives of one image and class under the OpenImages rules.

    Two stages (as in MMDetection 2.28): detections are first matched to the non-group-of GTs
    by :func:`tpfp_default`. The detections that are not TPs there and overlap a group-of GT by
    IoA (intersection over the detection's area) >= ``ioa_thr`` are then taken out; each
    group-of GT instead contributes one entry: a TP scored by the best of its detections, or,
    with none, a FP of score 0. A group-of box thus counts once however many objects it holds.

    Args:
        det_bboxes: (D, 5) x1y1x2y2 + score.
        gt_bboxes: (G, 4).
        gt_bboxes_ignore: (J, 4), never group-of.
        area_ranges: S (min_area, max_area) ranges; with group-of GTs only the unbounded one.
        gt_bboxes_group_of: (G,) bool, which GTs are group-of boxes.
        use_group_of: apply the second stage (needs ``gt_bboxes_group_of`` and ``ioa_thr``).
        ioa_thr: IoA a detection needs to fall in a group-of GT.
        kwargs: ignored, as for :func:`tpfp_default`.

    Returns:
        tp, fp: (S, D') float32 0/1 arrays and the (D', 5) detections they score, D' = D less
        the detections taken by group-of GTs plus one per group-of GT.
    """
    gt_bboxes = gt_bboxes.reshape(-1, 4)
    if not use_group_of or gt_bboxes_group_of is None:
        return (*tpfp_default(det_bboxes, gt_bboxes, gt_bboxes_ignore, iou_thr, area_ranges,
                              use_legacy_coordinate), det_bboxes)
    group_of = np.asarray(gt_bboxes_group_of, dtype=bool).reshape(-1)
    if len(group_of) != len(gt_bboxes):
        raise ValueError(f'gt_bboxes_group_of has {len(group_of)} flags for {len(gt_bboxes)} '
                         f'gt_bboxes')
    if ioa_thr is None:
        raise ValueError('ioa_thr must have a value when use_group_of=True')
    if not group_of.any():
        return (*tpfp_default(det_bboxes, gt_bboxes, gt_bboxes_ignore, iou_thr, area_ranges,
                              use_legacy_coordinate), det_bboxes)
    if area_ranges is not None and list(area_ranges) != [(None, None)]:
        raise ValueError(f'group-of evaluation supports no area ranges, got {area_ranges}')
    tp, fp = tpfp_default(det_bboxes, gt_bboxes[~group_of], gt_bboxes_ignore, iou_thr, None,
                          use_legacy_coordinate)
    group_gts = gt_bboxes[group_of]
    ioas = bbox_overlaps(det_bboxes[:, :4], group_gts, mode='iof',
                         use_legacy_coordinate=use_legacy_coordinate)
    in_group = (tp[0] == 0) & (ioas.max(axis=1) >= ioa_thr)  # (D,)
    group_index = ioas.argmax(axis=1)
    order = np.argsort(-det_bboxes[:, -1], kind='stable')
    in_group_in_order = order[in_group[order]]
    # The highest-scoring detection in each group-of GT stands for all of them.
    matched_groups, first = np.unique(group_index[in_group_in_order], return_index=True)
    group_dets = np.zeros((len(group_gts), det_bboxes.shape[1]), dtype=np.float64)
    group_dets[matched_groups] = det_bboxes[in_group_in_order[first]]
    group_tp = np.zeros((1, len(group_gts)), dtype=np.float32)
    group_tp[0, matched_groups] = 1
    tp = np.hstack([tp[:, ~in_group], group_tp])
    fp = np.hstack([fp[:, ~in_group], 1 - group_tp])
    return tp, fp, np.vstack([det_bboxes[~in_group], group_dets])


def get_cls_results(det_results: Sequence[Sequence[np.ndarray]], annotations: Sequence[Dict],
                    class_id: int) -> Tuple[list, list, list]:
    """Per image: detections, GT boxes and ignored GT boxes of class ``class_id``."""
    cls_dets = [img_res[class_id] for img_res in det_results]
    cls_gts = [ann['bboxes'][ann['labels'] == class_id] for ann in annotations]
    cls_gts_ignore = [
        ann['bboxes_ignore'][ann['labels_ignore'] == class_id]
        if 'bboxes_ignore' in ann and 'labels_ignore' in ann else np.zeros((0, 4), np.float32)
        for ann in annotations
    ]
    return cls_dets, cls_gts, cls_gts_ignore


def eval_map(det_results: Sequence[Sequence[np.ndarray]], annotations: Sequence[Dict],
             scale_ranges: Optional[List[Tuple[float, float]]] = None, iou_thr: float = 0.5,
             ioa_thr: Optional[float] = None, dataset: Optional[Union[str, Sequence[str]]] = None,
             logger=None, tpfp_fn: Optional[Callable] = None, nproc: int = 4,
             use_legacy_coordinate: bool = False,
             use_group_of: bool = False,
             eval_mode: Optional[str] = None) -> Tuple[Union[float, List[float]], List[Dict]]:
    """Mean AP over classes at one IoU threshold.

    Args:
        det_results: per image, per class (n, 5) arrays.
        annotations: per image, ``bboxes`` (k, 4), ``labels`` (k,), optional
            ``bboxes_ignore`` / ``labels_ignore``.
        scale_ranges: (min_side, max_side) ranges; areas are their squares.
        iou_thr: IoU a detection needs to match a GT.
        ioa_thr: OpenImages' IoA threshold; given to ``tpfp_fn`` as ``ioa_thr=`` when not None.
        dataset: class names, or ``'voc07'`` for the 11-point AP.
        logger: where the summary table goes (``'silent'``: nowhere).
        tpfp_fn: ``fn(dets, gts, gts_ignore, iou_thr, area_ranges, use_legacy_coordinate)`` ->
            (tp, fp), or (tp, fp, dets) with ``use_group_of``; default :func:`tpfp_openimages`
            for ``use_group_of`` or ``dataset`` ``'oid_v6'`` / ``'oid_challenge'``, else
            :func:`tpfp_default`.
        nproc: must be positive, as in MMDetection; evaluation runs in this process.
        use_legacy_coordinate: areas and IoUs with ``w = x2 - x1 + 1`` (MMDetection 1.x).
        use_group_of: OpenImages group-of matching (:func:`tpfp_openimages`, the default
            ``tpfp_fn`` then); each annotation needs ``gt_is_group_ofs`` (k,) bool.
        eval_mode: ``'area'`` or ``'11points'`` (see :func:`average_precision`); default
            ``'11points'`` for ``dataset='voc07'`` (as in 2.28), else ``'area'``.

    Returns:
        mean AP (a list per scale range when ``scale_ranges``), and per class a dict with
        ``num_gts``, ``num_dets``, ``recall``, ``precision``, ``ap``.
    """
    if len(det_results) != len(annotations):
        raise ValueError(f'{len(det_results)} detection results for {len(annotations)} '
                         f'annotations')
    if tpfp_fn is None and isinstance(dataset, str) and dataset in _UNSUPPORTED_DATASETS:
        raise ValueError(f'the ImageNet tp-fp rules (dataset={dataset!r}) are not implemented in '
                         f'mmdet_lite; pass tpfp_fn')
    if tpfp_fn is None:
        openimages = use_group_of or (isinstance(dataset, str) and dataset in _OPENIMAGES_DATASETS)
        tpfp_fn = tpfp_openimages if openimages else tpfp_default
    if not callable(tpfp_fn):
        raise ValueError(f'tpfp_fn has to be a function or None, but got {tpfp_fn}')
    if nproc <= 0:
        raise ValueError(f'nproc must be at least one, got {nproc}')
    if eval_mode is None:
        eval_mode = '11points' if dataset == 'voc07' else 'area'
    if eval_mode not in ('area', '11points'):
        raise ValueError(f"eval_mode must be 'area' or '11points', got {eval_mode!r}")
    extra_length = 1. if use_legacy_coordinate else 0.
    tpfp_kwargs = {} if ioa_thr is None else dict(ioa_thr=ioa_thr)
    num_classes = len(det_results[0])
    area_ranges = [(lo**2, hi**2) for lo, hi in scale_ranges] if scale_ranges else None
    num_scales = len(scale_ranges) if scale_ranges else 1
    eps = np.finfo(np.float32).eps
    eval_results = []
    for class_id in range(num_classes):
        cls_dets, cls_gts, cls_gts_ignore = get_cls_results(det_results, annotations, class_id)
        group_ofs = [dict(gt_bboxes_group_of=ann['gt_is_group_ofs'][ann['labels'] == class_id],
                          use_group_of=True) if use_group_of else {} for ann in annotations]
        tpfp = [tpfp_fn(d, g, i, iou_thr, area_ranges, use_legacy_coordinate, **tpfp_kwargs,
                        **group_of) for d, g, i, group_of in zip(cls_dets, cls_gts, cls_gts_ignore,
                                                                 group_ofs)]
        if tpfp and len(tpfp[0]) == 3:  # tpfp_openimages: the detections it scored
            cls_dets = [dets for _, _, dets in tpfp]
        num_gts = np.zeros(num_scales, dtype=int)
        for gts in cls_gts:
            if area_ranges is None:
                num_gts[0] += len(gts)
            else:
                gt_areas = box_areas(gts, extra_length)
                num_gts += np.array([((gt_areas >= lo) & (gt_areas < hi)).sum()
                                     for lo, hi in area_ranges])
        dets = np.vstack(cls_dets) if cls_dets else np.zeros((0, 5), np.float32)
        order = np.argsort(-dets[:, -1], kind='stable')
        tp = np.cumsum(np.hstack([t for t, *_ in tpfp])[:, order], axis=1)
        fp = np.cumsum(np.hstack([f for _, f, *_ in tpfp])[:, order], axis=1)
        recalls = tp / np.maximum(num_gts[:, None], eps)
        precisions = tp / np.maximum(tp + fp, eps)
        if scale_ranges is None:
            recalls, precisions, num_gts = recalls[0], precisions[0], int(num_gts[0])
        eval_results.append(dict(num_gts=num_gts, num_dets=len(dets), recall=recalls,
                                 precision=precisions,
                                 ap=average_precision(recalls, precisions, eval_mode)))
    if scale_ranges is not None:
        all_ap = np.vstack([res['ap'] for res in eval_results])
        all_num_gts = np.vstack([res['num_gts'] for res in eval_results])
        mean_ap = [float(all_ap[all_num_gts[:, s] > 0, s].mean())
                   if (all_num_gts[:, s] > 0).any() else 0.0 for s in range(num_scales)]
    else:
        aps = [res['ap'] for res in eval_results if res['num_gts'] > 0]
        mean_ap = float(np.mean(aps)) if aps else 0.0
    print_map_summary(mean_ap, eval_results, dataset, area_ranges, logger=logger)
    return mean_ap, eval_results


def print_map_summary(mean_ap, results: List[Dict], dataset=None, scale_ranges=None,
                      logger=None) -> None:
    """Log a per-class table (gts, dets, recall, ap) and the mAP, once per scale range.

    Classes are named by ``dataset`` (names, or a dataset name); the Open Images names
    (``'oid_v6'``, ``'oid_challenge'``) are not bundled, their classes show as indices
    (``OpenImagesDataset.evaluate`` passes its class names instead)."""
    if logger == 'silent':
        return
    if isinstance(dataset, str) and dataset not in _OPENIMAGES_DATASETS:
        names = get_classes(dataset)
    elif isinstance(dataset, (list, tuple)):
        names = list(dataset)
    else:
        names = [str(i) for i in range(len(results))]
    mean_aps = mean_ap if isinstance(mean_ap, list) else [mean_ap]
    width = max([5] + [len(n) for n in names])
    lines = []
    for s, scale_map in enumerate(mean_aps):
        if scale_ranges is not None:
            lines.append(f'Scale range {scale_ranges[s]}')
        lines.append(f'{"class":<{width}} | {"gts":>5} | {"dets":>5} | recall | ap')
        for name, res in zip(names, results):
            num_gts = res['num_gts'] if scale_ranges is None else res['num_gts'][s]
            recall = np.atleast_2d(res['recall'])[s if scale_ranges is not None else 0]
            ap = res['ap'] if scale_ranges is None else res['ap'][s]
            lines.append(f'{name:<{width}} | {num_gts:>5} | {res["num_dets"]:>5} | '
                         f'{(recall[-1] if recall.size else 0.0):.3f}  | {ap:.3f}')
        lines.append(f'{"mAP":<{width}} | {"":>5} | {"":>5} |        | {scale_map:.3f}')
    print_log('\n' + '\n'.join(lines), logger=logger)
