"""Profile one Faster R-CNN training step: host time, host-device sync points and per-image Python loops.

    python tools/analysis_tools/profile_train_step.py [--shape 2 3 512 672] [--steps 3] [--warmup 2]
        [--device cpu|cuda] [--rows mmdet_lite torchvision ...] [--top 15] [--trace DIR]

The rows are ``benchmark_train.py``'s (mmdet_lite's step and torchvision's ``fasterrcnn_resnet50_fpn``
on the same random batch). For each row it reports, per training step:

* wall time, and **host time**: the step's wall time minus the time spent inside its top-level tensor
  operators (from ``torch.profiler``), i.e. Python, module calls and per-image loops between kernels
  (on a GPU, the time in which the host issues no work);
* **sync points**: operators that make the host wait for a device result (``item()``/``bool()`` reads,
  ``nonzero`` and boolean indexing, ``masked_select``, ``unique``) and ``Tensor.tolist()`` / ``numpy()``
  calls (counted in Python: on a CPU they run no operator), each attributed to the innermost
  mmdet_lite (or torchvision) function that called it, named ``file:def-line function``. On a CPU these are the calls that would
  synchronise on a GPU; with ``--device cuda`` torch's CUDA sync-debug mode reports the real ones too;
* **per-image loops**: functions whose operator count per step grows with the batch (the step is
  profiled at N and at 2N images; a function issuing 2x the operators at 2N runs once per image).

``--trace DIR`` also writes a Chrome trace per row, viewable in chrome://tracing or Perfetto.
"""
import argparse
import collections
import contextlib
import logging
import os.path as osp
import re
import statistics
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # benchmark_train, which sets up process_env
import benchmark_train  # noqa: E402  (before torch: it applies tools/process_env.py)

import torch  # noqa: E402
from mmcv.utils import get_logger  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402

from mmdet_lite.utils.cli import run_cli  # noqa: E402
from mmdet_lite.utils.dist import check_device  # noqa: E402

# Operators whose result the host reads back, or whose output size depends on tensor values.
SYNC_OPS = {
    'aten::_local_scalar_dense': 'item()/bool()/int() of a tensor',
    'aten::nonzero': 'nonzero / boolean-mask indexing',
    'aten::masked_select': 'masked_select',
    'aten::_unique2': 'unique',
    'aten::unique_dim': 'unique',
    'aten::unique_consecutive': 'unique_consecutive',
}
# Host reads that run no counted operator on a CPU tensor, but copy a GPU tensor to the host (a sync).
HOST_READS = {'tolist': 'tolist() of a tensor', 'numpy': 'numpy() of a tensor'}
STEP = 'train_step'
PROJECT_FILE = re.compile(r'((?:mmdet_lite|torchvision)/[\w/]+\.py)$')
SOURCE = re.compile(r'((?:mmdet_lite|torchvision)/[\w/]+\.py)\((\d+)\): (\w+)')  # project_function_ranges' names


def _op_events(prof) -> list:
    return [e for e in prof.events() if e.name.startswith('aten::') or e.name.startswith('autograd::')]


def _nearest(event, predicate) -> Optional[object]:
    parent = event.cpu_parent
    while parent is not None and not predicate(parent):
        parent = parent.cpu_parent
    return parent


def _source_line(event) -> str:
    """The innermost mmdet_lite/torchvision function above an operator, as ``file:def-line name``."""
    parent = event.cpu_parent
    while parent is not None:
        match = SOURCE.fullmatch(parent.name)
        if match:
            return f'{match.group(1)}:{match.group(2)} {match.group(3)}'
        parent = parent.cpu_parent
    return '(backward / outside the project)'


def _project_file(code) -> Optional[str]:
    """``mmdet_lite/...py`` or ``torchvision/...py`` of a code object, None for other files and ``ops/``."""
    match = PROJECT_FILE.search(code.co_filename)
    return match.group(1) if match and '/ops/' not in match.group(1) else None


