"""What the command-line tools share: config loading, ``--cfg-options``, error reporting."""
import importlib
import os
import os.path as osp
import re
import sys
import warnings

import torch
from mmcv import Config, DictAction

from .replace_cfg_vals import replace_cfg_vals, update_data_root


class StrictDictAction(DictAction):
    """mmcv's DictAction that rejects a token without ``=`` with an argparse error."""

    def __call__(self, parser, namespace, values, option_string=None):
        malformed = [token for token in values if '=' not in token]
        if malformed:
            parser.error(f'{option_string} expects KEY=VALUE pairs, got {", ".join(malformed)}')
        super().__call__(parser, namespace, values, option_string)


def add_launcher_arguments(parser) -> None:
    """``--launcher`` and the local rank flag in both spellings launchers use."""
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local_rank (torch < 2) or --local-rank (torch >= 2).
    parser.add_argument('--local_rank', '--local-rank', dest='local_rank', type=int, default=0)


def export_local_rank(args) -> None:
    """``LOCAL_RANK`` from the flag when the launcher did not export it (torchrun does)."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def import_custom_modules(custom_imports, config_path: str) -> None:
    """Import ``custom_imports`` (from the current directory too), naming what failed."""
    imports = custom_imports.get('imports', [])
    imports = [imports] if isinstance(imports, str) else imports
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in imports:
        try:
            importlib.import_module(name)
        except ImportError as error:
            if custom_imports.get('allow_failed_imports', False):
                warnings.warn(f'{name} failed to import and is ignored.', UserWarning)
                continue
            raise ImportError(f'custom_imports in {config_path}: cannot import {name!r}: '
                              f'{error}') from None


def load_config(path: str, cfg_options=None) -> Config:
    """``Config.fromfile``, its ``${key}`` references resolved (``replace_cfg_vals``) and its
    ``data_root`` replaced by ``$MMDET_DATASETS`` if set (``update_data_root``), then
    ``--cfg-options``, ``custom_imports`` and ``cudnn_benchmark``: MMDetection 2.28's order."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = replace_cfg_vals(Config.fromfile(path, import_custom_modules=False))
    update_data_root(cfg)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports', None):
        import_custom_modules(cfg.custom_imports, path)
    if cfg.get('cudnn_benchmark', False):
        torch.backends.cudnn.benchmark = True
    return cfg


def require_config_keys(cfg: Config, path: str, *keys: str) -> None:
    """Raise ``KeyError`` naming the first dotted key (``'data.test'``) the config lacks."""
    for key in keys:
        node = cfg
        for part in key.split('.'):
            if not hasattr(node, 'get') or node.get(part, None) is None:
                raise KeyError(f'config file {path} has no {key}')
            node = node.get(part)


# How torch re-raises a loader worker's exception in the main process: the worker's whole
# traceback becomes the message.
_WORKER_ERROR = re.compile(r'Caught (\w+) (in DataLoader worker process \d+)\.\nOriginal Traceback')


def error_message(error: BaseException) -> str:
    """``error``'s message for one console line; for a loader worker's error re-raised by torch,
    the worker's own message (its traceback stays in the .log file), and where it came from."""
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    match = _WORKER_ERROR.match(message)
    if match is None:
        return message
    lines = message.rstrip('\n').splitlines()
    # the worker's message starts on the traceback's last line naming its type (maybe qualified)
    header = re.compile(rf'^(?:[\w.]+\.)?{match.group(1)}(?:: (.*))?$')
    for start in reversed(range(len(lines))):
        found = header.match(lines[start])
        if found:
            text = '\n'.join([found.group(1) or ''] + lines[start + 1:])
            return f'{text} ({match.group(2)})'
    return message


def run_cli(main, prog: str, argv=None) -> int:
    """Run ``main(argv)``; an error becomes one message on stderr and exit status 1."""
    try:
        main(argv)
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - reported as a message, traceback on request
        if getattr(error, 'exit_code', None) is not None:  # an expected stop, e.g. preemption
            print(f'{prog}: {error}', file=sys.stderr)
            return error.exit_code
        if os.environ.get('MMDET_LITE_TRACEBACK'):
            raise
        print(f'{prog}: error: {type(error).__name__}: {error_message(error)}', file=sys.stderr)
        print('(set MMDET_LITE_TRACEBACK=1 for the full traceback; a training run, and a test run '
              'given --work-dir, also keep it in their .log file)', file=sys.stderr)
        return 1
    return 0
