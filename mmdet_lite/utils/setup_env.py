"""``setup_multi_processes``: MMDetection 2.28's process-wide settings from the config.

Called by the command-line tools (process-wide settings are theirs), never on import.
"""
import multiprocessing as mp
import os
import warnings
from typing import Dict

import cv2

START_METHODS = ('fork', 'spawn', 'forkserver')


def _check(cfg) -> None:
    method = cfg.get('mp_start_method', 'fork')
    if method not in START_METHODS:
        raise ValueError(f'mp_start_method {method!r} is not a start method; expected one of '
                         f'{", ".join(START_METHODS)}')
    threads = cfg.get('opencv_num_threads', 0)
    if not isinstance(threads, int) or isinstance(threads, bool):
        raise TypeError('opencv_num_threads must be an int (0: no OpenCV threads), '
                        f'got {threads!r}')


def _max_workers_per_gpu(cfg) -> int:
    """``data.workers_per_gpu`` or ``data.train_dataloader.workers_per_gpu``, the larger."""
    workers = cfg.data.get('workers_per_gpu', 1)
    train_loader = cfg.data.get('train_dataloader', None)
    if train_loader:
        workers = max(train_loader.get('workers_per_gpu', 1), workers)
    return workers


def _limit_threads(name: str) -> None:
    warnings.warn(f'Setting {name} environment variable for each process to be 1 in default, to '
                  'avoid your system being overloaded, please further tune the variable for '
                  'optimal performance in your application as needed.')
    os.environ[name] = '1'


def setup_multi_processes(cfg) -> Dict[str, str]:
    """Apply the config's multi-processing settings to this process, as MMDetection 2.28 does:

    - ``mp_start_method`` (default ``'fork'``): the start method of loader workers, set with a
      warning when another one was set before;
    - ``opencv_num_threads`` (default 0): ``cv2.setNumThreads``;
    - ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to 1 (each with a warning) when the
      environment does not set them and more than one loader worker runs per process. They reach
      the loader workers; this process's torch has read its thread count already.

    Raises ``ValueError`` / ``TypeError`` naming a bad ``mp_start_method`` or
    ``opencv_num_threads`` before anything is set. Returns ``{setting: value}`` for the log.
    """
    _check(cfg)
    method = cfg.get('mp_start_method', 'fork')
    current = mp.get_start_method(allow_none=True)
    if current is not None and current != method:
        warnings.warn(f'Multi-processing start method `{method}` is different from the previous '
                      f'setting `{current}`.It will be force set to `{method}`. You can change '
                      'this behavior by changing `mp_start_method` in your config.')
    mp.set_start_method(method, force=True)
    cv2.setNumThreads(cfg.get('opencv_num_threads', 0))
    if _max_workers_per_gpu(cfg) > 1:
        for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
            if name not in os.environ:
                _limit_threads(name)
    return {'mp_start_method': mp.get_start_method(),
            'cv2.getNumThreads()': str(cv2.getNumThreads()),
            'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', 'unset'),
            'MKL_NUM_THREADS': os.environ.get('MKL_NUM_THREADS', 'unset')}
