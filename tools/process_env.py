"""Process-wide settings of the command-line tools, set before torch is imported.

Importing mmdet_lite changes no environment variable: settings that belong to a whole process
belong to the program that owns the process. Each tool calls :func:`apply` first thing; a value
already in the environment wins, so ``GOMP_SPINCOUNT=300000 python tools/train.py ...`` overrides
it. :func:`describe` gives the values and their origin for the log.

- ``GOMP_SPINCOUNT=10000``: torch's OpenMP threads (GNU libgomp) busy-wait ~300k spins between
  parallel regions. When other processes share the cores (loader workers, a second DDP rank on the
  same CPU, another job) the spinning threads burn their time slices. libgomp reads the variable
  once, when torch loads it. Measured in docs/benchmarks.md ("OpenMP spin count").
"""
import os
import sys
from typing import Dict

DEFAULTS = {'GOMP_SPINCOUNT': '10000'}
_origins: Dict[str, str] = {}


def apply() -> None:
    """Set each of ``DEFAULTS`` the environment does not set, and note where each value came from."""
    late = 'torch' in sys.modules  # e.g. a tool run in-process by a test: libgomp has read its value
    for name, value in DEFAULTS.items():
        if name in os.environ:
            _origins[name] = 'from the environment'
        else:
            os.environ[name] = value
            _origins[name] = ('mmdet_lite default, set after torch was imported: no effect in this '
                              'process' if late else 'mmdet_lite default')


def describe() -> Dict[str, str]:
    """``{name: 'value (origin)'}`` for each setting, for the environment info in the log."""
    return {name: f'{os.environ.get(name, "unset")} ({_origins.get(name, "not applied")})'
            for name in DEFAULTS}
