import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny.py'


def _env(extra=None):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO_ROOT), env.get('PYTHONPATH', '')])
    env.pop('MMDET_LITE_TRACEBACK', None)
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        env.pop(name, None)
    env.update(extra or {})
    return env


def run_script(script, *args, env=None, timeout=300):
    """Run ``tools/<script>`` with this interpreter from the repository root."""
    return subprocess.run([sys.executable, str(REPO_ROOT / 'tools' / script), *map(str, args)],
                          cwd=REPO_ROOT, env=_env(env), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def run_train():
    return lambda *args, env=None: run_script('train.py', *args, env=env)


@pytest.fixture
def run_dist_train():
    def run(config, num_procs, *args, port):
        return subprocess.run(['bash', str(REPO_ROOT / 'dist_train.sh'), str(config),
                               str(num_procs), *map(str, args)],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                              env=_env({'PYTHON': sys.executable, 'PORT': str(port)}))
    return run


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a gloo rendezvous)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def read_checkpoint(path) -> dict:
    """A checkpoint file loaded as the tools load one: ``weights_only=True``."""
    return torch.load(path, weights_only=True)


def read_state_dict(path) -> dict:
    return read_checkpoint(path)['state_dict']


def assert_same_weights(expected: dict, actual: dict) -> None:
    """The same names, and every tensor equal bit for bit; the first one that differs is named."""
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
