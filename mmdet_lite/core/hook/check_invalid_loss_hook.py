import math
from typing import List

import torch
from mmcv.runner import HOOKS, Hook


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """Stop training at the first NaN/Inf loss term, before the optimizer step uses it.

    Registered with a priority above the OptimizerHook, so the weights of the failing
    iteration are never updated and the newest checkpoint stays the last good one.
    Checks the float ``log_vars`` and, as MMDetection 2.28 does, the ``loss`` tensor itself, so
    outputs without ``log_vars`` are checked too. 2.28 raises AssertionError and checks every 50
    iterations by default; this hook raises :class:`NonFiniteLossError` and checks every iteration.
    """

    def __init__(self, interval: int = 1):
        self.interval = interval

    def after_train_iter(self, runner):
        if not self.every_n_iters(runner, self.interval):
            return
        bad = _non_finite_terms(runner.outputs)
        if not bad:
            return
        last_ckpt = (runner.meta or {}).get('hook_msgs', {}).get('last_ckpt', 'none saved yet')
        raise NonFiniteLossError(
            f'non-finite loss at epoch {runner.epoch + 1}, iter {runner.inner_iter + 1} '
            f'(global iter {runner.iter + 1}): {", ".join(bad)}. Training stopped before the '
            f'optimizer step; the newest checkpoint is {last_ckpt}')


def _non_finite_terms(outputs: dict) -> List[str]:
    """``'name = value'`` for each non-finite float of ``outputs['log_vars']`` and for a non-finite
    ``outputs['loss']`` tensor when ``log_vars`` does not already report it."""
    log_vars = outputs.get('log_vars', {})
    bad = [f'{name} = {value}' for name, value in log_vars.items()
           if isinstance(value, float) and not math.isfinite(value)]
    loss = outputs.get('loss')
    if isinstance(loss, torch.Tensor) and not torch.isfinite(loss.detach()).all() and \
            not any(term.startswith('loss = ') for term in bad):
        bad.append(f'loss = {loss.detach().cpu().tolist()}')
    return bad
