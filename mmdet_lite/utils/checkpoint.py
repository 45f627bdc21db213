"""Safe checkpoint loading: every local checkpoint goes through ``torch.load(weights_only=True)``.

``mmdet_lite.compat`` registers :func:`load_from_local` as mmcv's loader of local paths, so
``mmcv.runner.load_checkpoint``, ``runner.resume``, ``load_from`` and
``init_cfg=dict(type='Pretrained')`` all load safely, with errors that name the file instead of a
pickle traceback. Also here: finding the newest checkpoint of a work_dir, and resuming a runner.
"""
import ast
import os
import os.path as osp
import pickle
import re

import torch
from mmcv.runner import load_checkpoint as _mmcv_load_checkpoint

from .atomic_io import atomic_write_bytes


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, unreadable or needs unsafe unpickling."""


def _unsafe_reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if 'Unsupported global' in line or 'Unsupported operand' in line:
            return line
    return lines[0] if lines else type(error).__name__


def load_from_local(filename: str, map_location=None) -> dict:
    """A local checkpoint read with ``torch.load(weights_only=True)``; ``CheckpointError`` names the file."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise CheckpointError(f'checkpoint file {filename} does not exist')
    try:
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


def load_checkpoint(model, filename, map_location='cpu', strict=False, logger=None,
                    revise_keys=((r'^module\.', ''),)):
    """mmcv's ``load_checkpoint`` (same arguments and return value), through the safe loader."""
    return _mmcv_load_checkpoint(model, filename, map_location=map_location, strict=strict,
                                 logger=logger, revise_keys=list(revise_keys))


def check_checkpoint(filename: str) -> None:
    """Raise ``CheckpointError`` now if a local checkpoint is missing, corrupt or unsafe."""
    if '://' not in filename:
        load_from_local(filename, map_location='cpu')


LAST_CHECKPOINT_FILE = 'last_checkpoint'


def write_last_checkpoint_pointer(checkpoint_path: str) -> None:
    """Point ``last_checkpoint`` beside ``checkpoint_path`` at it (atomically: call it only once the
    checkpoint is completely written, and the pointer never names a partial file)."""
    atomic_write_bytes(osp.basename(checkpoint_path).encode() + b'\n',
                       osp.join(osp.dirname(checkpoint_path), LAST_CHECKPOINT_FILE))


def find_latest_checkpoint(work_dir: str, logger=None):
    """The newest complete checkpoint in ``work_dir``, or None.

    Looks at the ``last_checkpoint`` pointer, then ``latest.pth``, then the highest
    ``epoch_N.pth`` / ``iter_N.pth``; a candidate that does not load is skipped.
    """
    candidates = []
    pointer = osp.join(work_dir, LAST_CHECKPOINT_FILE)
    if osp.isfile(pointer):
        with open(pointer) as f:
            candidates.append(osp.join(work_dir, f.read().strip()))
    candidates.append(osp.join(work_dir, 'latest.pth'))
    numbered = []
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        match = re.fullmatch(r'(epoch|iter)_(\d+)\.pth', name)
        if match:
            numbered.append((int(match.group(2)), name))
    candidates += [osp.join(work_dir, name) for _, name in sorted(numbered, reverse=True)]
    for path in candidates:
        if not osp.isfile(path):
            continue
        try:
            check_checkpoint(path)
        except CheckpointError as error:
            if logger is not None:
                logger.warning(f'auto-resume skips {path}: {error}')
            continue
        return osp.realpath(path)
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
    at its next iteration.
    """
    from mmcv.runner import IterBasedRunner
    checkpoint = runner.load_checkpoint(filename, map_location=map_location)
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
