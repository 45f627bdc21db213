"""MMDetection's evaluation hooks over mmcv's ``EvalHook``/``DistEvalHook`` base classes.

They differ from mmcv's in the test functions (``mmdet_lite.apis.single_gpu_test`` /
``multi_gpu_test``, which work on CPU with gloo) and in saving the best checkpoint for any
score that is not None (mmcv 1.7.2 skips a score of 0.0).
"""
import os.path as osp

import torch.distributed as dist
from mmcv.runner import DistEvalHook as BaseDistEvalHook
from mmcv.runner import EvalHook as BaseEvalHook
from torch.nn.modules.batchnorm import _BatchNorm


class EvalHook(BaseEvalHook):
    """Evaluate on ``dataloader`` every ``interval`` epochs (or iterations) after ``start``.

    ``eval_kwargs`` (e.g. ``metric='bbox'``) go to ``dataset.evaluate``; the metrics land in
    ``runner.log_buffer.output`` with ``eval_iter_num = len(dataloader)``. With
    ``save_best='bbox_mAP'`` (or ``'auto'``) the best checkpoint is kept as
    ``best_bbox_mAP_epoch_N.pth``.
    """

    def _do_evaluate(self, runner) -> None:
        if not self._should_evaluate(runner):
            return
        from mmdet_lite.apis.test import single_gpu_test
        results = single_gpu_test(runner.model, self.dataloader, show=False)
        runner.log_buffer.output['eval_iter_num'] = len(self.dataloader)
        key_score = self.evaluate(runner, results)
        if self.save_best and key_score is not None:
            self._save_ckpt(runner, key_score)


class DistEvalHook(BaseDistEvalHook):
    """Distributed evaluation: BN buffers broadcast from rank 0, every rank tests its share,
    results gathered on rank 0 (through ``tmpdir``, default ``<work_dir>/.eval_hook``, or
    in memory with ``gpu_collect``), where they are evaluated and the best checkpoint saved."""

    def _broadcast_bn_buffers(self, runner) -> None:
        for _, module in runner.model.named_modules():
            if isinstance(module, _BatchNorm) and module.track_running_stats:
                dist.broadcast(module.running_var, 0)
                dist.broadcast(module.running_mean, 0)

    def _do_evaluate(self, runner) -> None:
        if self.broadcast_bn_buffer:
            self._broadcast_bn_buffers(runner)
        if not self._should_evaluate(runner):
            return
        from mmdet_lite.apis.test import multi_gpu_test
        tmpdir = self.tmpdir if self.tmpdir is not None else osp.join(runner.work_dir,
                                                                       '.eval_hook')
        results = multi_gpu_test(runner.model, self.dataloader, tmpdir=tmpdir,
                                 gpu_collect=self.gpu_collect)
        if runner.rank == 0:
            print('\n')
            runner.log_buffer.output['eval_iter_num'] = len(self.dataloader)
            key_score = self.evaluate(runner, results)
            if self.save_best and key_score is not None:
                self._save_ckpt(runner, key_score)
