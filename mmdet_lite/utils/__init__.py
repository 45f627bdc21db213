from .checkpoint import CheckpointError, find_latest_checkpoint, load_checkpoint
from .collect_env import collect_env, get_git_hash
from .compat_config import compat_cfg
from .dist import get_device
from .logger import get_root_logger
from .replace_cfg_vals import replace_cfg_vals, update_data_root
from .setup_env import setup_multi_processes

__all__ = ['CheckpointError', 'load_checkpoint', 'find_latest_checkpoint', 'collect_env',
           'get_git_hash', 'compat_cfg', 'get_device', 'get_root_logger', 'replace_cfg_vals',
           'update_data_root', 'setup_multi_processes']
