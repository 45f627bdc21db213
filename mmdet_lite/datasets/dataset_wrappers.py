"""Dataset wrappers: ``ConcatDataset`` and ``RepeatDataset`` (MMDetection 2.x semantics)."""
import bisect
from typing import Dict, List, Sequence, Tuple

import numpy as np
from mmcv.utils import print_log
from torch.utils.data.dataset import ConcatDataset as _ConcatDataset

from .builder import DATASETS
from .coco import CocoDataset
from .samplers import sample_rng


@DATASETS.register_module()
class ConcatDataset(_ConcatDataset):
    """Concatenation of datasets sharing ``CLASSES``; ``flag`` is concatenated too.

    Args:
        datasets: datasets to concatenate.
        separate_eval: evaluate each dataset on its own slice of the results; the metric
            keys are prefixed with the dataset index (``0_bbox_mAP``, ``1_bbox_mAP``, ...).
    """

    def __init__(self, datasets: Sequence, separate_eval: bool = True) -> None:
        super().__init__(datasets)
        self.CLASSES = datasets[0].CLASSES
        self.PALETTE = getattr(datasets[0], 'PALETTE', None)
        self.separate_eval = separate_eval
        if not separate_eval:
            self._check_joint_eval()
        if hasattr(datasets[0], 'flag'):
            self.flag = np.concatenate([ds.flag for ds in datasets])

    def _check_joint_eval(self) -> None:
        if any(isinstance(ds, CocoDataset) for ds in self.datasets):
            raise NotImplementedError('Evaluating concatenated CocoDataset as a whole is not '
                                      'supported! Please set "separate_eval=True"')
        if len({type(ds) for ds in self.datasets}) != 1:
            raise NotImplementedError('All the datasets should have same types')

    def _locate(self, idx: int) -> Tuple[int, int]:
        if idx < 0:
            if -idx > len(self):
                raise ValueError(f'absolute value of index {idx} should not exceed dataset '
                                 f'length {len(self)}')
            idx = len(self) + idx
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, idx)
        sample_idx = idx if dataset_idx == 0 else idx - self.cumulative_sizes[dataset_idx - 1]
        return dataset_idx, sample_idx

    def __getitem__(self, idx: int):
        dataset_idx, sample_idx = self._locate(idx)
        with sample_rng(idx):  # the inner dataset sees a plain index
            return self.datasets[dataset_idx][int(sample_idx)]

    def get_cat_ids(self, idx: int) -> List[int]:
        """Category ids of sample ``idx`` from the dataset that holds it."""
        dataset_idx, sample_idx = self._locate(idx)
        return self.datasets[dataset_idx].get_cat_ids(sample_idx)

    def get_ann_info(self, idx: int) -> Dict:
        """Annotations of sample ``idx`` from the dataset that holds it."""
        dataset_idx, sample_idx = self._locate(idx)
        return self.datasets[dataset_idx].get_ann_info(sample_idx)

    def evaluate(self, results: list, logger=None, **kwargs) -> Dict:
        """Evaluate each dataset on its slice of ``results`` (or all at once)."""
        if len(results) != self.cumulative_sizes[-1]:
            raise ValueError(f'Dataset and results have different sizes: '
                             f'{self.cumulative_sizes[-1]} v.s. {len(results)}')
        for dataset in self.datasets:
            if not hasattr(dataset, 'evaluate'):
                raise TypeError(f'{type(dataset)} does not implement evaluate function')
        if self.separate_eval:
            total_eval_results = dict()
            starts = [0] + self.cumulative_sizes[:-1]
            for dataset_idx, (dataset, start, end) in enumerate(
                    zip(self.datasets, starts, self.cumulative_sizes)):
                print_log(f'\nEvaluateing {dataset.ann_file} with {end - start} images now',
                          logger=logger)
                eval_results = dataset.evaluate(results[start:end], logger=logger, **kwargs)
                total_eval_results.update(
                    {f'{dataset_idx}_{k}': v for k, v in eval_results.items()})
            return total_eval_results
        self._check_joint_eval()
        first = self.datasets[0]
        original_data_infos = first.data_infos
        first.data_infos = sum([dataset.data_infos for dataset in self.datasets], [])
        try:
            return first.evaluate(results, logger=logger, **kwargs)
        finally:
            first.data_infos = original_data_infos


@DATASETS.register_module()
class RepeatDataset:
    """A dataset repeated ``times`` times (one epoch of the wrapper = ``times`` epochs)."""

    def __init__(self, dataset, times: int) -> None:
        self.dataset = dataset
        self.times = times
        self.CLASSES = dataset.CLASSES
        self.PALETTE = getattr(dataset, 'PALETTE', None)
        if hasattr(self.dataset, 'flag'):
            self.flag = np.tile(self.dataset.flag, times)
        self._ori_len = len(self.dataset)

    def __getitem__(self, idx: int):
        with sample_rng(idx):  # the inner dataset sees a plain index
            return self.dataset[idx % self._ori_len]

    def get_cat_ids(self, idx: int) -> List[int]:
        """Category ids of sample ``idx`` of the repeated dataset."""
        return self.dataset.get_cat_ids(idx % self._ori_len)

    def __len__(self) -> int:
        return self.times * self._ori_len
