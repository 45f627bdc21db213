import random

import numpy as np
import torch
from mmcv.runner import HOOKS, Hook


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """A 32-bit seed drawn from (seed, epoch, rank); distinct for distinct triples."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Reseed Python, numpy and torch at the start of every training epoch.

    Sampling order, augmentation and RoI/anchor sampling of epoch ``e`` then depend only on
    ``(seed, e, rank)``, so a run resumed at epoch ``e`` continues bit-exactly where an
    uninterrupted one would be, whatever evaluation or checkpointing consumed in between.
    """

    def __init__(self, seed: int):
        self.seed = seed

    def before_train_epoch(self, runner):
        value = epoch_seed(self.seed, runner.epoch, runner.rank)
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)
