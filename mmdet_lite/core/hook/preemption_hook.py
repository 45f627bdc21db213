"""Stop training cleanly when the scheduler asks: save where the run is and exit "resume me".

Slurm, Kubernetes and spot instances send SIGTERM some seconds before they kill a job (Slurm also
sends a chosen signal early with ``#SBATCH --signal=USR1@120``). On one of ``signals`` the run
finishes the iteration in progress (an evaluation or a save in progress too; with several ranks
also the next iteration: the ranks agree on where to stop through an all-reduce that is read one
iteration late, so that no iteration waits for it), every rank stops after the same one, rank 0
writes a resumable checkpoint atomically (``iter_N.pth`` inside an epoch, ``epoch_N.pth`` at its
end; none when the checkpoint hook just wrote it), points ``last_checkpoint`` at it, and training
stops with :class:`TrainingPreempted`, which the tools turn into exit status
``PREEMPTED_EXIT_CODE`` (75, EX_TEMPFAIL: "try again"). ``--auto-resume`` then continues from that
checkpoint, bit-exactly with a fixed ``--seed``.

A second signal ends the process at once (status 128 + signal number), except within
``repeat_window_s`` of the first: launchers such as torchrun pass a signal they receive on to the
workers, which then get the same signal twice.
"""
import os
import os.path as osp
import signal
import threading
import time
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from mmcv.runner import HOOKS, CheckpointHook, Hook

from mmdet_lite.utils.checkpoint import write_last_checkpoint_pointer

PREEMPTED_EXIT_CODE = 75


class TrainingPreempted(Exception):
    """Training stopped on a signal after saving a checkpoint to resume from."""

    exit_code = PREEMPTED_EXIT_CODE


def _signal_number(name: Union[str, int]) -> signal.Signals:
    try:
        return signal.Signals(name) if isinstance(name, int) else signal.Signals[name.upper()]
    except (KeyError, ValueError):
        raise ValueError(f'PreemptionHook: unknown signal {name!r} (use names such as SIGTERM or '
                         'SIGUSR1)') from None


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Checkpoint and stop on ``signals``; register it with the LOWEST priority, after the
    checkpoint and evaluation hooks.

    Args:
        signals: signal names (or numbers) that mean "save and stop".
        repeat_window_s: a repeated signal within this time is the same request forwarded again.
    """

    def __init__(self, signals: Sequence[Union[str, int]] = ('SIGTERM', ),
                 repeat_window_s: float = 1.0) -> None:
        self.signals = [_signal_number(name) for name in signals]
        self.repeat_window_s = repeat_window_s
        self.received: Optional[Tuple[signal.Signals, float]] = None
        self._pending: Optional[_AgreedFlag] = None  # the all-reduce of the last check, unread
        self._previous_handlers: dict = {}

    def _on_signal(self, signum: int, frame) -> None:
        now = time.monotonic()
        if self.received is None:
            self.received = (signal.Signals(signum), now)
        elif now - self.received[1] > self.repeat_window_s:
            os._exit(128 + signum)  # asked twice: stop now, without saving

    def before_run(self, runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: not in the main thread, signals are not caught')
            return
        for signum in self.signals:
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
        # a parent may have started this process with them blocked (the mask is inherited)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, self.signals)

    def after_run(self, runner) -> None:
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    def _stop_requested(self, runner, wait: bool = False) -> bool:
        """Whether any rank received a signal, the same answer on every rank (so that all stop after
        the same iteration). With several ranks the answer is an all-reduce read one check late, so
        that no iteration waits for it; ``wait``: read the one sent now as well."""
        requested = self.received is not None
        if runner.world_size == 1 or not dist.is_initialized():
            return requested
        previous, self._pending = self._pending, _AgreedFlag(requested)
        stop = previous is not None and previous.read()
        if wait:
            stop = self._pending.read() or stop
            self._pending = None
        return stop

    def after_train_iter(self, runner) -> None:
        if self._stop_requested(runner):
            self._save_and_stop(runner, f'iter_{runner.iter + 1}.pth',
                                f'after iteration {runner.inner_iter + 1} of epoch {runner.epoch + 1}')

    def after_train_epoch(self, runner) -> None:
        if self._stop_requested(runner, wait=True):
            self._save_and_stop(runner, f'epoch_{runner.epoch + 1}.pth', f'after epoch {runner.epoch + 1}')

    def _save_and_stop(self, runner, filename: str, where: str) -> None:
        checkpoint_hook = next((hook for hook in runner.hooks if isinstance(hook, CheckpointHook)), None)
        out_dir = checkpoint_hook.out_dir if checkpoint_hook is not None else runner.work_dir
        path = osp.join(out_dir, filename)
        hook_msgs = runner.meta.setdefault('hook_msgs', {}) if runner.meta is not None else {}
        if runner.rank == 0 and hook_msgs.get('last_ckpt') != path:  # not saved by the checkpoint hook
            runner.save_checkpoint(out_dir, save_optimizer=getattr(checkpoint_hook, 'save_optimizer', True))
            hook_msgs['last_ckpt'] = path
            write_last_checkpoint_pointer(path)
        if runner.world_size > 1 and dist.is_initialized():
            if self._pending is not None:  # every rank's last all-reduce ends before the barrier
                self._pending.read()
                self._pending = None
            dist.barrier()  # the checkpoint is complete before any rank exits
        signal_name = self.received[0].name if self.received else 'a signal on another rank'
        self._restore_handlers()
        message = (f'{signal_name} received: training stopped {where}; checkpoint {path}. Resume '
                   f'with --auto-resume (exit status {PREEMPTED_EXIT_CODE})')
        runner.logger.info(message)
        raise TrainingPreempted(message)


class _AgreedFlag:
    """This rank's "stop requested", all-reduced (MAX) over the ranks without the host waiting:
    on NCCL the result is copied to pinned memory behind an event, so reading it at the next check
    waits for the previous iteration's work at most, not for the work queued since."""

    def __init__(self, requested: bool) -> None:
        nccl = dist.get_backend() == 'nccl'
        self.flag = torch.tensor([int(requested)], device='cuda' if nccl else 'cpu')
        self.work = dist.all_reduce(self.flag, op=dist.ReduceOp.MAX, async_op=True)
        self.host = self.done = None
        if nccl:
            self.work.wait()  # the current stream waits for the reduction; the host does not
            self.host = torch.empty(1, dtype=self.flag.dtype, pin_memory=True)
            self.host.copy_(self.flag, non_blocking=True)
            self.done = torch.cuda.Event()
            self.done.record()

    def read(self) -> bool:
        if self.done is None:
            self.work.wait()
            return bool(self.flag[0])
        self.done.synchronize()
        return bool(self.host[0])
