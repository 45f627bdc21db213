"""profile_train_step.py: host time, sync points and per-image loops, on steps with known answers."""
import importlib
import importlib.util
import sys
import time

import pytest
import torch
from torch.profiler import ProfilerActivity

from tests.conftest import load_tool


@pytest.fixture(scope='module')
def profiler():
    return load_tool('analysis_tools/profile_train_step.py')


def test_host_time_is_the_python_time_between_operators(profiler):
    matrix = torch.randn(64, 64)

    def step():
        time.sleep(0.03)  # host work the device would wait for
        (matrix @ matrix).sum()

    wall_ms, host_ms, num_ops = profiler.host_time(step, 2, [ProfilerActivity.CPU])
    assert 30 <= host_ms <= wall_ms and num_ops == 2  # mm and sum, once per step


PROBE = """import torch


def scatter_back(values, mask):
    out = values.new_zeros(mask.shape[0])
    out[mask] = values  # boolean-mask indexing: a nonzero(), a sync on a GPU
    first = out[:1].tolist()  # a device-to-host copy that runs no operator on a CPU
    return out.sum().item() + first[0]  # a device-to-host read
"""


def test_sync_points_are_counted_at_the_mmdet_lite_function_that_calls_them(profiler, tmp_path):
    # a module whose path holds 'mmdet_lite/', as the project's own functions do
    (tmp_path / 'mmdet_lite').mkdir()
    (tmp_path / 'mmdet_lite' / 'probe.py').write_text(PROBE)
    spec = importlib.util.spec_from_file_location('profile_probe', tmp_path / 'mmdet_lite' / 'probe.py')
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    function = 'mmdet_lite/probe.py:4 scatter_back'  # the profiler names a function by its def line

    def probe_calls(num_calls):
        def step():
            for _ in range(num_calls):
                probe.scatter_back(torch.ones(2), torch.tensor([True, False, True, False]))
        return step

    ops_once, syncs_once = profiler.ops_by_line(probe_calls(1), [ProfilerActivity.CPU])
    ops, syncs = profiler.ops_by_line(probe_calls(3), [ProfilerActivity.CPU])
    assert syncs_once == {(function, 'nonzero / boolean-mask indexing'): 1,
                          (function, 'item()/bool()/int() of a tensor'): 1,
                          (function, 'tolist() of a tensor'): 1}
    assert syncs == {key: 3 for key in syncs_once}
    assert ops[function] == 3 * ops_once[function] > 0
    assert 'tolist' not in vars(torch.Tensor)  # the counting wrapper is removed again


OUTER = """from .ops.inner import inner


def fail(x):
    x.sum()
    raise ValueError('caught by the caller')


def outer(x):
    try:
        fail(x)
    except ValueError:
        pass
    return inner(x)
"""


def test_operators_go_to_the_caller_of_ops_and_after_an_exception_to_the_right_function(profiler, tmp_path):
    # functions under ops/ are attributed to their caller; a function left by an exception closes its range
    package = tmp_path / 'mmdet_lite'
    (package / 'ops').mkdir(parents=True)
    (package / '__init__.py').write_text('')
    (package / 'ops' / '__init__.py').write_text('')
    (package / 'ops' / 'inner.py').write_text('def inner(x):\n    return x.nonzero()\n')
    (package / 'outer.py').write_text(OUTER)
    spec = importlib.util.spec_from_file_location('probe_pkg', package / '__init__.py',
                                                  submodule_search_locations=[str(package)])
    sys.modules['probe_pkg'] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules['probe_pkg'])
    try:
        outer = importlib.import_module('probe_pkg.outer')
        x = torch.tensor([0., 1.])
        ops, syncs = profiler.ops_by_line(lambda: outer.outer(x), [ProfilerActivity.CPU])
    finally:
        for name in [name for name in sys.modules if name.startswith('probe_pkg')]:
            del sys.modules[name]
    assert syncs == {('mmdet_lite/outer.py:9 outer', 'nonzero / boolean-mask indexing'): 1}
    assert ops == {'mmdet_lite/outer.py:4 fail': 1, 'mmdet_lite/outer.py:9 outer': 1}  # sum, nonzero


def test_per_image_lines_are_those_whose_operators_double_with_the_batch(profiler):
    at_n = {'a.py:1 per_image': 10, 'b.py:2 batched': 7, 'c.py:3 mostly_per_image': 5}
    at_2n = {'a.py:1 per_image': 20, 'b.py:2 batched': 7, 'c.py:3 mostly_per_image': 9, 'd.py:4 new': 4}
    assert profiler.per_image_lines(at_n, at_2n, num_imgs=2) == [('a.py:1 per_image', 10, 20),
                                                                 ('c.py:3 mostly_per_image', 5, 9), ('d.py:4 new', 0, 4)]


def test_every_row_builds_from_the_profilers_arguments(profiler):
    # the rows are benchmark_train.py's: each must find every argument it reads in the profiler's
    args = profiler.parse_args(['--warmup', '0', '--rows', 'mmdet_lite', 'torchvision'])
    for name in args.rows:
        row = profiler._build(name, (1, 3, 64, 64), args)
        assert row is not None


def test_benchmark_targets_times_each_part_both_ways(capsys):
    from mmdet_lite.models.dense_heads import AnchorHead, RPNHead
    from mmdet_lite.models.roi_heads import StandardRoIHead
    # the switches the script flips between the per-image and the batched path
    assert callable(AnchorHead._batched_targets_apply) and callable(StandardRoIHead._batched_sampling_applies)
    assert RPNHead.nms_images_at_once is False
    tool = load_tool('analysis_tools/benchmark_targets.py')
    tool.main(['--size', '64', '96', '--batch-sizes', '2', '--repeats', '1', '--boxes', '2'])
    rows = [line.split('|')[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith('| ')][1:]
    assert [row[0].strip().split(' (')[0] for row in rows] == ['RPN loss', 'RPN proposals', 'RoI assignment and sampling']
    assert all(row[1].strip() == '2' and float(row[2]) > 0 and float(row[3]) > 0 for row in rows)
