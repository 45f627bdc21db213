from mmcv.runner import HOOKS, Hook

from mmdet_lite.utils.seed import derived_seed, set_random_seed

# Salts for the two reseeds of an iteration-based step: loading its batch, and the step.
_LOAD, _STEP = 0, 1


@HOOKS.register_module()
class ReseedHook(Hook):
    """Reseed Python, numpy and torch from ``(seed, position, rank)`` as training advances.

    Every step is reseeded from the iteration it is, just before it runs. Epoch-based runs also
    reseed at every epoch start, for the sampler's order of the epoch (and a DataLoader's
    worker seed, drawn when the epoch's iterator starts new workers); iteration-based runs
    reseed before loading each batch. What an epoch or an iteration draws then depends only on
    where it is, so a run resumed at an epoch's end or inside an epoch continues bit-exactly
    where an uninterrupted one would be, whatever evaluation or checkpointing consumed in between.
    Register it with the LOWEST priority: each reseed must be the last thing before the
    randomness it governs.
    """

    def __init__(self, seed: int, by_epoch: bool = True):
        self.seed = seed
        self.by_epoch = by_epoch

    def before_train_epoch(self, runner):
        if self.by_epoch:
            set_random_seed(derived_seed(self.seed, runner.epoch, runner.rank))

    def before_run(self, runner):
        if not self.by_epoch:
            set_random_seed(derived_seed(self.seed, runner.iter, runner.rank, _LOAD))

    def before_train_iter(self, runner):
        set_random_seed(derived_seed(self.seed, runner.iter, runner.rank, _STEP))

    def after_train_iter(self, runner):
        if not self.by_epoch:
            set_random_seed(derived_seed(self.seed, runner.iter + 1, runner.rank, _LOAD))
