"""Safe checkpoint loading: every local checkpoint goes through ``torch.load(weights_only=True)``.

``mmdet_lite.compat`` registers :func:`load_from_local` as mmcv's loader of local paths, so
``mmcv.runner.load_checkpoint``, ``runner.resume``, ``load_from`` and
``init_cfg=dict(type='Pretrained')`` all load safely, with errors that name the file instead of a
pickle traceback. Also here: how a state_dict fits a model (one line of counts for non-strict loads,
a refusal for a resume from another model), finding the newest checkpoint of a work_dir, and
resuming a runner.
"""
import ast
import logging
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import torch
from mmcv.parallel import is_module_wrapper
from mmcv.runner import get_dist_info
from mmcv.runner import load_checkpoint as _mmcv_load_checkpoint
from mmcv.runner.checkpoint import _load_checkpoint
from mmcv.utils import print_log

from .atomic_io import atomic_write_bytes


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, unreadable or needs unsafe unpickling."""


def _unsafe_reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if 'Unsupported global' in line or 'Unsupported operand' in line:
            return line
    return lines[0] if lines else type(error).__name__


def load_from_local(filename: str, map_location=None, mmap: bool = False) -> dict:
    """A local checkpoint read with ``torch.load(weights_only=True)``; ``CheckpointError`` names the file.

    ``mmap=True`` maps the tensors' storage instead of reading it (cheap for a check of names and
    shapes); a file in torch's legacy format, which cannot be mapped, is read whole.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise CheckpointError(f'checkpoint file {filename} does not exist')
    try:
        try:
            return torch.load(filename, map_location=map_location, weights_only=True, mmap=mmap)
        except RuntimeError as error:
            if not (mmap and 'mmap can only be used' in str(error)):
                raise
        return torch.load(filename, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch.load fails in many ways on a bad file
        if isinstance(error, pickle.UnpicklingError) and 'Weights only load failed' in str(error):
            raise CheckpointError(
                f'checkpoint file {filename} was refused: it holds objects that only unsafe '
                f'unpickling can rebuild ({_unsafe_reason(error)}). mmdet_lite loads '
                'checkpoints with torch.load(weights_only=True); re-save it with tensors and '
                'plain Python values only.') from None
        raise CheckpointError(f'checkpoint file {filename} is truncated or corrupt '
                              f'({type(error).__name__}: {_unsafe_reason(error)})') from None


@dataclass
class StateDictMatch:
    """How a source state_dict fits a model's (BN ``num_batches_tracked`` counters left out, as mmcv
    leaves them out of its missing keys). ``mismatched`` holds (key, source shape, model shape)."""
    model_name: str
    num_model: int
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, list, list]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe_mismatched(self, limit: int = 3) -> str:
        return '; '.join(f'{key}: checkpoint {source}, model {target}'
                         for key, source, target in self.mismatched[:limit])

    def summary(self, limit: int = 3) -> str:
        """One line: the four counts, and the first keys of each kind that did not load."""
        line = (f'loaded {len(self.loaded)} of {self.num_model} tensors of {self.model_name}, '
                f'{len(self.missing)} missing, {len(self.unexpected)} unexpected, '
                f'{len(self.mismatched)} shape-mismatched')
        examples = [f'{kind}: {", ".join(keys[:limit])}'
                    for kind, keys in (('missing', self.missing), ('unexpected', self.unexpected)) if keys]
        if self.mismatched:
            examples.append(f'shape-mismatched: {self.describe_mismatched(limit)}')
        return line + (f' ({"; ".join(examples)})' if examples else '')


def _counted(key: str) -> bool:
    return not key.endswith('num_batches_tracked')


def match_state_dict(model: torch.nn.Module, state_dict: dict) -> StateDictMatch:
    """Compare the names and shapes of ``state_dict`` with ``model``'s, reading no tensor data."""
    model = model.module if is_module_wrapper(model) else model
    target = {key: value for key, value in model.state_dict().items() if _counted(key)}
    match = StateDictMatch(type(model).__name__, len(target))
    for key, value in state_dict.items():
        if not _counted(key):
            continue
        if key not in target:
            match.unexpected.append(key)
            continue
        source_shape, target_shape = getattr(value, 'shape', None), target[key].shape
        if source_shape is not None and source_shape != target_shape:
            match.mismatched.append((key, list(source_shape), list(target_shape)))
        else:
            match.loaded.append(key)
    match.missing = [key for key in target if key not in state_dict]
    return match


def load_state_dict_reporting(module: torch.nn.Module, state_dict: dict, source: str,
                              logger=None) -> StateDictMatch:
    """mmcv's non-strict ``load_state_dict`` (what fits is loaded, a shape mismatch is skipped),
    reporting one line of counts naming ``source`` instead of mmcv's list of every key."""
    module = module.module if is_module_wrapper(module) else module
    match = match_state_dict(module, state_dict)
    skipped = {key for key, _, _ in match.mismatched}
    fitting = _keep_metadata(OrderedDict((key, value) for key, value in state_dict.items()
                                         if key not in skipped), state_dict)
    module.load_state_dict(fitting, strict=False)
    if get_dist_info()[0] == 0:
        print_log(f'{source}: {match.summary()}', logger=logger,
                  level=logging.INFO if match.exact else logging.WARNING)
    return match


