"""profile_train_step.py: host time, sync points and per-image loops, on steps with known answers."""
import inspect
import time

import pytest
import torch
from torch.profiler import ProfilerActivity

from mmdet_lite.core.utils import misc
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


def test_sync_points_are_counted_at_the_mmdet_lite_function_that_calls_them(profiler):
    line = inspect.getsourcelines(misc.unmap)[1]  # the profiler's Python events name a function by its def line

    function = f'mmdet_lite/core/utils/misc.py:{line} unmap'

    def unmap_calls(num_calls):
        def step():
            for _ in range(num_calls):
                misc.unmap(torch.ones(2), 4, torch.tensor([True, False, True, False]))
        return step

    ops_once, syncs_once = profiler.ops_by_line(unmap_calls(1), [ProfilerActivity.CPU])
    ops, syncs = profiler.ops_by_line(unmap_calls(3), [ProfilerActivity.CPU])
    assert syncs_once == {(function, 'nonzero / boolean-mask indexing'): 1}
    assert syncs == {(function, 'nonzero / boolean-mask indexing'): 3}
    assert ops[function] == 3 * ops_once[function] > 0


def test_per_image_lines_are_those_whose_operators_double_with_the_batch(profiler):
    at_n = {'a.py:1 per_image': 10, 'b.py:2 batched': 7, 'c.py:3 mostly_per_image': 5}
    at_2n = {'a.py:1 per_image': 20, 'b.py:2 batched': 7, 'c.py:3 mostly_per_image': 9, 'd.py:4 new': 4}
    assert profiler.per_image_lines(at_n, at_2n, num_imgs=2) == [('a.py:1 per_image', 10, 20),
                                                                 ('c.py:3 mostly_per_image', 5, 9), ('d.py:4 new', 0, 4)]
