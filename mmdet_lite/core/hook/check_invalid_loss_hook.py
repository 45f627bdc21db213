import math

from mmcv.runner import HOOKS, Hook


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """Stop training at the first NaN/Inf loss term, before the optimizer step uses it.

    Registered with a priority above the OptimizerHook, so the weights of the failing
    iteration are never updated and the newest checkpoint stays the last good one.
    """

    def __init__(self, interval: int = 1):
        self.interval = interval

    def after_train_iter(self, runner):
        if not self.every_n_iters(runner, self.interval):
            return
        log_vars = runner.outputs.get('log_vars', {})
        bad = [f'{name} = {value}' for name, value in log_vars.items()
               if isinstance(value, float) and not math.isfinite(value)]
        if not bad:
            return
        last_ckpt = (runner.meta or {}).get('hook_msgs', {}).get('last_ckpt', 'none saved yet')
        raise NonFiniteLossError(
            f'non-finite loss at epoch {runner.epoch + 1}, iter {runner.inner_iter + 1} '
            f'(global iter {runner.iter + 1}): {", ".join(bad)}. Training stopped before the '
            f'optimizer step; the newest checkpoint is {last_ckpt}')
