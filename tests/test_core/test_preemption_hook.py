"""PreemptionHook with several ranks: the agreement on where to stop is read one check late inside
an epoch (no iteration waits for the all-reduce) and at once at an epoch's end. (Signals, saving
and resuming: tests/test_tools/test_interruption.py.)"""
import signal
import time
from types import SimpleNamespace

import pytest
import torch.distributed as dist

from mmdet_lite.core.hook import PreemptionHook


@pytest.fixture
def process_group():
    """A one-process gloo group: the runner below says 2 ranks, the all-reduce runs on this one."""
    dist.init_process_group('gloo', store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_a_signal_is_acted_on_one_check_late_inside_an_epoch(process_group):
    hook, runner = PreemptionHook(), SimpleNamespace(world_size=2)
    assert not hook._stop_requested(runner)
    hook.received = (signal.SIGTERM, time.monotonic())
    assert not hook._stop_requested(runner)  # reads the all-reduce sent before the signal
    assert hook._stop_requested(runner)


def test_a_signal_is_acted_on_at_once_at_an_epochs_end(process_group):
    hook, runner = PreemptionHook(), SimpleNamespace(world_size=2)
    assert not hook._stop_requested(runner)
    hook.received = (signal.SIGTERM, time.monotonic())
    assert hook._stop_requested(runner, wait=True)
    assert hook._pending is None


def test_one_process_reads_its_own_flag_at_once():
    hook = PreemptionHook()
    hook.received = (signal.SIGTERM, time.monotonic())
    assert hook._stop_requested(SimpleNamespace(world_size=1))
