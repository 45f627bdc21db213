from .check_invalid_loss_hook import CheckInvalidLossHook, NonFiniteLossError
from .reseed_hook import ReseedHook
from .last_checkpoint_hook import LastCheckpointHook

__all__ = ['CheckInvalidLossHook', 'NonFiniteLossError', 'ReseedHook', 'LastCheckpointHook']
