import math

import torch
from mmcv.runner import HOOKS, Hook


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """Stop training at the first NaN/Inf loss term; no checkpoint ever holds weights it updated.

    Checks every ``log_vars`` term and, as MMDetection 2.28 does, the ``loss`` tensor itself (so
    outputs without ``log_vars`` are checked too). The log values are device tensors and reading
    them makes the host wait for the device, so each iteration's finiteness stays on the device and
    is read every ``interval`` iterations, at each epoch's end and before every checkpoint is written.
    The iterations between a non-finite loss and that read go on training, and their weights are
    never saved: the error names the first bad iteration and the newest checkpoint, the last good one.
    ``train_detector`` registers it with priority HIGH (above the OptimizerHook's), so with
    ``interval=1`` each iteration is read before its optimizer step. 2.28 raises AssertionError and
    checks every 50 iterations by default.
    """

    def __init__(self, interval: int = 50):
        self.interval = interval
        self._unread = []  # (epoch, inner_iter, iter, terms, finite flag) per unread iteration

    def after_train_iter(self, runner) -> None:
        terms = _loss_terms(runner.outputs)
        floats_finite = all(math.isfinite(value) for value in terms.values() if not isinstance(value, torch.Tensor))
        tensors = [value.detach().reshape(-1) for value in terms.values() if isinstance(value, torch.Tensor)]
        finite = torch.isfinite(torch.cat(tensors)).all() if tensors else torch.tensor(True)
        self._unread.append((runner.epoch, runner.inner_iter, runner.iter, terms,
                             finite if floats_finite else torch.tensor(False)))
        if not floats_finite or self.every_n_iters(runner, self.interval):
            self.read(runner)

    def after_train_epoch(self, runner) -> None:
        self.read(runner)

    def before_save_checkpoint(self, runner) -> None:
        self.read(runner)

    def after_run(self, runner) -> None:
        self.read(runner)

    def read(self, runner) -> None:
        """Read the finiteness of the unread iterations (one device read); raise
        ``NonFiniteLossError`` naming the first non-finite one."""
        if not self._unread:
            return
        unread, self._unread = self._unread, []
        device = unread[-1][4].device
        finite = torch.stack([flag.to(device) for *_, flag in unread]).tolist()
        first_bad = next((entry for entry, ok in zip(unread, finite) if not ok), None)
        if first_bad is None:
            return
        epoch, inner_iter, iteration, terms, _ = first_bad
        bad = [f'{name} = {torch.as_tensor(value).tolist()}' for name, value in terms.items()
               if not torch.isfinite(torch.as_tensor(value)).all()]
        last_ckpt = (runner.meta or {}).get('hook_msgs', {}).get('last_ckpt', 'none yet')
        raise NonFiniteLossError(
            f'non-finite loss at epoch {epoch + 1}, iter {inner_iter + 1} (global iter {iteration + 1}): '
            f'{", ".join(bad)}. Training stopped at global iter {unread[-1][2] + 1}; no checkpoint holds '
            f'weights from global iter {iteration + 1} on; newest checkpoint: {last_ckpt}')


def _loss_terms(outputs: dict) -> dict:
    """``outputs['log_vars']``, with ``outputs['loss']`` as ``'loss'`` when it has no such entry."""
    terms = dict(outputs.get('log_vars', {}))
    loss = outputs.get('loss')
    if isinstance(loss, torch.Tensor) and 'loss' not in terms:
        terms['loss'] = loss.detach()
    return terms
