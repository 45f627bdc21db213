from .check_invalid_loss_hook import CheckInvalidLossHook, NonFiniteLossError
from .epoch_seed_hook import EpochSeedHook, epoch_seed
from .last_checkpoint_hook import LastCheckpointHook

__all__ = ['CheckInvalidLossHook', 'NonFiniteLossError', 'EpochSeedHook', 'epoch_seed',
           'LastCheckpointHook']
