"""Open Images detection (``OpenImagesDataset``, V6 CSV files) and the Open Images Challenge 2019
format (``OpenImagesChallengeDataset``), with the OpenImages mAP: group-of boxes, image-level
labels and the class hierarchy.

Boxes are stored relative to the image size, as the files give them: the training pipeline
scales them (``LoadAnnotations(denorm_bbox=True)``) and ``evaluate`` scales the GTs by each
image's original shape, read from ``meta_file`` (``load_from_file=True``) or recorded while the
test pipeline runs.
"""
import copy
import csv
import json
import os.path as osp
import warnings
from collections import OrderedDict, defaultdict
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.utils import print_log

from .builder import DATASETS
from .custom import CustomDataset

# Columns of an Open Images V6 box CSV (after the header line).
_BOX_COLUMNS = ('ImageID', 'Source', 'LabelName', 'Confidence', 'XMin', 'XMax', 'YMin', 'YMax',
                'IsOccluded', 'IsTruncated', 'IsGroupOf', 'IsDepiction', 'IsInside')
_FLAG_KEYS = ('is_occludeds', 'is_truncateds', 'gt_is_group_ofs', 'is_depictions', 'is_insides')


@DATASETS.register_module()
class OpenImagesDataset(CustomDataset):
    """Open Images V6 detection.

    Args:
        ann_file: box CSV (``ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,
            IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside``, one header line), boxes
            relative to the image size, the rows of one image consecutive.
        label_file: class-description CSV (``LabelName,DisplayName`` per line, no header);
            its order gives the labels 0..C-1.
        image_level_ann_file: image-level label CSV (``ImageID,Source,LabelName,Confidence``),
            used by ``evaluate``: detections of classes verified present there are kept.
        get_supercategory: expand GTs and detections to their ancestor classes in ``evaluate``.
        hierarchy_file: the class hierarchy (JSON ``{"LabelName", "Subcategory": [...]}``).
        get_metas: ``evaluate`` scales the GT boxes by the images' original shapes.
        load_from_file: read those shapes from ``meta_file``, else record them while the
            test pipeline runs (single process only).
        meta_file: per image (in dataset order) a dict with ``filename`` and ``ori_shape``
            (pickle or JSON, as ``tools/misc/get_image_metas.py`` writes it).
        filter_labels: ``evaluate`` drops detections of classes (and their ancestors) that are
            neither annotated nor image-level labels of the image.
        load_image_level_labels: read ``image_level_ann_file`` in ``evaluate``.
        file_client_args: mmcv ``FileClient`` arguments for the annotation files.
        kwargs: :class:`CustomDataset` arguments.
    """

    ALLOWED_METRICS = ('mAP',)
    HIERARCHY_SUFFIX = 'json'

    def __init__(self, ann_file: str, label_file: str = '', image_level_ann_file: str = '',
                 get_supercategory: bool = True, hierarchy_file: Optional[str] = None,
                 get_metas: bool = True, load_from_file: bool = True, meta_file: str = '',
                 filter_labels: bool = True, load_image_level_labels: bool = True,
                 file_client_args: Optional[dict] = None, **kwargs) -> None:
        self.file_client_args = dict(backend='disk') if file_client_args is None \
            else dict(file_client_args)
        self.file_client = mmcv.FileClient(**self.file_client_args)
        if not label_file.endswith('csv'):
            raise ValueError(f'label_file must be a .csv class-description file, got '
                             f'{label_file!r}')
        # label names -> labels are needed before the annotations load
        with self._local_path(label_file) as path:
            class_names, self.index_dict = self.get_classes_from_csv(path)
        super().__init__(ann_file=ann_file, **kwargs)
        self.CLASSES = class_names
        self.image_level_ann_file = image_level_ann_file
        self.load_image_level_labels = load_image_level_labels
        if get_supercategory:
            if hierarchy_file is None or not hierarchy_file.endswith(self.HIERARCHY_SUFFIX):
                raise ValueError(f'get_supercategory=True needs a .{self.HIERARCHY_SUFFIX} '
                                 f'hierarchy_file, got {hierarchy_file!r}')
            if self.data_root is not None and not osp.isabs(hierarchy_file):
                hierarchy_file = osp.join(self.data_root, hierarchy_file)
            with self._local_path(hierarchy_file) as path:
                self.class_label_tree = self.get_relation_matrix(path)
        else:  # every class is only itself
            self.class_label_tree = np.eye(len(class_names))
        self.get_supercategory = get_supercategory
        self.get_metas = get_metas
        self.load_from_file = load_from_file
        self.meta_file = meta_file
        if self.data_root is not None and meta_file and not osp.isabs(meta_file):
            self.meta_file = osp.join(self.data_root, meta_file)
        self.filter_labels = filter_labels
        self.load_from_pipeline = not load_from_file
        self.test_img_shapes: Dict[int, Tuple[int, int]] = {}

    @contextmanager
    def _local_path(self, path: str):
        with self.file_client.get_local_path(path) as local_path:
            yield str(local_path)

    # ---- parsing -------------------------------------------------------------------------
    def get_classes_from_csv(self, label_file: str) -> Tuple[List[str], Dict[str, int]]:
        """Class names and ``{LabelName: label}`` from a ``LabelName,DisplayName`` CSV."""
        with open(label_file, newline='') as f:
            rows = [row for row in csv.reader(f) if row]
        return [row[1] for row in rows], {row[0]: i for i, row in enumerate(rows)}

    def load_annotations(self, ann_file: str) -> List[dict]:
        """Images in file order (``img_id``, ``filename`` = ``<img_id>.jpg``, ``ann``)."""
        with self._local_path(ann_file) as path, open(path, newline='') as f:
            rows = [row for row in csv.reader(f) if row][1:]
        boxes = defaultdict(list)
        for row in rows:
            if len(row) < len(_BOX_COLUMNS):
                raise ValueError(f'{ann_file}: a box row needs the {len(_BOX_COLUMNS)} columns '
                                 f'{",".join(_BOX_COLUMNS)}, got {row}')
            if row[2] not in self.index_dict:
                raise ValueError(f'{ann_file}: LabelName {row[2]!r} of image {row[0]} is not in '
                                 f'label_file')
            boxes[row[0]].append(row)
        return [dict(img_id=img_id, filename=f'{img_id}.jpg', ann=self._parse_rows(rows))
                for img_id, rows in boxes.items()]

    def _parse_rows(self, rows: List[List[str]]) -> Dict[str, np.ndarray]:
        table = np.array([row[4:13] for row in rows], dtype=np.float64).reshape(-1, 9)
        flags = table[:, 4:9].astype(np.int64) == 1
        ann = dict(bboxes=table[:, [0, 2, 1, 3]].astype(np.float32),  # XMin, YMin, XMax, YMax
                   labels=np.array([self.index_dict[row[2]] for row in rows], dtype=np.int64),
                   bboxes_ignore=np.zeros((0, 4), np.float32),
                   labels_ignore=np.zeros((0,), np.int64))
        ann.update({key: flags[:, i] for i, key in enumerate(_FLAG_KEYS)})
        return ann

    def get_ann_info(self, idx: int) -> Dict[str, np.ndarray]:
        """A copy of image ``idx``'s annotation: ``bboxes`` (k, 4) relative x1y1x2y2,
        ``labels`` (k,), empty ``bboxes_ignore`` / ``labels_ignore``, and the (k,) bool flags
        ``gt_is_group_ofs``, ``is_occludeds``, ``is_truncateds``, ``is_depictions``,
        ``is_insides``."""
        return copy.deepcopy(self.data_infos[idx]['ann'])

    def get_cat_ids(self, idx: int) -> List[int]:
        return self.data_infos[idx]['ann']['labels'].tolist()

    def get_relation_matrix(self, hierarchy_file: str) -> np.ndarray:
        """(C, C) 0/1 matrix: ``[c, p] = 1`` where ``p`` is ``c`` or one of its ancestors."""
        with open(hierarchy_file) as f:
            hierarchy = json.load(f)
        tree = np.eye(len(self.CLASSES))
        self._mark_ancestors(hierarchy, tree, ancestors=[])
        return tree

    def _mark_ancestors(self, node: dict, tree: np.ndarray, ancestors: List[int]) -> None:
        for child in node.get('Subcategory', []):
            if 'LabelName' not in child:
                continue
            if child['LabelName'] not in self.index_dict:
                raise ValueError(f'hierarchy_file: LabelName {child["LabelName"]!r} is not in '
                                 f'label_file')
            label = self.index_dict[child['LabelName']]
            tree[label, ancestors] = 1
            self._mark_ancestors(child, tree, [label] + ancestors)

    def load_image_label_from_csv(self, image_level_ann_file: str) -> Dict[str, List[dict]]:
        """``{ImageID: [{image_level_label, confidence}, ...]}`` from the image-level CSV."""
        with self._local_path(image_level_ann_file) as path, open(path, newline='') as f:
            rows = [row for row in csv.reader(f) if row][1:]
        items = defaultdict(list)
        for img_id, label_name, confidence in self._image_label_columns(rows):
            if label_name not in self.index_dict:
                raise ValueError(f'{image_level_ann_file}: LabelName {label_name!r} is not in '
                                 f'label_file')
            items[img_id].append(dict(image_level_label=self.index_dict[label_name],
                                      confidence=float(confidence)))
        return items

    @staticmethod
    def _image_label_columns(rows: List[List[str]]):
        return ((row[0], row[2], row[3]) for row in rows)  # ImageID,Source,LabelName,Confidence

    def get_image_level_ann(self, image_level_ann_file: str) -> List[Dict[str, np.ndarray]]:
        """Per image, ``image_level_labels`` (n,) int64 and ``confidences`` (n,) float32."""
        items = self.load_image_label_from_csv(image_level_ann_file)
        annotations = []
        for info in self.data_infos:
            objs = items.get(info['img_id'], [])
            annotations.append(dict(
                image_level_labels=np.array([o['image_level_label'] for o in objs], np.int64),
                confidences=np.array([o['confidence'] for o in objs], np.float32)))
        return annotations

    # ---- image shapes for evaluation -------------------------------------------------------
    def _filter_imgs(self, min_size: int = 32) -> List[int]:
        """All images: the annotations hold no image sizes to filter by."""
        if self.filter_empty_gt:
            warnings.warn(f'{type(self).__name__} does not support filtering empty gt images.')
        return list(range(len(self)))

    def _set_group_flag(self) -> None:
        """One aspect group: the image sizes are unknown until loaded."""
        self.flag = np.zeros(len(self), dtype=np.uint8)

    def prepare_test_img(self, idx: int) -> Optional[Dict]:
        results = super().prepare_test_img(idx)
        if self.get_metas and self.load_from_pipeline:
            metas = results['img_metas']
            meta = (metas[0] if isinstance(metas, list) else metas).data
            self.test_img_shapes[int(idx)] = tuple(meta['ori_shape'][:2])
        return results

    def get_meta_from_file(self, meta_file: str) -> None:
        """Image shapes from ``meta_file`` (its entries in dataset order)."""
        with self._local_path(meta_file) as path:
            metas = mmcv.load(path, file_format='json' if meta_file.endswith('json') else 'pkl')
        if len(metas) != len(self):
            raise ValueError(f'meta_file {meta_file!r} has {len(metas)} entries for {len(self)} '
                             f'images')
        for idx, (meta, info) in enumerate(zip(metas, self.data_infos)):
            if osp.basename(meta['filename']) != osp.basename(info['filename']):
                raise ValueError(f'meta_file {meta_file!r} entry {idx} is {meta["filename"]!r}, '
                                 f'the dataset has {info["filename"]!r} there')
            self.test_img_shapes[idx] = tuple(meta['ori_shape'][:2])

    def denormalize_gt_bboxes(self, annotations: List[Dict]) -> List[Dict]:
        """Scale each image's relative GT boxes by its original (h, w)."""
        missing = [i for i in range(len(annotations)) if i not in self.test_img_shapes]
        if missing:
            raise ValueError(f'{len(missing)} images have no recorded shape (first: index '
                             f'{missing[0]}); give a meta_file (load_from_file=True) or run the '
                             f'test pipeline over every image in this process')
        for idx, ann in enumerate(annotations):
            height, width = self.test_img_shapes[idx]
            ann['bboxes'] = ann['bboxes'] * np.array([width, height, width, height], np.float32)
        return annotations

    # ---- hierarchy -------------------------------------------------------------------------
    def add_supercategory_ann(self, annotations: List[Dict]) -> List[Dict]:
        """Each GT box repeated for its class and every ancestor class."""
        expanded = []
        for ann in annotations:
            gt_index, labels = np.nonzero(self.class_label_tree[ann['labels']])
            expanded.append(dict(bboxes=ann['bboxes'][gt_index].reshape(-1, 4),
                                 labels=labels.astype(np.int64),
                                 bboxes_ignore=ann['bboxes_ignore'],
                                 gt_is_group_ofs=ann['gt_is_group_ofs'][gt_index]))
        return expanded

    def process_results(self, det_results: list, annotations: List[Dict],
                        image_level_annotations: Optional[List[Dict]]) -> list:
        """Per image: a class that is annotated or an image-level label also gets the
        detections of its descendants (``get_supercategory``); the detected classes and their
        ancestors that are neither lose their detections (``filter_labels``)."""
        processed = []
        for i, dets in enumerate(det_results):
            allowed = annotations[i]['labels']
            if image_level_annotations is not None:
                allowed = np.append(allowed, image_level_annotations[i]['image_level_labels'])
            is_allowed = np.zeros(len(dets), bool)
            is_allowed[np.unique(allowed).astype(np.int64)] = True
            detected = np.array([len(d) > 0 for d in dets])
            # [c, p]: detected class c passes its boxes on to p (c's ancestor or itself)
            reach = self.class_label_tree[:len(dets), :len(dets)].astype(bool) & detected[:, None]
            out = list(dets)
            if self.get_supercategory:
                for parent in np.nonzero(is_allowed & reach.any(axis=0))[0]:
                    children = np.nonzero(reach[:, parent])[0]
                    children = children[children != parent]
                    if len(children):
                        out[parent] = np.concatenate([dets[parent]] + [dets[c] for c in children])
            if self.filter_labels:
                for label in np.nonzero(~is_allowed & reach.any(axis=0))[0]:
                    out[label] = np.zeros((0, 5), np.float32)
            processed.append(out)
        return processed

    # ---- evaluation ------------------------------------------------------------------------
    def evaluate(self, results: list, metric: Union[str, List[str]] = 'mAP', logger=None,
                 iou_thr: Union[float, Sequence[float]] = 0.5,
                 ioa_thr: Union[float, Sequence[float], None] = 0.5,
                 scale_ranges: Optional[List[tuple]] = None, denorm_gt_bbox: bool = True,
                 use_group_of: bool = True) -> Dict[str, float]:
        """OpenImages mAP: ``AP50``-style keys (rounded) per (iou_thr, ioa_thr) pair and
        ``mAP`` (their mean).

        Args:
            results: per image, per class (n, 5) arrays in pixels.
            iou_thr, ioa_thr: one threshold or equally long lists of them.
            denorm_gt_bbox: scale the relative GT boxes to pixels by the image shapes.
            use_group_of: group-of GTs count once (:func:`tpfp_openimages`).
        """
        from mmdet_lite.core.evaluation import eval_map
        if not isinstance(metric, str):
            if len(metric) != 1:
                raise ValueError(f'{type(self).__name__} evaluates one metric, got {metric}')
            metric = metric[0]
        if metric not in self.ALLOWED_METRICS:
            raise KeyError(f'metric {metric} is not supported; allowed metrics are mAP')
        iou_thrs = [iou_thr] if isinstance(iou_thr, float) else list(iou_thr)
        ioa_thrs = [ioa_thr] if isinstance(ioa_thr, float) or ioa_thr is None else list(ioa_thr)
        if len(iou_thrs) != len(ioa_thrs):
            raise ValueError(f'iou_thr {iou_thr} and ioa_thr {ioa_thr} differ in length')
        if use_group_of and None in ioa_thrs:
            raise ValueError('ioa_thr must have a value when use_group_of=True')
        annotations = [self.get_ann_info(i) for i in range(len(self))]
        image_level_annotations = self.get_image_level_ann(self.image_level_ann_file) \
            if self.load_image_level_labels else None
        if self.get_metas and self.load_from_file:
            self.get_meta_from_file(self.meta_file)
        if denorm_gt_bbox:
            annotations = self.denormalize_gt_bboxes(annotations)
        self.test_img_shapes = {}  # the next evaluation records or reads them again
        if self.get_supercategory:
            annotations = self.add_supercategory_ann(annotations)
        results = self.process_results(results, annotations, image_level_annotations)
        eval_results = OrderedDict()
        mean_aps = []
        for iou, ioa in zip(iou_thrs, ioa_thrs):
            print_log(f'\n{"-" * 15}iou_thr, ioa_thr: {iou}, {ioa}{"-" * 15}', logger=logger)
            mean_ap, _ = eval_map(results, annotations, scale_ranges=scale_ranges, iou_thr=iou,
                                  ioa_thr=ioa, dataset=self.CLASSES, logger=logger,
                                  use_group_of=use_group_of)
            mean_aps.append(mean_ap)
            eval_results[f'AP{int(iou * 100):02d}'] = round(mean_ap, 3)
        eval_results['mAP'] = sum(mean_aps) / len(mean_aps)
        return eval_results


