"""What mmdet_lite's runners add to both of mmcv's: log values read once per logging interval, and a
``before_save_checkpoint`` hook point. mmcv's ``OptimizerHook`` logs ``grad_norm`` unread.

``train_step`` returns its log values as 0-d tensors on the model's device: reading one makes the
host wait for the device, and 2.x's ``.item()`` per value and step kept the host from running ahead
of a GPU. mmcv's ``LogBuffer`` turns them into numpy arrays when it averages (which fails on CUDA
tensors, one read per value elsewhere); ``LogBuffer`` here reads every tensor it holds at once when
an average is asked for, that is once per logging interval. With ``grad_clip`` set, mmcv's
``OptimizerHook`` logged ``float(grad_norm)`` at every step; the one registered here logs the tensor.

Hooks that need something done before any checkpoint is written (a check of the unread losses, the
AMP loss scale into ``runner.meta``) define ``before_save_checkpoint(runner)``; mmcv 1.x has no
such point (mmengine does). Both runners call it first in ``save_checkpoint``, whoever asks for the
checkpoint.

``IterBasedRunner`` and ``OptimizerHook`` are registered under mmcv's names; ``EpochBasedRunner``
(``epoch_based_runner``) mixes the same in.
"""
from collections import defaultdict

import torch
from mmcv.runner import HOOKS, RUNNERS
from mmcv.runner import IterBasedRunner as MMCVIterBasedRunner
from mmcv.runner import LogBuffer as MMCVLogBuffer
from mmcv.runner import OptimizerHook as MMCVOptimizerHook


class LogBuffer(MMCVLogBuffer):
    """mmcv's ``LogBuffer`` that also holds 0-d tensors and reads them when it averages."""

    MAX_UNREAD = 10000

    def __init__(self) -> None:
        super().__init__()
        self._unread = []  # (key, index in val_history[key]) of each tensor value

    def clear(self) -> None:
        super().clear()
        self._unread.clear()

    def update(self, vars: dict, count: int = 1) -> None:
        super().update(vars, count)
        self._unread.extend((key, len(self.val_history[key]) - 1) for key, var in vars.items()
                            if isinstance(var, torch.Tensor))
        if len(self._unread) >= self.MAX_UNREAD:  # no logger averages: device memory stays bounded
            self.read()

    def read(self) -> None:
        """Turn every tensor value held into a float: one device read per (device, dtype)."""
        places_by_kind = defaultdict(list)
        for key, index in self._unread:
            value = self.val_history[key][index]
            places_by_kind[value.device, value.dtype].append((key, index))
        for places in places_by_kind.values():
            values = torch.stack([self.val_history[key][index].detach().reshape(())
                                  for key, index in places]).tolist()
            for (key, index), value in zip(places, values):
                self.val_history[key][index] = value
        self._unread.clear()

    def average(self, n: int = 0) -> None:
        self.read()
        super().average(n)


class RunnerExtensions:
    """Mixed in before an mmcv runner class: the tensor-reading ``LogBuffer`` and
    ``call_before_save_checkpoint``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.log_buffer = LogBuffer()

    def call_before_save_checkpoint(self) -> None:
        for hook in self.hooks:
            before_save = getattr(hook, 'before_save_checkpoint', None)
            if before_save is not None:
                before_save(self)


class IterBasedRunner(RunnerExtensions, MMCVIterBasedRunner):
    """mmcv's ``IterBasedRunner`` with ``RunnerExtensions``."""

    def save_checkpoint(self, *args, **kwargs) -> None:
        self.call_before_save_checkpoint()
        super().save_checkpoint(*args, **kwargs)


class OptimizerHook(MMCVOptimizerHook):
    """mmcv's ``OptimizerHook``, step for step, with ``grad_norm`` logged as a device tensor."""

    def after_train_iter(self, runner) -> None:
        runner.optimizer.zero_grad()
        if self.detect_anomalous_params:
            self.detect_anomalous_parameters(runner.outputs['loss'], runner)
        runner.outputs['loss'].backward()
        if self.grad_clip is not None:
            grad_norm = self.clip_grads(runner.model.parameters())
            if grad_norm is not None:
                runner.log_buffer.update({'grad_norm': grad_norm.detach()}, runner.outputs['num_samples'])
        runner.optimizer.step()


def install() -> None:
    RUNNERS.register_module(name='IterBasedRunner', module=IterBasedRunner, force=True)
    HOOKS.register_module(name='OptimizerHook', module=OptimizerHook, force=True)
