"""MMDetection's evaluation hooks over mmcv's ``EvalHook``/``DistEvalHook`` base classes.

They differ from mmcv's in three ways. The test function is handed in (``train_detector`` passes
``mmdet_lite.apis.single_gpu_test`` / ``multi_gpu_test``, which rescale boxes and work on the CPU
with gloo; mmcv's defaults do neither). Evaluation options the dataset's ``evaluate`` does not take
are refused when the hook is built, not after the first epoch. And the best checkpoint is saved for
any score that is not None (mmcv 1.7.2 skips a score of 0.0).
"""
import inspect
import os.path as osp
from typing import Callable

import torch.distributed as dist
from mmcv.runner import DistEvalHook as BaseDistEvalHook
from mmcv.runner import EvalHook as BaseEvalHook
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader


def dataset_eval_kwargs(evaluation: dict) -> dict:
    """The config's ``evaluation`` dict without the options that belong to mmcv's eval hooks
    (interval, start, save_best, gpu_collect, ...): what ``dataset.evaluate`` takes, as
    ``tools/test.py`` passes it."""
    hook_options = set()
    for hook in (BaseEvalHook, BaseDistEvalHook):
        parameters = inspect.signature(hook.__init__).parameters.values()
        hook_options |= {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD}
    return {key: value for key, value in evaluation.items() if key not in hook_options}


def check_eval_kwargs(hook_name: str, dataset, eval_kwargs: dict) -> None:
    """Raise ``TypeError`` naming each key of ``eval_kwargs`` that ``dataset.evaluate`` does not take."""
    parameters = inspect.signature(dataset.evaluate).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [name for name in parameters if name not in ('results', 'logger')]
    unknown = [key for key in eval_kwargs if key not in accepted]
    if unknown:
        raise TypeError(f'{hook_name}: evaluation option {", ".join(map(repr, unknown))} is not an '
                        f'argument of {type(dataset).__name__}.evaluate (it takes '
                        f'{", ".join(accepted)}; the hook itself takes interval, start, by_epoch, '
                        'save_best, rule, ...)')


class EvalHook(BaseEvalHook):
    """Evaluate on ``dataloader`` every ``interval`` epochs (or iterations) after ``start``.

    ``test_fn(model, dataloader)`` returns one result per image (``mmdet_lite.apis.single_gpu_test``).
    The other keyword arguments are mmcv's ``EvalHook`` options (interval, start, by_epoch,
    save_best, rule, ...) and ``dataset.evaluate`` options (e.g. ``metric='bbox'``). The metrics
    land in ``runner.log_buffer.output`` with ``eval_iter_num = len(dataloader)``. With
    ``save_best='bbox_mAP'`` (or ``'auto'``) the best checkpoint is kept as
    ``best_bbox_mAP_epoch_N.pth``.
    """

    def __init__(self, dataloader: DataLoader, test_fn: Callable, **options) -> None:
        super().__init__(dataloader, test_fn=test_fn, **options)
        check_eval_kwargs(type(self).__name__, dataloader.dataset, self.eval_kwargs)

    def _do_evaluate(self, runner) -> None:
        if not self._should_evaluate(runner):
            return
        results = self.test_fn(runner.model, self.dataloader)
        runner.log_buffer.output['eval_iter_num'] = len(self.dataloader)
        key_score = self.evaluate(runner, results)
        if self.save_best and key_score is not None:
            self._save_ckpt(runner, key_score)


class DistEvalHook(BaseDistEvalHook):
    """Distributed evaluation: BN buffers broadcast from rank 0, every rank tests its share with
    ``test_fn(model, dataloader, tmpdir=..., gpu_collect=...)`` (``mmdet_lite.apis.multi_gpu_test``),
    results gathered on rank 0 (through ``tmpdir``, default ``<work_dir>/.eval_hook``, or in memory
    with ``gpu_collect``), where they are evaluated and the best checkpoint saved."""

    def __init__(self, dataloader: DataLoader, test_fn: Callable, **options) -> None:
        super().__init__(dataloader, test_fn=test_fn, **options)
        check_eval_kwargs(type(self).__name__, dataloader.dataset, self.eval_kwargs)

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
        tmpdir = self.tmpdir if self.tmpdir is not None else osp.join(runner.work_dir,
                                                                       '.eval_hook')
        results = self.test_fn(runner.model, self.dataloader, tmpdir=tmpdir,
                               gpu_collect=self.gpu_collect)
        if runner.rank == 0:
            print('\n')
            runner.log_buffer.output['eval_iter_num'] = len(self.dataloader)
            key_score = self.evaluate(runner, results)
            if self.save_best and key_score is not None:
                self._save_ckpt(runner, key_score)
