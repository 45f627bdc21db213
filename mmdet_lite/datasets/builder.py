"""Dataset registries, ``build_dataset`` and ``build_dataloader``."""
import copy
import os
import random
import signal
import threading
from functools import partial
from typing import Optional

import numpy as np
import torch
from mmcv.parallel import collate
from mmcv.runner import get_dist_info
from mmcv.utils import Registry, build_from_cfg
from torch.utils.data import DataLoader, get_worker_info

from mmdet_lite.utils.dist import get_device
from mmdet_lite.utils.seed import sync_random_seed

from .samplers import (ClassAwareSampler, DistributedGroupSampler, DistributedSampler,
                       GroupSampler, SeededSampler,
                       InfiniteBatchSampler, InfiniteGroupBatchSampler)

DATASETS = Registry('dataset')
PIPELINES = Registry('pipeline')


def build_dataset(cfg, default_args=None):
    """Build a dataset; lists become a ConcatDataset, as in MMDetection 2.x."""
    if isinstance(cfg, (list, tuple)) or cfg['type'] in ('ConcatDataset', 'RepeatDataset') \
            or isinstance(cfg.get('ann_file'), (list, tuple)):
        return _build_wrapped_dataset(cfg, default_args)
    return build_from_cfg(cfg, DATASETS, default_args)


def _build_wrapped_dataset(cfg, default_args):
    from .dataset_wrappers import ConcatDataset, RepeatDataset
    if isinstance(cfg, (list, tuple)):
        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    if cfg['type'] == 'ConcatDataset':
        return ConcatDataset([build_dataset(c, default_args) for c in cfg['datasets']],
                             cfg.get('separate_eval', True))
    if cfg['type'] == 'RepeatDataset':
        return RepeatDataset(build_dataset(cfg['dataset'], default_args), cfg['times'])
    return ConcatDataset([build_dataset(part, default_args) for part in _split_by_ann_file(cfg)],
                         cfg.get('separate_eval', True))


# Keys that, given as lists, pair with the list of ``ann_file`` entries one by one.
PAIRED_KEYS = ('img_prefix', 'seg_prefix', 'proposal_file')


def _split_by_ann_file(cfg) -> list:
    """One dataset config per entry of a list ``ann_file``; list-valued ``img_prefix``,
    ``seg_prefix`` and ``proposal_file`` are split alongside (VOC07 + VOC12 in voc0712.py)."""
    ann_files = cfg['ann_file']
    for key in PAIRED_KEYS:
        value = cfg.get(key)
        if isinstance(value, (list, tuple)) and len(value) != len(ann_files):
            raise ValueError(f'{key} lists {len(value)} entries for {len(ann_files)} ann_file '
                             f'entries: {value!r}')
    parts = []
    for i, ann_file in enumerate(ann_files):
        part = copy.deepcopy(cfg)
        part.pop('separate_eval', None)  # a ConcatDataset option, not a dataset argument
        part['ann_file'] = ann_file
        for key in PAIRED_KEYS:
            if isinstance(cfg.get(key), (list, tuple)):
                part[key] = cfg[key][i]
        parts.append(part)
    return parts


