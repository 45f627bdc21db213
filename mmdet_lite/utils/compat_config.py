"""``compat_cfg``: MMDetection 2.28's move of older config keys to where they are read now.

- ``data.imgs_per_gpu`` (MMDetection 1.x) becomes ``data.samples_per_gpu``, with a warning.
- The loader settings go to ``data.train_dataloader`` / ``val_dataloader`` / ``test_dataloader``
  (created empty when absent): ``data.samples_per_gpu`` and ``data.persistent_workers`` to the
  train loader, ``data.workers_per_gpu`` to all three, ``data.val.samples_per_gpu`` to the val
  loader, ``data.test.samples_per_gpu`` (the largest, for a list of test sets) to the test loader.
  Each move warns that the old place is deprecated; a setting given in both places is an error.
- ``total_epochs`` becomes ``runner = dict(type='EpochBasedRunner', max_epochs=...)``.

``build_dataloader`` then gets each loader's dict over 2.28's defaults (:func:`loader_settings`).
"""
import copy
import warnings

from mmcv import Config, ConfigDict

LOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# MMDetection 2.28's loader defaults, under each data.*_dataloader dict.
LOADER_DEFAULTS = dict(
    train_dataloader=dict(samples_per_gpu=2, workers_per_gpu=2, persistent_workers=False),
    val_dataloader=dict(samples_per_gpu=1, workers_per_gpu=2, persistent_workers=False),
    test_dataloader=dict(samples_per_gpu=1, workers_per_gpu=2))


class ConfigConflictError(ValueError):
    """A setting given both in its deprecated place and in its ``*_dataloader`` dict."""


def compat_cfg(cfg: Config) -> Config:
    """A copy of ``cfg`` with the deprecated keys moved (see the module docstring)."""
    cfg = copy.deepcopy(cfg)
    compat_imgs_per_gpu(cfg)
    compat_loader_args(cfg)
    compat_runner_args(cfg)
    return cfg


def loader_settings(cfg: Config, loader_name: str) -> dict:
    """``data.<loader_name>`` (``'train_dataloader'``, ...) over 2.28's defaults; ``cfg`` as
    :func:`compat_cfg` returns it."""
    return {**LOADER_DEFAULTS[loader_name], **cfg.data[loader_name]}


def compat_runner_args(cfg: Config) -> None:
    """``total_epochs`` -> ``runner``, in place; ``total_epochs`` disagreeing with
    ``runner.max_epochs`` is an error (2.28: an assertion). A config with neither (one only for
    testing) is left as it is (2.28: AttributeError)."""
    if 'runner' not in cfg:
        if 'total_epochs' not in cfg:
            return
        cfg.runner = ConfigDict(type='EpochBasedRunner', max_epochs=cfg.total_epochs)
        warnings.warn('config is now expected to have a `runner` section, '
                      'please set `runner` in your config.', UserWarning)
    elif 'total_epochs' in cfg and cfg.total_epochs != cfg.runner.get('max_epochs'):
        raise ValueError(f'total_epochs ({cfg.total_epochs}) and runner.max_epochs '
                         f'({cfg.runner.get("max_epochs")}) disagree; keep only runner.max_epochs')


def compat_imgs_per_gpu(cfg: Config) -> None:
    """``data.imgs_per_gpu`` -> ``data.samples_per_gpu`` (it wins over one given too), in place."""
    if 'imgs_per_gpu' not in cfg.data:
        return
    imgs_per_gpu = cfg.data.imgs_per_gpu
    warnings.warn('"imgs_per_gpu" is deprecated in MMDet V2.0. '
                  'Please use "samples_per_gpu" instead')
    if 'samples_per_gpu' in cfg.data:
        warnings.warn(f'Got "imgs_per_gpu"={imgs_per_gpu} and "samples_per_gpu"='
                      f'{cfg.data.samples_per_gpu}, "imgs_per_gpu"={imgs_per_gpu} is used in '
                      'this experiments')
    else:
        warnings.warn(f'Automatically set "samples_per_gpu"="imgs_per_gpu"={imgs_per_gpu} in '
                      'this experiments')
    cfg.data.samples_per_gpu = imgs_per_gpu


def _move(source: dict, source_name: str, key: str, loader: dict, loader_name: str) -> None:
    """``source[key]`` -> ``loader[key]`` with 2.28's deprecation warning; both set: an error."""
    warnings.warn(f'Setting `{key}` in the field of `{source_name}` will be deprecated. Users '
                  f'should specify them in `*dataloader` field. For now, this `{key}` takes '
                  f'effect in `{loader_name}`.')
    if key in loader:
        raise ConfigConflictError(
            f'`{key}` is set in `{source_name}` ({source[key]}) and in `data.{loader_name}` '
            f'({loader[key]}) at the same time. Please only set it in `data.{loader_name}`.')
    loader[key] = source.pop(key)


def compat_loader_args(cfg: Config) -> None:
    """The loader settings to ``data.*_dataloader``, in place (see the module docstring)."""
    data = cfg.data
    for name in LOADER_KEYS:
        if data.get(name, None) is None:
            data[name] = ConfigDict()
    for key in ('samples_per_gpu', 'persistent_workers'):
        if key in data:
            _move(data, 'data', key, data.train_dataloader, 'train_dataloader')
    if 'workers_per_gpu' in data:
        warnings.warn('Setting `workers_per_gpu` in the field of `data` will be deprecated. '
                      'Users should specify them in `*dataloader` field. For now, this '
                      '`workers_per_gpu` takes effect in `train_dataloader`, `val_dataloader` '
                      'and `test_dataloader`.')
        workers_per_gpu = data.pop('workers_per_gpu')
        for name in LOADER_KEYS:  # as in 2.28, it overrides a loader's own workers_per_gpu
            data[name].workers_per_gpu = workers_per_gpu
    if isinstance(data.get('val', None), dict) and 'samples_per_gpu' in data.val:
        _move(data.val, 'data.val', 'samples_per_gpu', data.val_dataloader, 'val_dataloader')
    test = data.get('test', None)
    if isinstance(test, dict) and 'samples_per_gpu' in test:
        _move(test, 'data.test', 'samples_per_gpu', data.test_dataloader, 'test_dataloader')
    elif isinstance(test, list) and any('samples_per_gpu' in ds_cfg for ds_cfg in test):
        largest = max(ds_cfg.get('samples_per_gpu', 1) for ds_cfg in test)
        holder = {'samples_per_gpu': largest}
        _move(holder, 'data.test', 'samples_per_gpu', data.test_dataloader, 'test_dataloader')
        for ds_cfg in test:
            ds_cfg.pop('samples_per_gpu', None)
