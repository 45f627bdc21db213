"""Helpers for state-dict tests: expected (name, shape) entries written out from MMDetection 2.28's rules."""
from typing import List, Sequence, Tuple

import torch.nn as nn

Entry = Tuple[str, Tuple[int, ...]]
BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def bn_entries(prefix: str, channels: int) -> List[Entry]:
    """The five entries of a BatchNorm named ``prefix``."""
    return [(f'{prefix}.{name}', () if name == 'num_batches_tracked' else (channels, )) for name in BN]


def conv_entry(name: str, out_channels: int, in_per_group: int, kernel: int) -> List[Entry]:
    return [(f'{name}.weight', (out_channels, in_per_group, kernel, kernel))]


def entries_of(model: nn.Module) -> List[Entry]:
    return [(name, tuple(value.shape)) for name, value in model.state_dict().items()]


def assert_entries(model: nn.Module, expected: Sequence[Entry]) -> None:
    """Same names, shapes and order; on mismatch the message names the first differing entry."""
    actual = entries_of(model)
    for i, (got, want) in enumerate(zip(actual, expected)):
        assert got == want, f'entry {i}: got {got}, expected {want}'
    assert len(actual) == len(expected), f'{len(actual)} entries, expected {len(expected)}'