def _state_dict_of(checkpoint, filename: str, revise_keys=((r'^module\.', ''),)) -> OrderedDict:
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'checkpoint file {filename} holds no state_dict '
                              f'(a {type(checkpoint).__name__})')
    state_dict = checkpoint.get('state_dict', checkpoint)
    revised = OrderedDict()
    for key, value in state_dict.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    return _keep_metadata(revised, state_dict)


def _keep_metadata(new: OrderedDict, source) -> OrderedDict:
    """``new`` with ``source``'s ``_metadata`` (module versions that ``load_state_dict`` reads)."""
    metadata = getattr(source, '_metadata', None)
    if metadata is not None:
        new._metadata = metadata
    return new


def load_checkpoint_matched(model, filename, map_location='cpu', logger=None,
                            revise_keys=((r'^module\.', ''),)) -> Tuple[dict, StateDictMatch]:
    """A non-strict load of ``filename`` into ``model``: the checkpoint, and how its weights fit."""
    checkpoint = _load_checkpoint(filename, map_location, logger)
    state_dict = _state_dict_of(checkpoint, filename, revise_keys)
    return checkpoint, load_state_dict_reporting(model, state_dict, f'checkpoint file {filename}', logger)


def load_checkpoint(model, filename, map_location='cpu', strict=False, logger=None,
                    revise_keys=((r'^module\.', ''),)):
    """mmcv's ``load_checkpoint`` (same arguments and return value), through the safe loader; a
    non-strict load logs one line of counts (see :func:`load_state_dict_reporting`)."""
    if strict:
        return _mmcv_load_checkpoint(model, filename, map_location=map_location, strict=True,
                                     logger=logger, revise_keys=list(revise_keys))
    return load_checkpoint_matched(model, filename, map_location, logger, revise_keys)[0]


def check_checkpoint(filename: str) -> Optional[dict]:
    """Raise ``CheckpointError`` now if a local checkpoint is missing, corrupt or unsafe. Returns it
    memory-mapped (its tensors are read only if used), or None for a URL."""
    if '://' in filename:
        return None
    return load_from_local(filename, map_location='cpu', mmap=True)


def check_fits_model(model: torch.nn.Module, filename: str, checkpoint: Optional[dict] = None) -> None:
    """Refuse to resume ``model`` from a checkpoint of another model: raise ``CheckpointError`` when
    any tensor's shape differs, or more than half of the model's tensors are missing.

    ``checkpoint`` is the file as :func:`check_checkpoint` returned it (loaded again if None)."""
    if checkpoint is None:
        checkpoint = check_checkpoint(filename)
        if checkpoint is None:
            return
    match = match_state_dict(model, _state_dict_of(checkpoint, filename))
    problems = []
    if match.mismatched:
        problems.append(f'{len(match.mismatched)} of its tensors have other shapes than the '
                        f'model\'s ({match.describe_mismatched()})')
    if 2 * len(match.missing) > match.num_model:
        problems.append(f'{len(match.missing)} of the model\'s {match.num_model} tensors are '
                        f'missing ({", ".join(match.missing[:3])})')
    if problems:
        raise CheckpointError(
            f'checkpoint file {filename} does not fit {match.model_name}: {"; ".join(problems)}. '
            'Was it saved with another config? To start from its weights instead, use load_from')


LAST_CHECKPOINT_FILE = 'last_checkpoint'


def write_last_checkpoint_pointer(checkpoint_path: str) -> None:
    """Point ``last_checkpoint`` beside ``checkpoint_path`` at it (atomically: call it only once the
    checkpoint is completely written, and the pointer never names a partial file)."""
    atomic_write_bytes(osp.basename(checkpoint_path).encode() + b'\n',
                       osp.join(osp.dirname(checkpoint_path), LAST_CHECKPOINT_FILE))


def _candidates(work_dir: str, suffix: str, warn: Callable[[str], None]) -> List[str]:
    """The existing checkpoint files of ``work_dir``, most preferred first."""
    candidates = []
    pointer = osp.join(work_dir, LAST_CHECKPOINT_FILE)
    if osp.isfile(pointer):
        with open(pointer) as f:
            target = osp.join(work_dir, f.read().strip())
        if osp.isfile(target):
            candidates.append(target)
        else:
            warn(f'auto-resume: {pointer} names {target}, which does not exist')
    candidates.append(osp.join(work_dir, f'latest.{suffix}'))
    numbered = []
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        match = re.fullmatch(rf'(epoch|iter)_(\d+)\.{re.escape(suffix)}', name)
        if match:
            numbered.append((int(match.group(2)), name))
    candidates += [osp.join(work_dir, name) for _, name in sorted(numbered, reverse=True)]
    existing = {}  # one entry per file: the pointer and latest.pth name a numbered one
    for path in candidates:
        if osp.isfile(path):
            existing.setdefault(osp.realpath(path), path)
    return list(existing.values())