@DATASETS.register_module()
class OpenImagesChallengeDataset(OpenImagesDataset):
    """Open Images Challenge 2019 detection.

    ``ann_file`` (.txt), per image: its file name, a line (the image size, unused), the box
    count k, then k lines ``label x1 y1 x2 y2 is_group_of`` (labels from 1, boxes relative).
    ``label_file``: ``LabelName,DisplayName,id`` lines (id from 1 gives the label id - 1).
    ``hierarchy_file``: a ``.np`` numpy array (C+1, C+1) whose row/column 0 is the root.
    ``image_level_ann_file``: ``ImageID,LabelName,Confidence`` CSV with a header.
    """

    HIERARCHY_SUFFIX = 'np'

    def __init__(self, ann_file: str, **kwargs) -> None:
        if not ann_file.endswith('txt'):
            raise ValueError(f'{type(self).__name__} reads a .txt ann_file, got {ann_file!r}')
        super().__init__(ann_file=ann_file, **kwargs)

    def get_classes_from_csv(self, label_file: str) -> Tuple[List[str], Dict[str, int]]:
        with open(label_file, newline='') as f:
            rows = [row for row in csv.reader(f) if row]
        ids = np.array([int(row[2]) for row in rows], dtype=np.int64)
        names = [rows[i][1] for i in np.argsort(ids, kind='stable')]
        return names, {row[0]: int(row[2]) - 1 for row in rows}

    def load_annotations(self, ann_file: str) -> List[dict]:
        with self._local_path(ann_file) as path, open(path) as f:
            lines = [line.strip() for line in f]
        infos, i = [], 0
        while i < len(lines) and lines[i]:
            filename, num_boxes = lines[i], int(lines[i + 2])
            table = np.array([line.split() for line in lines[i + 3:i + 3 + num_boxes]],
                             dtype=np.float64).reshape(-1, 6)
            ann = dict(bboxes=table[:, 1:5].astype(np.float32),
                       labels=table[:, 0].astype(np.int64) - 1,
                       bboxes_ignore=np.zeros((0, 4), np.float32),
                       labels_ignore=np.zeros((0,), np.int64),
                       gt_is_group_ofs=table[:, 5].astype(np.int64) == 1)
            img_id = osp.splitext(osp.basename(filename))[0]
            infos.append(dict(img_id=img_id, filename=filename, ann=ann))
            i += 3 + num_boxes
        return infos

    def get_relation_matrix(self, hierarchy_file: str) -> np.ndarray:
        return np.load(hierarchy_file, allow_pickle=True)[1:, 1:]

    @staticmethod
    def _image_label_columns(rows: List[List[str]]):
        return ((row[0], row[1], row[2]) for row in rows)  # ImageID,LabelName,Confidence
