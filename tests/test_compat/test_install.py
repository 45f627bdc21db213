"""``mmdet_lite.compat`` is installed by importing any part of mmdet_lite, and importing it changes no
environment variable. Each case runs in a fresh interpreter: an import order cannot hide another."""
import json
import pkgutil
import subprocess
import sys

import pytest

import mmdet_lite.compat
from tests.conftest import REPO_ROOT, _env

# (each import runs mmdet_lite/__init__.py first: the bare package is covered by every case)
SUBPACKAGES = ['mmdet_lite.apis', 'mmdet_lite.core', 'mmdet_lite.datasets', 'mmdet_lite.models',
               'mmdet_lite.utils', 'mmdet_lite.compat']

# Each compat module -> a check of the third-party state it changes, read from the third-party
# modules themselves (not from anything compat reports about itself).
CHECKS = {
    'notices': "any(f[0] == 'ignore' and f[1] is not None and f[1].pattern.startswith('On January 1, 2023, "
               "MMCV') for f in warnings.filters) and logging.getLogger('torch.utils.cpp_extension').level "
               "== logging.ERROR",
    'config_tempfile': 'getattr(sys.unraisablehook, "drops_mmcv_tempfile_cleanup", False)',
    'scatter': "mmcv.parallel._functions._get_stream.__module__ == 'mmdet_lite.compat.scatter' "
               'and mmcv.parallel._functions._get_stream(-1) is None',
    'runner_sleeps': 'mmcv.runner.epoch_based_runner.time.sleep(2) is None and '
                     'mmcv.runner.iter_based_runner.time.sleep(2) is None and '
                     'mmcv.runner.epoch_based_runner.time is not __import__("time")',
    'runner_base': "mmcv.runner.RUNNERS.get('IterBasedRunner').__module__ == 'mmdet_lite.compat.runner_base' "
                   "and mmcv.runner.HOOKS.get('OptimizerHook').__module__ == 'mmdet_lite.compat.runner_base'",
    'epoch_based_runner': "mmcv.runner.RUNNERS.get('EpochBasedRunner').__module__ == "
                          "'mmdet_lite.compat.epoch_based_runner'",
    'checkpoint_loader': "mmcv.runner.CheckpointLoader._get_checkpoint_loader('/a/b.pth').__module__ == "
                         "'mmdet_lite.utils.checkpoint'",
    'pretrained_init': "mmcv.cnn.utils.weight_init.INITIALIZERS.get('Pretrained').__module__ == "
                       "'mmdet_lite.compat.pretrained_init'",
    'file_backend': "mmcv.FileClient('disk').client.__class__.__module__ == 'mmdet_lite.compat.file_backend'",
    'conv_ws': "mmcv.cnn.bricks.conv_ws.conv_ws_2d.__module__ == 'mmdet_lite.compat.conv_ws'",
    'generalized_attention': "mmcv.cnn.GeneralizedAttention.__init__.__module__ == "
                             "'mmdet_lite.compat.generalized_attention'",
    # not a patch: compat.ddp provides classes that mmdet_lite.utils.dist uses directly
    'ddp': "mmdet_lite.utils.dist.MMDistributedDataParallel.__module__ == 'mmdet_lite.compat.ddp'",
}

PROBE = '''
import json, logging, sys, warnings
import {package}
import mmcv, mmcv.parallel._functions, mmcv.runner, mmdet_lite.utils.dist
import mmdet_lite.compat
from collections import Counter  # a filter added again moves to the front: compare as a multiset
state = lambda: (Counter(map(repr, warnings.filters)), sys.unraisablehook,
                 dict(mmcv.runner.RUNNERS.module_dict))
before = state()
mmdet_lite.compat._installed = False  # run every step of install() again
mmdet_lite.compat.install()
print(json.dumps(dict(active={{name: bool(eval(check)) for name, check in {checks!r}.items()}},
                      same_after_second_install=state() == before, modules=sorted(sys.modules))))
'''


def _run_python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-c', code], cwd=REPO_ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _output(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    return stdout


@pytest.fixture(scope='module')
def probes():
    """For each subpackage, imported alone in a fresh interpreter: which checks hold, whether a
    second full install changed anything, and the modules it loaded."""
    processes = {package: _run_python(PROBE.format(package=package, checks=CHECKS))
                 for package in SUBPACKAGES}
    return {package: json.loads(_output(process)) for package, process in processes.items()}


def test_every_compat_module_has_a_check():
    modules = {info.name for info in pkgutil.iter_modules(mmdet_lite.compat.__path__)}
    assert modules == set(CHECKS)


def test_importing_any_subpackage_alone_installs_every_workaround(probes):
    for package, probe in probes.items():
        assert probe['active'] == {name: True for name in CHECKS}, package


def test_installing_again_changes_nothing(probes):
    for package, probe in probes.items():
        assert probe['same_after_second_install'], package


def test_importing_mmdet_lite_leaves_the_environment_unchanged(probes):
    # Its dependencies change os.environ on import (cv2 sets LD_LIBRARY_PATH, torch the inductor
    # cache dir): import first every other module that importing mmdet_lite loads, then compare.
    dependencies = sorted({name for probe in probes.values() for name in probe['modules']
                           if name.split('.')[0] not in ('mmdet_lite', '__main__')})
    code = f'''
import importlib, os
for name in {dependencies!r}:
    try:
        importlib.import_module(name)
    except Exception:  # private or platform-specific modules that only load inside their parent
        pass
before = dict(os.environ)
import {', '.join(SUBPACKAGES)}
after = dict(os.environ)
print(sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))
'''
    assert _output(_run_python(code)).strip() == '[]'
