"""Config values rewritten before use: ``${key}`` references and the ``MMDET_DATASETS`` data root.

MMDetection 2.28's ``replace_cfg_vals`` and ``update_data_root``; ``tools/`` apply both right after
the config file is read, before ``--cfg-options``.
"""
import os
import re
from typing import Any, List, Optional

from mmcv import Config, ConfigDict
from mmcv.utils import print_log

# "${key}" or "${key0.key1}": a dotted path of config keys.
_REFERENCE = re.compile(r'\$\{[a-zA-Z\d_.]*\}')


def _lookup(cfg_dict: dict, dotted: str, reference: str) -> Any:
    node = cfg_dict
    for depth, key in enumerate(dotted.split('.')):
        if not isinstance(node, dict) or key not in node:
            where = '.'.join(dotted.split('.')[:depth]) or 'the config'
            raise KeyError(f'config reference {reference}: {where} has no key {key!r}')
        node = node[key]
    return node


def _resolve(value: Any, cfg_dict: dict, chain: List[str]) -> Any:
    """``value`` with every reference replaced; ``chain``: the references being resolved (a
    reference met again inside its own value is a cycle)."""
    if isinstance(value, dict):
        return {key: _resolve(item, cfg_dict, chain) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(item, cfg_dict, chain) for item in value)
    if not isinstance(value, str):
        return value
    references = _REFERENCE.findall(value)
    resolved = {}
    for reference in references:
        if reference in chain:
            raise ValueError(f'config reference {reference} refers to itself: '
                             f'{" -> ".join(chain + [reference])}')
        target = _lookup(cfg_dict, reference[2:-1], reference)
        resolved[reference] = _resolve(target, cfg_dict, chain + [reference])
    if len(references) == 1 and references[0] == value:  # the whole string: the value as it is
        return resolved[value]
    for reference, target in resolved.items():
        if isinstance(target, (dict, list, tuple)):
            raise TypeError(f'config reference {reference} inside the string {value!r} names a '
                            f'{type(target).__name__}; only a whole-string "{reference}" may '
                            'name a dict, list or tuple')
        value = value.replace(reference, str(target))
    return value


def replace_cfg_vals(ori_cfg: Config) -> Config:
    """A new config with each ``"${key0.key1}"`` string replaced by ``cfg.key0.key1`` (its value,
    of any type), and each ``${...}`` inside a longer string by the value's ``str``.

    References inside referenced values are resolved too (MMDetection 2.28 leaves them as they
    are); a cycle, a missing key, or a dict/list/tuple inside a longer string raises an error naming
    the reference. As in 2.28, a ``model_wrapper`` key then replaces ``model``.
    """
    cfg_dict = ori_cfg._cfg_dict.to_dict()
    updated = Config(_resolve(cfg_dict, cfg_dict, []), filename=ori_cfg.filename)
    if updated.get('model_wrapper', None) is not None:
        updated.model = updated.model_wrapper
        updated.pop('model_wrapper')
    return updated


def _replace_in_strings(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _replace_in_strings(value, old, new)
    elif isinstance(node, list):
        node[:] = [_replace_in_strings(item, old, new) for item in node]
    elif isinstance(node, str):
        return node.replace(old, new)
    return node


def update_data_root(cfg: Config, logger: Optional[Any] = None) -> None:
    """With ``MMDET_DATASETS`` set, replace ``cfg.data_root`` by it in every string of ``cfg.data``
    (``data/coco/`` -> ``$MMDET_DATASETS`` in ``ann_file``, ``img_prefix``...) and in
    ``cfg.data_root``; without it, do nothing. In place, as MMDetection 2.28's.

    Strings inside lists (a list of ``ann_file``) are replaced too; 2.28 skips them. A config
    without a top-level ``data_root`` string raises ``KeyError`` (2.28: AttributeError).
    """
    if not isinstance(cfg, Config):
        raise TypeError(f'cfg got wrong type: {type(cfg).__name__}, expected mmcv.Config')
    dst_root = os.environ.get('MMDET_DATASETS')
    if dst_root is None:
        return
    print_log(f'MMDET_DATASETS has been set to be {dst_root}.Using {dst_root} as data root.',
              logger=logger)
    src_root = cfg.get('data_root', None)
    if not isinstance(src_root, str) or not src_root:
        raise KeyError(f'MMDET_DATASETS is set ({dst_root}) but the config has no data_root '
                       f'string to replace (data_root = {src_root!r}); unset MMDET_DATASETS or '
                       'set data_root')
    if isinstance(cfg.get('data', None), (dict, ConfigDict)):
        _replace_in_strings(cfg.data, src_root, dst_root)
    cfg.data_root = dst_root
