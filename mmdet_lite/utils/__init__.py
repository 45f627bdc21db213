from .checkpoint import CheckpointError, load_checkpoint
from .collect_env import collect_env, get_git_hash
from .logger import get_root_logger

__all__ = ['CheckpointError', 'load_checkpoint', 'collect_env', 'get_git_hash', 'get_root_logger']