def find_latest_checkpoint(path: str, suffix: str = 'pth', *,
                           warn: Optional[Callable[[str], None]] = None,
                           model: Optional[torch.nn.Module] = None, start_fresh: bool = False):
    """The newest complete checkpoint in the work_dir ``path``, or None when it holds none
    (MMDetection 2.28's name and first two arguments).

    Looks at the ``last_checkpoint`` pointer, then ``latest.{suffix}``, then the highest
    ``epoch_N.{suffix}`` / ``iter_N.{suffix}``. A candidate that does not load, or (given
    ``model``) does not fit it, is skipped with a ``warn`` message. When every candidate is refused, raises
    ``CheckpointError`` listing them, or returns None with ``start_fresh``.
    """
    warn = warn or (lambda message: None)
    refusals = []
    for candidate in _candidates(path, suffix, warn):
        try:
            checkpoint = check_checkpoint(candidate)
            if model is not None:
                check_fits_model(model, candidate, checkpoint)
        except CheckpointError as error:
            warn(f'auto-resume skips {candidate}: {error}')
            refusals.append(str(error))
            continue
        return osp.realpath(candidate)
    if refusals and not start_fresh:
        listing = ''.join(f'\n  - {reason}' for reason in refusals)
        raise CheckpointError(
            f'auto-resume: every checkpoint in {path} was refused:{listing}\nMove them away, '
            'resume one with --resume-from, or pass --start-fresh-if-refused to train from '
            'scratch (the new run then overwrites their names)')
    return None


def _gpu_ids_in_config_text(config_text: str):
    """``gpu_ids`` of a dumped config, read without executing the config (None if absent)."""
    match = re.search(r'^gpu_ids = (.+)$', config_text, flags=re.MULTILINE)
    if match is None:
        return None
    value = match.group(1).strip()
    as_range = re.fullmatch(r'range\((\d+), (\d+)\)', value)
    if as_range:
        return list(range(int(as_range.group(1)), int(as_range.group(2))))
    try:
        return list(ast.literal_eval(value))
    except (ValueError, SyntaxError, TypeError):
        return None


def resume_runner(runner, filename: str, map_location='cpu') -> None:
    """Resume an mmcv runner from ``filename``: weights, optimizer, counters and ``meta``.

    The semantics of mmcv's ``BaseRunner.resume``, with three differences. The checkpoint's
    dumped config is read for its ``gpu_ids`` without being executed (mmcv runs it as
    Python, which would undo safe loading). An IterBasedRunner resumes after the saved
    iteration: mmcv records ``iter`` before its counter moves on, so ``iter_4.pth`` says 3
    and mmcv's own resume repeats that iteration. And a checkpoint taken inside an epoch
    (``meta['inner_iter']``, see ``mmdet_lite.compat.epoch_based_runner``) resumes that epoch
    at its next iteration. A checkpoint of another model is refused (:func:`check_fits_model`).
    """
    from mmcv.runner import IterBasedRunner
    check_fits_model(runner.model, filename)
    checkpoint = load_checkpoint(runner.model, filename, map_location=map_location,
                                 logger=runner.logger)
    meta = checkpoint.get('meta')
    if not isinstance(meta, dict) or not {'epoch', 'iter'} <= set(meta):
        raise CheckpointError(f'checkpoint file {filename} has no meta epoch/iter to resume '
                              'from; use load_from to start from its weights')
    runner._epoch = meta['epoch']
    runner._iter = meta['iter']
    if isinstance(runner, IterBasedRunner):
        runner._iter += 1
        runner._inner_iter = runner._iter
    previous_gpu_ids = _gpu_ids_in_config_text(meta.get('config', ''))
    inner_iter = meta.pop('inner_iter', 0)  # where this run starts, not what its own saves record
    if inner_iter:
        _resume_inside_epoch(runner, filename, inner_iter, previous_gpu_ids)
    if previous_gpu_ids and len(previous_gpu_ids) != runner.world_size:
        runner._iter = int(runner._iter * len(previous_gpu_ids) / runner.world_size)
        runner.logger.info('the iteration number is changed due to change of GPU number')
    meta.setdefault('hook_msgs', {})
    runner.meta = meta
    if 'optimizer' in checkpoint:
        if isinstance(runner.optimizer, dict):
            for name, optimizer in runner.optimizer.items():
                optimizer.load_state_dict(checkpoint['optimizer'][name])
        else:
            runner.optimizer.load_state_dict(checkpoint['optimizer'])
    runner.logger.info('resumed epoch %d, iter %d', runner.epoch, runner.iter)


def _resume_inside_epoch(runner, filename: str, inner_iter: int, previous_gpu_ids) -> None:
    if not hasattr(runner, 'resume_inner_iter'):
        raise CheckpointError(f'checkpoint file {filename} was taken inside an epoch (after its '
                              f'iteration {inner_iter}); {type(runner).__name__} cannot resume there')
    if previous_gpu_ids and len(previous_gpu_ids) != runner.world_size:
        raise CheckpointError(
            f'checkpoint file {filename} was taken inside an epoch by {len(previous_gpu_ids)} '
            f'processes; resume it with {len(previous_gpu_ids)}, or from an epoch_N.pth')
    runner.resume_inner_iter = inner_iter
