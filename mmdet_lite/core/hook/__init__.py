from .check_invalid_loss_hook import CheckInvalidLossHook, NonFiniteLossError
from .reseed_hook import ReseedHook
from .last_checkpoint_hook import LastCheckpointHook
from .logger_hooks import check_logger_hooks
from .preemption_hook import PREEMPTED_EXIT_CODE, PreemptionHook, TrainingPreempted

__all__ = ['CheckInvalidLossHook', 'NonFiniteLossError', 'ReseedHook', 'LastCheckpointHook',
           'check_logger_hooks', 'PREEMPTED_EXIT_CODE', 'PreemptionHook', 'TrainingPreempted']
