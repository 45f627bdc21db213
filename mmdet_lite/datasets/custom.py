"""``CustomDataset``: the MMDetection 2.x middle-format detection dataset.

Annotation middle format (one dict per image)::

    {'filename': 'a.jpg', 'width': 1280, 'height': 720,
     'ann': {'bboxes': (k, 4) float32 x1y1x2y2, 'labels': (k,) int64,
             'bboxes_ignore': (j, 4) float32 (optional), 'labels_ignore': (j,) (optional)}}
"""
import multiprocessing
import os
import os.path as osp
import warnings
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import mmcv
import numpy as np
from mmcv.utils import print_log
from torch.utils.data import Dataset

from .api_wrappers import load_json
from .builder import DATASETS
from mmdet_lite.utils import get_root_logger

from .pipelines import Compose, CorruptImageError, LoadImageFromFile
from .samplers import sample_rng


@DATASETS.register_module()
class CustomDataset(Dataset):
    """Detection dataset over the middle format above.

    Args:
        ann_file: annotation file path (joined to ``data_root`` when relative).
        pipeline: pipeline transform configs.
        classes: class names overriding ``CLASSES`` (tuple/list, or a text file, one per line).
        data_root: root joined to a relative ``ann_file``, ``img_prefix``, ``seg_prefix``
            and ``proposal_file``.
        img_prefix: image directory.
        test_mode: no filtering, no annotations given to the pipeline.
        filter_empty_gt: drop images without annotations when not in test mode.
        skip_corrupt_images: in training, a corrupt (undecodable, truncated) image is replaced
            by another of its aspect group, with a warning in the log that counts the skips,
            instead of stopping the run with an error naming the file. The replacement is drawn
            from the sample's seeded random stream, so it is the same with any number of loader
            workers and on resume.

    Raises:
        FileNotFoundError: ``ann_file`` or the ``img_prefix`` directory does not exist, or
            image files the pipeline reads are missing or empty (all listed at once).
        ValueError: ``ann_file`` is not valid JSON.

    Warns:
        UserWarning: no image is left after filtering; the dataset is built empty, as in 2.x.
    """

    CLASSES = None
    # Class colours for drawing (RGB tuples indexed by label); None: seeded random colours.
    PALETTE = None
    # Image files a missing-or-empty error lists by name.
    NUM_LISTED_FILES = 5
    # Metrics ``evaluate`` accepts (mmdet_lite addition: lets tools/test.py check --eval early).
    ALLOWED_METRICS = ('mAP', 'recall')

    def __init__(self, ann_file: str, pipeline: Sequence[dict],
                 classes: Optional[Union[str, Sequence[str]]] = None,
                 data_root: Optional[str] = None, img_prefix: str = '',
                 seg_prefix: Optional[str] = None, proposal_file: Optional[str] = None,
                 test_mode: bool = False, filter_empty_gt: bool = True,
                 skip_corrupt_images: bool = False) -> None:
        self.ann_file = ann_file
        self.data_root = data_root
        self.img_prefix = img_prefix
        self.seg_prefix = seg_prefix
        self.proposal_file = proposal_file
        self.test_mode = test_mode
        self.filter_empty_gt = filter_empty_gt
        self.skip_corrupt_images = skip_corrupt_images
        # Skips of all loader workers: a worker gets it when it starts (forked or spawned).
        self._num_skipped = multiprocessing.Value('i', 0) if skip_corrupt_images else None
        self.CLASSES = self.get_classes(classes)

        if self.data_root is not None:
            if not osp.isabs(self.ann_file):
                self.ann_file = osp.join(self.data_root, self.ann_file)
            if not (self.img_prefix is None or osp.isabs(self.img_prefix)):
                self.img_prefix = osp.join(self.data_root, self.img_prefix)
            if not (self.seg_prefix is None or osp.isabs(self.seg_prefix)):
                self.seg_prefix = osp.join(self.data_root, self.seg_prefix)
            if not (self.proposal_file is None or osp.isabs(self.proposal_file)):
                self.proposal_file = osp.join(self.data_root, self.proposal_file)
        self._check_paths()

        self.data_infos = self.load_annotations(self.ann_file)
        self.proposals = (self.load_proposals(self.proposal_file)
                          if self.proposal_file is not None else None)
        if not test_mode:
            valid_inds = self._filter_imgs()
            self.data_infos = [self.data_infos[i] for i in valid_inds]
            if self.proposals is not None:
                self.proposals = [self.proposals[i] for i in valid_inds]
        if len(self.data_infos) == 0:
            # MMDetection 2.x builds an empty dataset; build_dataloader refuses to load from it
            warnings.warn(
                f'{self.__class__.__name__} built from ann_file {self.ann_file!r} holds no image'
                + ('' if test_mode else
                   f' after filtering (filter_empty_gt={filter_empty_gt}, min_size=32, '
                   f'classes={self.CLASSES})'))
        if not test_mode:
            self._set_group_flag()
        self.pipeline = Compose(pipeline)
        self._check_image_files()

    def _check_paths(self) -> None:
        # no class-name prefix: mmcv's build_from_cfg puts one in front of the message
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'ann_file {self.ann_file!r} does not exist'
                + (f" (data_root={self.data_root!r})" if self.data_root else ''))
        if self.img_prefix and not osp.isdir(self.img_prefix):
            raise FileNotFoundError(
                f'image directory img_prefix={self.img_prefix!r} '
                f'does not exist')
        if self.proposal_file is not None and not osp.isfile(self.proposal_file):
            raise FileNotFoundError(
                f'proposal_file {self.proposal_file!r} does not exist')

    def _check_image_files(self) -> None:
        """Every image the pipeline will read from disk exists and is not empty: ``os.stat``
        only, no decoding, so that a bad file stops the run now, not when first reached (also
        in test mode: a missing val image would fail the first evaluation).

        Raises:
            FileNotFoundError: names how many files are missing or empty, the first ones and
                ``img_prefix``.
        """
        if not any(isinstance(transform, LoadImageFromFile)
                   and transform.file_client_args.get('backend') == 'disk'
                   for transform in self.pipeline.transforms):
            return
        bad = []
        for info in self.data_infos:
            path = (osp.join(self.img_prefix, info['filename']) if self.img_prefix is not None
                    else info['filename'])
            try:
                if os.stat(path).st_size == 0:
                    bad.append(f"{info['filename']} (0 bytes)")
            except OSError:
                bad.append(f"{info['filename']} (missing)")
        if bad:
            more = len(bad) - self.NUM_LISTED_FILES
            raise FileNotFoundError(  # build_dataset adds the class name
                f'{self.ann_file}: {len(bad)} of {len(self)} image files are missing or empty '
                f'under img_prefix={self.img_prefix!r}: '
                + ', '.join(bad[:self.NUM_LISTED_FILES])
                + (f' and {more} more' if more > 0 else ''))

    def __len__(self) -> int:
        return len(self.data_infos)

    def load_annotations(self, ann_file: str) -> List[dict]:
        """Load the middle-format list of image dicts from ``ann_file`` (json, pickle or yaml)."""
        if ann_file.endswith('.json'):
            return load_json(ann_file)  # a syntax error is named with its line and column
        return mmcv.load(ann_file)

    def load_proposals(self, proposal_file: str) -> list:
        """Load per-image proposal arrays (n, 4 or 5) from ``proposal_file``."""
        return mmcv.load(proposal_file)

    def get_ann_info(self, idx: int) -> Dict:
        """Annotation dict of image ``idx`` (``bboxes``, ``labels``, ...)."""
        return self.data_infos[idx]['ann']

    def get_cat_ids(self, idx: int) -> List[int]:
        """Category ids (labels) of the objects in image ``idx``."""
        return self.data_infos[idx]['ann']['labels'].astype(np.int64).tolist()

    def get_cat2imgs(self) -> Dict[int, List[int]]:
        """Per label 0..C-1, the indices of the images holding an object of it (for
        ``ClassAwareSampler``)."""
        if self.CLASSES is None:
            raise ValueError(f'{type(self).__name__}.CLASSES is None: no labels to index')
        cat2imgs = {label: [] for label in range(len(self.CLASSES))}
        for idx in range(len(self)):
            for label in sorted(set(self.get_cat_ids(idx))):
                cat2imgs[label].append(idx)
        return cat2imgs

    def pre_pipeline(self, results: Dict) -> None:
        """Add prefixes and empty field lists expected by the pipeline."""
        results['img_prefix'] = self.img_prefix
        results['seg_prefix'] = self.seg_prefix
        results['proposal_file'] = self.proposal_file
        results['bbox_fields'] = []
        results['mask_fields'] = []
        results['seg_fields'] = []

    def _filter_imgs(self, min_size: int = 32) -> List[int]:
        """Indices of images whose shorter side is at least ``min_size``."""
        if self.filter_empty_gt:
            warnings.warn('CustomDataset does not support filtering empty gt images.')
        return [i for i, info in enumerate(self.data_infos)
                if min(info['width'], info['height']) >= min_size]

    def _set_group_flag(self) -> None:
        """``self.flag`` (N,) uint8: 1 where width / height > 1, else 0 (aspect groups)."""
        widths = np.array([info['width'] for info in self.data_infos], dtype=np.float64)
        heights = np.array([info['height'] for info in self.data_infos], dtype=np.float64)
        self.flag = (widths / heights > 1).astype(np.uint8)

    def _rand_another(self, idx: int, exclude: Sequence[int] = ()) -> int:
        """A random index from the aspect group of ``idx`` but not in ``exclude`` (numpy's
        global RNG, which ``sample_rng`` seeds per sample)."""
        pool = np.setdiff1d(np.where(self.flag == self.flag[idx])[0], exclude)
        return int(np.random.choice(pool))

    def __getitem__(self, idx: int) -> Dict:
        if self.test_mode:
            return self.prepare_test_img(idx)
        with sample_rng(idx):  # a SeededIndex from a training sampler fixes this sample's augmentations
            corrupt = set()
            while True:
                try:
                    data = self.prepare_train_img(idx)
                except CorruptImageError as error:
                    if not self.skip_corrupt_images:
                        raise
                    corrupt.add(int(idx))
                    self._log_skipped(error, len(corrupt), idx)
                    data = None
                if data is None:
                    idx = self._rand_another(idx, exclude=sorted(corrupt))
                    continue
                return data

    def _log_skipped(self, error: CorruptImageError, num_corrupt: int, idx: int) -> None:
        """Count a skipped corrupt image and log it; refuse when its whole aspect group is."""
        group_size = np.count_nonzero(self.flag == self.flag[idx])
        if num_corrupt == group_size:
            raise CorruptImageError(f'{error}; all {group_size} images of its aspect group are '
                                    f'corrupt, none left to train on instead') from None
        with self._num_skipped.get_lock():
            self._num_skipped.value += 1
            num_skipped = self._num_skipped.value
        get_root_logger().warning(
            f'{self.__class__.__name__}: skipped a corrupt image (skip_corrupt_images=True): '
            f'{error}; {num_skipped} skipped in this run so far')

    def prepare_train_img(self, idx: int) -> Optional[Dict]:
        """Run the pipeline on image ``idx`` with its annotations."""
        results = dict(img_info=self.data_infos[idx], ann_info=self.get_ann_info(idx))
        if self.proposals is not None:
            results['proposals'] = self.proposals[idx]
        self.pre_pipeline(results)
        return self.pipeline(results)

    def prepare_test_img(self, idx: int) -> Optional[Dict]:
        """Run the pipeline on image ``idx`` without annotations."""
        results = dict(img_info=self.data_infos[idx])
        if self.proposals is not None:
            results['proposals'] = self.proposals[idx]
        self.pre_pipeline(results)
        return self.pipeline(results)

    @classmethod
    def get_classes(cls, classes: Optional[Union[str, Sequence[str]]] = None
                    ) -> Optional[Sequence[str]]:
        """``CLASSES`` unless overridden by a tuple/list of names or a file of names."""
        if classes is None:
            return cls.CLASSES
        if isinstance(classes, str):
            return mmcv.list_from_file(classes)
        if isinstance(classes, (tuple, list)):
            return classes
        raise ValueError(f'Unsupported type {type(classes)} of classes.')

    def format_results(self, results: list, **kwargs):
        """Place holder to format results to the dataset's own format."""

    def map_eval_options(self) -> Dict:
        """How ``evaluate`` runs ``eval_map`` / ``eval_recalls`` for this dataset: the class
        names, the AP mode and the box convention (VOC overrides them)."""
        return dict(dataset=self.CLASSES, eval_mode='area', use_legacy_coordinate=False)

    def evaluate(self, results: list, metric: Union[str, List[str]] = 'mAP', logger=None,
                 proposal_nums: Sequence[int] = (100, 300, 1000),
                 iou_thr: Union[float, List[float]] = 0.5,
                 scale_ranges: Optional[List[tuple]] = None) -> Dict:
        """VOC-style evaluation.

        Args:
            results: ``mAP``: per image, per-class (n, 5) arrays; ``recall``: per image an
                (n, 4 or 5) proposal array.
            metric: ``'mAP'`` or ``'recall'``.
            iou_thr: one or several IoU thresholds.
            scale_ranges: S (min_side, max_side) ranges for ``mAP``; then every AP value is a
                list of S values, one per range.

        Returns:
            ``AP50``-style keys per threshold and ``mAP`` (their mean), or
            ``recall@<num>@<iou>`` (and ``AR@<num>`` for several thresholds).
        """
        from mmdet_lite.core.evaluation import eval_map, eval_recalls
        if not isinstance(metric, str):
            if len(metric) != 1:
                raise ValueError(f'{type(self).__name__} evaluates one metric at a time, got '
                                 f'{metric}')
            metric = metric[0]
        if metric not in self.ALLOWED_METRICS:
            raise KeyError(f'metric {metric} is not supported; allowed metrics are '
                           f'{", ".join(self.ALLOWED_METRICS)}')
        annotations = [self.get_ann_info(i) for i in range(len(self))]
        iou_thrs = [iou_thr] if isinstance(iou_thr, float) else list(iou_thr)
        options = self.map_eval_options()
        eval_results = OrderedDict()
        if metric == 'mAP':
            mean_aps = []
            for thr in iou_thrs:
                print_log(f'\n{"-" * 15}iou_thr: {thr}{"-" * 15}', logger=logger)
                mean_ap, _ = eval_map(results, annotations, scale_ranges=scale_ranges,
                                      iou_thr=thr, logger=logger, **options)
                mean_aps.append(np.atleast_1d(mean_ap))
                eval_results[f'AP{int(thr * 100):02d}'] = _per_range(np.round(mean_aps[-1], 3),
                                                                     scale_ranges)
            eval_results['mAP'] = _per_range(np.mean(mean_aps, axis=0), scale_ranges)
        else:
            gt_bboxes = [ann['bboxes'] for ann in annotations]
            recalls = eval_recalls(gt_bboxes, results, proposal_nums, iou_thrs, logger=logger,
                                   use_legacy_coordinate=options['use_legacy_coordinate'])
            for i, num in enumerate(proposal_nums):
                for j, thr in enumerate(iou_thrs):
                    eval_results[f'recall@{num}@{thr}'] = float(recalls[i, j])
            if recalls.shape[1] > 1:
                for i, num in enumerate(proposal_nums):
                    eval_results[f'AR@{num}'] = float(recalls[i].mean())
        return eval_results

    def __repr__(self) -> str:
        mode = 'Test' if self.test_mode else 'Train'
        return (f'\n{self.__class__.__name__} {mode} dataset with number of images '
                f'{len(self)}, and {0 if self.CLASSES is None else len(self.CLASSES)} classes')


def _per_range(values: np.ndarray, scale_ranges: Optional[List[tuple]]
               ) -> Union[float, List[float]]:
    """(1,) APs -> a float, or (S,) APs of S ``scale_ranges`` -> a list of S floats."""
    return float(values[0]) if scale_ranges is None else [float(v) for v in values]
