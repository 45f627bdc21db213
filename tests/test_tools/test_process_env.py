"""tools/process_env.py: the tools' process-wide settings, applied before torch is imported."""
import subprocess
import sys

import process_env
import torch  # noqa: F401  (loaded, as in a test that runs a tool in-process)

from tests.conftest import REPO_ROOT, _env


def test_before_torch_is_imported_a_setting_the_environment_lacks_is_set():
    code = 'import process_env, os; process_env.apply(); print(process_env.describe())'
    env = _env()
    env.pop('GOMP_SPINCOUNT', None)
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT / 'tools', env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "{'GOMP_SPINCOUNT': '10000 (mmdet_lite default)'}", result.stderr


def test_once_torch_is_loaded_the_setting_is_noted_as_too_late(monkeypatch):
    monkeypatch.delenv('GOMP_SPINCOUNT', raising=False)
    monkeypatch.setattr(process_env, '_origins', {})
    process_env.apply()
    assert process_env.describe() == {
        'GOMP_SPINCOUNT': '10000 (mmdet_lite default, set after torch was imported: no effect in '
                          'this process)'}


def test_a_value_from_the_environment_wins(monkeypatch):
    monkeypatch.setenv('GOMP_SPINCOUNT', '300000')
    monkeypatch.setattr(process_env, '_origins', {})
    process_env.apply()
    assert process_env.describe() == {'GOMP_SPINCOUNT': '300000 (from the environment)'}
