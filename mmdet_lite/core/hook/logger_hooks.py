"""``log_config.hooks`` checked before a run writes anything: each entry builds, and the package
behind mmcv's logger backends (TensorBoard, Weights & Biases, MLflow, ...) imports.

mmcv imports a backend's package when the hook is built or started, that is after the work_dir has
been written; this check imports it first and names the hook and the package to install.
"""
import importlib
from typing import Dict, List, Optional, Tuple

from mmcv import ConfigDict
from mmcv.runner import HOOKS

OPTIONAL_REQUIREMENTS = 'requirements/optional.txt'

# mmcv 1.7.2 logger hook -> (the module it imports, the pip package that provides it, whether
# requirements/optional.txt pins it).
BACKENDS: Dict[str, Tuple[str, str, bool]] = {
    'TensorboardLoggerHook': ('torch.utils.tensorboard', 'tensorboard', True),
    'WandbLoggerHook': ('wandb', 'wandb', True),
    'MlflowLoggerHook': ('mlflow.pytorch', 'mlflow', True),
    'NeptuneLoggerHook': ('neptune.new', 'neptune-client', False),
    'DvcliveLoggerHook': ('dvclive', 'dvclive', False),
    'SegmindLoggerHook': ('segmind', 'segmind', False),
    'ClearMLLoggerHook': ('clearml', 'clearml', False),
    'PaviLoggerHook': ('pavi', 'pavi', False),
}


def _hook_config(entry, where: str) -> dict:
    """A hook entry as mmcv builds it: a dict with ``type``; a bare name ``'X'`` is
    ``dict(type='X')`` (what ``--cfg-options "log_config.hooks=[TextLoggerHook,X]"`` gives)."""
    if isinstance(entry, str):
        return ConfigDict(type=entry)
    if not isinstance(entry, dict) or 'type' not in entry:
        raise TypeError(f'{where} must be a dict with a "type" key (or a hook name), got '
                        f'{entry!r}')
    return entry


def _check_backend(hook_type: str, where: str) -> None:
    if hook_type not in BACKENDS:
        return
    module, package, pinned = BACKENDS[hook_type]
    try:
        importlib.import_module(module)
    except ImportError as error:
        install = f'pip install -r {OPTIONAL_REQUIREMENTS}' if pinned else f'pip install {package}'
        raise ImportError(f"{where} {hook_type} needs the '{package}' package: {install} "
                          f'({error})') from error


def check_logger_hooks(log_config: Optional[dict]) -> Optional[List[dict]]:
    """Check ``log_config.hooks`` (``cfg.log_config``) and write bare hook names as dicts.

    Raises ValueError for an ``interval`` that is not a whole number >= 0 (the logger hooks and
    CheckInvalidLossHook count iterations with it), TypeError for an entry that is neither a dict
    with ``type`` nor a name, KeyError for a type that is not in mmcv's HOOKS registry, and
    ImportError, naming the hook and the pip package, for a logger backend whose package does not
    import. Returns the hooks (None without
    a ``log_config``, which registers no logger hook).
    """
    if log_config is None:
        return None
    interval = log_config.get('interval', 0)
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
        raise ValueError(f'log_config.interval must be a whole number of iterations >= 0, got {interval!r}')
    hooks = log_config.get('hooks', None)
    if not isinstance(hooks, (list, tuple)):
        raise TypeError(f'log_config.hooks must be a list of hook dicts, got {hooks!r}')
    checked = []
    for index, entry in enumerate(hooks):
        where = f'log_config.hooks[{index}]'
        hook_cfg = _hook_config(entry, where)
        hook_type = hook_cfg['type']
        if isinstance(hook_type, str):
            if hook_type not in HOOKS:
                hint = (' (--cfg-options reads dict(...) in a list as text: give hook names, '
                        'log_config.hooks=[TextLoggerHook,TensorboardLoggerHook])'
                        if '(' in hook_type else '')
                raise KeyError(f'{where}: {hook_type!r} is not in the HOOKS registry{hint}')
        else:
            hook_type = getattr(hook_type, '__name__', str(hook_type))
        _check_backend(hook_type, where)
        checked.append(hook_cfg)
    log_config['hooks'] = checked
    return checked