@contextlib.contextmanager
def project_function_ranges():
    """Each call of an mmdet_lite/torchvision function runs inside a profiler range named like
    ``SOURCE``, so operators are attributed to their callers without torch's own Python tracer
    (``with_stack``), which records nothing in some builds (torch 2.11 on a machine without CUDA)."""
    names: Dict[object, Optional[str]] = {}
    open_ranges: List[Tuple[object, record_function]] = []

    def tracer(frame, event, arg):
        if event == 'call':
            code = frame.f_code
            if code not in names:
                path = _project_file(code)
                # <genexpr>, <lambda>, ...: no range, their operators go to the enclosing function
                names[code] = (f'{path}({code.co_firstlineno}): {code.co_name}'
                               if path and code.co_name.isidentifier() else None)
            if names[code]:
                open_ranges.append((frame, record_function(names[code]).__enter__()))
        elif event == 'return' and open_ranges and open_ranges[-1][0] is frame:
            open_ranges.pop()[1].__exit__(None, None, None)

    previous = sys.getprofile()
    sys.setprofile(tracer)
    try:
        yield
    finally:
        sys.setprofile(previous)
        while open_ranges:
            open_ranges.pop()[1].__exit__(None, None, None)


def host_time(step: Callable[[], float], steps: int, activities: list) -> Tuple[float, float, float]:
    """(wall ms, host ms, top-level operators) per step; host = wall minus top-level operator time."""
    with profile(activities=activities) as prof:
        for _ in range(steps):
            with record_function(STEP):
                step()
    events = prof.events()
    step_events = [e for e in events if e.name == STEP]
    top_level = [e for e in _op_events(prof) if e.cpu_parent is not None and e.cpu_parent.name == STEP]
    wall_us = sum(e.time_range.elapsed_us() for e in step_events)
    ops_us = sum(e.time_range.elapsed_us() for e in top_level)
    return wall_us / steps / 1e3, (wall_us - ops_us) / steps / 1e3, len(top_level) / steps


def _calling_function() -> str:
    """The innermost mmdet_lite/torchvision function on the Python stack, named like ``_source_line``."""
    frame = sys._getframe(2)
    while frame is not None:
        path = _project_file(frame.f_code)
        if path:
            return f'{path}:{frame.f_code.co_firstlineno} {frame.f_code.co_name}'
        frame = frame.f_back
    return '(backward / outside the project)'


