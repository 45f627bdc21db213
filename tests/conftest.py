import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny.py'
# Tools loaded in-process import their sibling tools/process_env.py, as they do when run as scripts.
sys.path.append(str(REPO_ROOT / 'tools'))


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
