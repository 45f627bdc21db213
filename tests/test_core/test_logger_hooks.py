"""check_logger_hooks: hook entries checked and a missing backend package named (absence simulated
with ``sys.modules[name] = None``, which makes ``import name`` raise ImportError)."""
import sys

import pytest
from mmcv import ConfigDict

from mmdet_lite.core.hook import check_logger_hooks


def without(monkeypatch, *modules):
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_hook_names_become_hook_dicts():
    log_config = ConfigDict(interval=5, hooks=['TextLoggerHook', dict(type='TextLoggerHook',
                                                                      by_epoch=False)])
    check_logger_hooks(log_config)
    assert log_config.hooks == [dict(type='TextLoggerHook'),
                                dict(type='TextLoggerHook', by_epoch=False)]
    assert log_config.hooks[0].type == 'TextLoggerHook'  # a ConfigDict, as the config's others


def test_no_log_config_registers_no_logger_hook():
    assert check_logger_hooks(None) is None


@pytest.mark.parametrize('hook_type,package,hidden_modules', [
    ('TensorboardLoggerHook', 'tensorboard', ('tensorboard', 'torch.utils.tensorboard')),
    ('WandbLoggerHook', 'wandb', ('wandb',)),
    ('MlflowLoggerHook', 'mlflow', ('mlflow', 'mlflow.pytorch')),
])
def test_missing_backend_names_the_hook_and_the_requirements_file(monkeypatch, hook_type, package,
                                                                  hidden_modules):
    without(monkeypatch, hidden_modules[0])
    for name in hidden_modules[1:]:  # imported by an earlier test: import it anew
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(ImportError, match=(
            rf"^log_config.hooks\[1\] {hook_type} needs the '{package}' package: "
            r'pip install -r requirements/optional.txt \(')):
        check_logger_hooks(dict(hooks=[dict(type='TextLoggerHook'), dict(type=hook_type)]))


def test_backend_outside_optional_requirements_names_its_pip_package(monkeypatch):
    without(monkeypatch, 'neptune')
    with pytest.raises(ImportError, match=r"^log_config.hooks\[0\] NeptuneLoggerHook needs the "
                                          r"'neptune-client' package: pip install neptune-client \("):
        check_logger_hooks(dict(hooks=['NeptuneLoggerHook']))


def test_entry_without_type_is_refused():
    with pytest.raises(TypeError, match=r"^log_config.hooks\[0\] must be a dict with a \"type\" "
                                        r"key \(or a hook name\), got \{'interval': 5\}"):
        check_logger_hooks(dict(hooks=[dict(interval=5)]))


def test_unknown_hook_is_named():
    with pytest.raises(KeyError, match=r"log_config.hooks\[0\]: 'TextLogerHook' is not in the "
                                       r'HOOKS registry'):
        check_logger_hooks(dict(hooks=['TextLogerHook']))


def test_hooks_that_are_not_a_list_are_refused():
    with pytest.raises(TypeError, match=r"^log_config.hooks must be a list of hook dicts, got "
                                        r"'TextLoggerHook'"):
        check_logger_hooks(dict(hooks='TextLoggerHook'))
