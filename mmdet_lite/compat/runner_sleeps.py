"""mmcv's runners without their pauses.

mmcv 1.x's ``EpochBasedRunner`` sleeps 2 s before every train and val epoch ("prevent possible
deadlock during epoch transition", a guard for DataLoader workers of old PyTorch releases) and 1 s
at the end of ``run`` ("wait for some hooks like loggers to finish"); its ``IterLoader`` (the
``IterBasedRunner``'s) sleeps 2 s at every epoch transition and ``IterBasedRunner.run`` 1 s at the
end. The sleeps fall inside the first iteration's ``data_time`` or after the last: on the toy quick
start they were 25 s of about 3 minutes, and 1 s of every few-second run in the test suite. Those
two mmcv modules use ``time`` for nothing but these sleeps; they get a ``time`` whose ``sleep``
returns at once.
"""
import types

import mmcv.runner.epoch_based_runner
import mmcv.runner.iter_based_runner

NO_SLEEP = types.SimpleNamespace(sleep=lambda seconds: None)


def install() -> None:
    for module in (mmcv.runner.epoch_based_runner, mmcv.runner.iter_based_runner):
        module.time = NO_SLEEP
