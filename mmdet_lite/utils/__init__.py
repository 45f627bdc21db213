from . import atomic_io  # noqa: F401  (registers the crash-safe disk backend)
from . import scatter  # noqa: F401  (mmcv's CPU -> GPU scatter on current torch)
from .checkpoint import CheckpointError, load_checkpoint
from .collect_env import collect_env, get_git_hash
from .logger import get_root_logger

__all__ = ['CheckpointError', 'load_checkpoint', 'collect_env', 'get_git_hash', 'get_root_logger']
