"""mmcv's ``EpochBasedRunner`` with checkpoints taken inside an epoch.

mmcv's ``save_checkpoint`` always names the file after the next epoch and records ``epoch + 1``.
Called inside an epoch (``checkpoint_config.by_epoch=False``, or a preemption), that wrote iteration
6 as ``epoch_1.pth`` with ``meta epoch=1, iter=5`` while the ``CheckpointHook`` recorded
``iter_6.pth``, and a resume skipped the rest of the epoch. Here a checkpoint taken after iteration
``i`` of an epoch is ``iter_<global iteration>.pth`` with ``meta epoch`` = completed epochs,
``iter`` = completed iterations, ``inner_iter = i``; a run resumed from it continues that epoch at
iteration ``i + 1``. (mmcv's pauses are removed by ``runner_sleeps``.)

Registered under mmcv's name, so every ``runner = dict(type='EpochBasedRunner', ...)`` uses it. It
has ``runner_base.RunnerExtensions`` too.
"""
import os.path as osp
import platform
import shutil
from typing import Optional

import mmcv
from mmcv.runner import RUNNERS
from mmcv.runner import EpochBasedRunner as MMCVEpochBasedRunner
from mmcv.runner.checkpoint import save_checkpoint

from .runner_base import RunnerExtensions


class EpochBasedRunner(RunnerExtensions, MMCVEpochBasedRunner):
    """mmcv's epoch loop, hook for hook; resumable inside an epoch."""

    _in_train_iter = False  # True from an iteration's step to the end of its hooks
    resume_inner_iter = 0  # the next train epoch starts at this iteration (set when resuming)

    def train(self, data_loader, **kwargs) -> None:
        self.model.train()
        self.mode = 'train'
        self.data_loader = data_loader
        self._max_iters = self._max_epochs * len(self.data_loader)
        self.call_hook('before_train_epoch')
        start, self.resume_inner_iter = self.resume_inner_iter, 0
        if start:
            _start_next_pass_at(data_loader, start)
        for inner_iter, data_batch in enumerate(self.data_loader, start):
            self.data_batch = data_batch
            self._inner_iter = inner_iter
            self.call_hook('before_train_iter')
            self.run_iter(data_batch, train_mode=True, **kwargs)
            self._in_train_iter = True
            try:
                self.call_hook('after_train_iter')
            finally:
                self._in_train_iter = False
            del self.data_batch
            self._iter += 1
        self.call_hook('after_train_epoch')
        self._epoch += 1

    def save_checkpoint(self, out_dir: str, filename_tmpl: Optional[str] = None,
                        save_optimizer: bool = True, meta: Optional[dict] = None,
                        create_symlink: bool = True) -> None:
        """mmcv's ``epoch_N.pth`` at an epoch's end; ``iter_N.pth`` (N = completed iterations) when
        called from an iteration's hooks, with ``inner_iter`` in its meta."""
        self.call_before_save_checkpoint()
        if not self._in_train_iter:
            super().save_checkpoint(out_dir, filename_tmpl or 'epoch_{}.pth', save_optimizer, meta,
                                    create_symlink)
            return
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f'meta should be a dict or None, but got {type(meta)}')
        meta = {**(meta or {}), **(self.meta or {})}
        meta.update(epoch=self.epoch, iter=self.iter + 1, inner_iter=self.inner_iter + 1)
        filename = (filename_tmpl or 'iter_{}.pth').format(self.iter + 1)
        filepath = osp.join(out_dir, filename)
        save_checkpoint(self.model, filepath, optimizer=self.optimizer if save_optimizer else None,
                        meta=meta)
        if create_symlink:
            if platform.system() != 'Windows':
                mmcv.symlink(filename, osp.join(out_dir, 'latest.pth'))
            else:
                shutil.copy(filepath, osp.join(out_dir, 'latest.pth'))


def _start_next_pass_at(data_loader, start_iter: int) -> None:
    """Make ``data_loader``'s next pass skip its first ``start_iter`` batches."""
    sampler = getattr(data_loader, 'sampler', None)
    if not hasattr(sampler, 'start_next_pass_at'):
        raise TypeError(f'cannot resume inside an epoch: the training loader\'s sampler '
                        f'{type(sampler).__name__} cannot start a pass at a given batch (build the '
                        'loader with mmdet_lite.datasets.build_dataloader)')
    sampler.start_next_pass_at(start_iter * data_loader.batch_size)


def install() -> None:
    RUNNERS.register_module(name='EpochBasedRunner', module=EpochBasedRunner, force=True)