def worker_init_fn(worker_id: int) -> None:
    """Seed numpy and ``random`` in a loader worker from torch's per-worker seed, and leave the
    stop signals to the main process.

    torch derives that seed from its global RNG when the epoch's iterator starts, so the
    augmentation stream differs between epochs and ranks and is reproduced exactly on
    resume (MMDetection 2.x reuses the same worker seeds every epoch).
    """
    if get_worker_info() is not None:  # not in a main process calling this by hand
        _leave_stop_signals_to_the_main_process()
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _leave_stop_signals_to_the_main_process() -> None:
    """A scheduler's SIGTERM (or SIGUSR1/2) reaches every process of the job: a loader worker it
    killed would fail the main process before it could save. Workers ignore those signals, except a
    SIGTERM from the main process itself (how torch and multiprocessing end workers); they also
    end on their own when the main process is gone."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # threads started below inherit it
    main_process = os.getppid()

    def wait_for_the_main_process_to_end_us() -> None:
        while signal.sigwaitinfo({signal.SIGTERM}).si_pid != main_process:
            pass
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=wait_for_the_main_process_to_end_us, daemon=True).start()


def build_dataloader(dataset, samples_per_gpu: int, workers_per_gpu: int, num_gpus: int = 1,
                     dist: bool = True, shuffle: bool = True, seed=None,
                     runner_type: str = 'EpochBasedRunner', persistent_workers: bool = False,
                     class_aware_sampler: Optional[dict] = None, **kwargs) -> DataLoader:
    """A DataLoader with MMDetection 2.x's samplers and mmcv's DataContainer collation.

    Distributed: one process per device, ``samples_per_gpu`` per batch. Otherwise the
    batch holds ``num_gpus * samples_per_gpu`` samples. With ``IterBasedRunner`` the loader
    draws from an endless batch sampler whose stream depends only on the seed, so a run
    resumed at iteration ``i`` (``batch_sampler.set_start_iter(i)``) sees the same batches.
    Shuffling (training) samplers hand out ``SeededIndex`` objects, so each sample's augmentations
    depend on its place in the stream, not on the loader worker that runs it. Distributed shuffling
    samplers take rank 0's ``seed`` (as MMDetection 2.28's do), so that ranks given different
    seeds (``--diff-seed``) still split one order between them.

    ``class_aware_sampler`` (``data.train_dataloader.class_aware_sampler``, e.g.
    ``dict(num_sample_class=1)``): an epoch-based loader samples with :class:`ClassAwareSampler`,
    distributed or not (as in 2.28; ``IterBasedRunner`` ignores it).
    """
    if len(dataset) == 0:
        raise ValueError(f'{type(dataset).__name__} is empty: nothing to load '
                         '(check ann_file, img_prefix and the filtering options)')
    rank, world_size = get_dist_info()
    if dist and shuffle and seed is not None:  # None: every rank's sampler uses 0
        seed = sync_random_seed(seed, device=get_device())
    batch_size = samples_per_gpu if dist else num_gpus * samples_per_gpu
    num_workers = workers_per_gpu if dist else num_gpus * workers_per_gpu
    if runner_type == 'IterBasedRunner':
        # One endless stream that can start at any iteration (mid-epoch resume).
        sampler_class = InfiniteGroupBatchSampler if shuffle else InfiniteBatchSampler
        batch_sampler = sampler_class(dataset, batch_size, world_size, rank, seed=seed,
                                      shuffle=shuffle)
        return _data_loader(dataset, num_workers, samples_per_gpu, persistent_workers,
                            batch_sampler=batch_sampler, **kwargs)
    if class_aware_sampler is not None:
        unknown = set(class_aware_sampler) - {'num_sample_class'}
        if unknown:
            raise ValueError(f'class_aware_sampler takes num_sample_class only, got '
                             f'{class_aware_sampler}')
        sampler = ClassAwareSampler(dataset, samples_per_gpu, world_size, rank, seed=seed,
                                    num_sample_class=class_aware_sampler.get('num_sample_class', 1))
    elif dist and shuffle:
        sampler = DistributedGroupSampler(dataset, samples_per_gpu, world_size, rank, seed=seed)
    elif dist:
        sampler = DistributedSampler(dataset, world_size, rank, shuffle=False, seed=seed)
    else:
        sampler = GroupSampler(dataset, samples_per_gpu) if shuffle else None
    if shuffle:  # training: augmentation seeds travel with the indices
        sampler = SeededSampler(sampler)
    return _data_loader(dataset, num_workers, samples_per_gpu, persistent_workers,
                        batch_size=batch_size, sampler=sampler, **kwargs)


def _data_loader(dataset, num_workers, samples_per_gpu, persistent_workers, **kwargs):
    kwargs.setdefault('pin_memory', False)
    return DataLoader(dataset, num_workers=num_workers,
                      collate_fn=partial(collate, samples_per_gpu=samples_per_gpu),
                      worker_init_fn=worker_init_fn if num_workers > 0 else None,
                      persistent_workers=persistent_workers and num_workers > 0, **kwargs)