@contextlib.contextmanager
def counting_host_reads(syncs: collections.Counter):
    """Count ``Tensor.tolist()`` / ``numpy()`` calls into ``syncs`` per calling function: on a CPU they
    run no operator the profiler sees, on a GPU tensor each one waits for the device."""
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}
    inherited = [name for name in HOST_READS if name not in vars(torch.Tensor)]  # from torch._C.TensorBase

    def counted(name):
        def read(tensor, *args, **kwargs):
            syncs[(_calling_function(), HOST_READS[name])] += 1
            return originals[name](tensor, *args, **kwargs)
        return read

    for name in HOST_READS:
        setattr(torch.Tensor, name, counted(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            if name in inherited:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, original)


def ops_by_line(step: Callable[[], float], activities: list, trace: Optional[str] = None) -> Tuple[dict, dict]:
    """One step profiled with a range per project function call: top-level operators and sync points per
    calling function."""
    ops, syncs = collections.Counter(), collections.Counter()
    with profile(activities=activities) as prof, counting_host_reads(syncs):
        with record_function(STEP), project_function_ranges():
            step()
    if trace:
        prof.export_chrome_trace(trace)
    is_op = (lambda e: e.name.startswith('aten::'))
    for event in _op_events(prof):
        if event.name in SYNC_OPS:
            syncs[(_source_line(event), SYNC_OPS[event.name])] += 1
        if _nearest(event, is_op) is None:
            ops[_source_line(event)] += 1
    return ops, syncs


def cuda_sync_lines(step: Callable[[], float]) -> collections.Counter:
    """Lines that torch's CUDA sync-debug mode flags during one step."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('warn')
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            step()
    finally:
        torch.cuda.set_sync_debug_mode('default')
    return collections.Counter(f'{osp.relpath(w.filename)}:{w.lineno}' for w in caught
                               if 'synchroniz' in str(w.message))


def per_image_lines(ops_n: Dict[str, int], ops_2n: Dict[str, int], num_imgs: int) -> List[Tuple[str, int, int]]:
    """Functions whose operator count doubles with the batch: (function, ops at N, ops at 2N)."""
    lines = [(line, ops_n.get(line, 0), count) for line, count in ops_2n.items()
             if count - ops_n.get(line, 0) >= num_imgs and count >= 1.8 * ops_n.get(line, 0)]
    return sorted(lines, key=lambda item: item[2] - item[1], reverse=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Profile the Faster R-CNN training step')
    parser.add_argument('--shape', type=int, nargs=4, default=[2, 3, 512, 672], metavar=('N', 'C', 'H', 'W'))
    parser.add_argument('--boxes', type=int, default=3, help='ground-truth boxes per image')
    parser.add_argument('--steps', type=int, default=3, help='profiled steps per row for the host time')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per row')
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--config', default=benchmark_train.CONFIG, help='config whose model the mmdet_lite rows train')
    parser.add_argument('--rows', nargs='+', default=['mmdet_lite', 'torchvision'], choices=list(benchmark_train.ROWS))
    parser.add_argument('--top', type=int, default=15, help='lines listed per table')
    parser.add_argument('--trace', metavar='DIR', help='write a Chrome trace of one step per row here')
    args = parser.parse_args(argv)
    check_device(args.device)
    return args


def _build(name: str, shape: Tuple[int, int, int, int], args) -> benchmark_train.Row:
    torch.manual_seed(0)
    batch = benchmark_train.make_batch(shape, args.boxes, device=args.device)
    row = benchmark_train.ROWS[name](batch, args)
    for _ in range(args.warmup):
        row.step()
    return row


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.steps < 1:
        raise ValueError(f'--steps must be >= 1, got {args.steps}')
    get_logger('mmcv').setLevel(logging.WARNING)  # silence the per-parameter init report
    cuda = args.device == 'cuda'
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    shape = tuple(args.shape)
    double = (2 * shape[0], ) + shape[1:]
    where = torch.cuda.get_device_name() if cuda else f'CPU, {torch.get_num_threads()} threads'
    print(f'input {shape} (and {double} for per-image loops), {where}, torch {torch.__version__}')
    summary = []
    for name in args.rows:
        row = _build(name, shape, args)
        start = time.perf_counter()
        row.step()
        if cuda:
            torch.cuda.synchronize()
        unprofiled_ms = (time.perf_counter() - start) * 1e3
        wall_ms, host_ms, num_ops = host_time(row.step, args.steps, activities)
        trace = osp.join(args.trace, f'{name}.json') if args.trace else None
        ops_n, syncs = ops_by_line(row.step, activities, trace)
        cuda_syncs = cuda_sync_lines(row.step) if cuda else collections.Counter()
        del row
        ops_2n, _ = ops_by_line(_build(name, double, args).step, activities)
        loops = per_image_lines(ops_n, ops_2n, shape[0])
        summary.append((name, unprofiled_ms, wall_ms, host_ms, num_ops, sum(syncs.values()),
                        sum(cuda_syncs.values()), len(loops)))
        print(f'\n## {name}\n\nsync points per step (operator, calling function), top {args.top}:')
        for (line, what), count in syncs.most_common(args.top):
            print(f'  {count:5d}  {what:34s} {line}')
        if cuda:
            print(f'CUDA sync-debug mode, synchronising calls per step, top {args.top}:')
            for line, count in cuda_syncs.most_common(args.top):
                print(f'  {count:5d}  {line}')
        print(f'per-image loops: top-level operators per step at N={shape[0]} and 2N, top {args.top}:')
        for line, count_n, count_2n in loops[:args.top]:
            print(f'  {count_n:5d} -> {count_2n:5d}  {line}')
    print('\n| row | wall ms/step | profiled ms/step | host ms/step | host share | top-level ops/step '
          '| sync points/step | CUDA syncs/step | per-image functions |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for name, unprofiled_ms, wall_ms, host_ms, num_ops, num_syncs, num_cuda_syncs, num_loops in summary:
        print(f'| {name} | {unprofiled_ms:.0f} | {wall_ms:.0f} | {host_ms:.1f} | {host_ms / wall_ms:.0%} '
              f'| {num_ops:.0f} | {num_syncs} | {num_cuda_syncs if cuda else "-"} | {num_loops} |')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'profile_train_step.py'))
