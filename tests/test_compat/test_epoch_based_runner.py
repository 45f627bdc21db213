"""mmdet_lite's EpochBasedRunner: mmcv's epoch loop, hook for hook; neither sleeps (compat.runner_sleeps)."""
import logging
import time

import mmcv.runner.epoch_based_runner
import torch
from mmcv.runner import Hook, build_runner
from mmcv.runner import EpochBasedRunner as MMCVEpochBasedRunner
from torch.utils.data import DataLoader

from mmdet_lite.compat.epoch_based_runner import EpochBasedRunner


class _Linear(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)

    def train_step(self, data_batch, optimizer):
        loss = self.fc(data_batch).pow(2).mean()
        return dict(loss=loss, log_vars=dict(loss=loss.detach()), num_samples=len(data_batch))

    def val_step(self, data_batch, optimizer):
        return self.train_step(data_batch, optimizer)


class _RecordHook(Hook):

    def __init__(self):
        self.calls = []

    def _record(self, name):
        return lambda runner: self.calls.append((name, runner.mode, runner.epoch, runner.iter, runner.inner_iter))

    def __getattribute__(self, name):
        if name.startswith(('before_', 'after_')) and name.endswith(('_epoch', '_iter')):
            return self._record(name)
        return super().__getattribute__(name)


def _run_epochs(runner_class, tmp_path, monkeypatch, mmcv_time):
    """2 train epochs, a val epoch and ``run``'s ending with mmcv's module using ``mmcv_time``."""
    sleeps = []
    monkeypatch.setattr(time, 'sleep', sleeps.append)
    monkeypatch.setattr(mmcv.runner.epoch_based_runner, 'time', mmcv_time)
    model = _Linear()
    runner = runner_class(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), work_dir=str(tmp_path),
                          logger=logging.getLogger('test_runner'), max_epochs=2)
    hook = _RecordHook()
    runner.register_hook(hook)
    loader = DataLoader(torch.arange(12.).view(6, 2), batch_size=2)
    runner.run([loader, loader], [('train', 2), ('val', 1)])
    return hook.calls, sleeps, model.fc.weight.detach().clone()


def test_config_type_epoch_based_runner_builds_mmdet_lite_runner(tmp_path):
    model = _Linear()
    runner = build_runner(dict(type='EpochBasedRunner', max_epochs=1),
                          default_args=dict(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                            work_dir=str(tmp_path), logger=logging.getLogger('test_runner')))
    assert type(runner) is EpochBasedRunner


def test_same_hooks_counters_and_weights_as_mmcv_without_sleeping(tmp_path, monkeypatch):
    installed = mmcv.runner.epoch_based_runner.time  # what compat gave mmcv's module
    torch.manual_seed(0)
    mmcv_calls, mmcv_sleeps, mmcv_weight = _run_epochs(MMCVEpochBasedRunner, tmp_path / 'mmcv',
                                                       monkeypatch, mmcv_time=time)
    assert mmcv_sleeps == [2, 2, 2, 1]  # upstream: before each train epoch and the val epoch, at the end
    torch.manual_seed(0)
    calls, sleeps, weight = _run_epochs(EpochBasedRunner, tmp_path / 'lite', monkeypatch,
                                        mmcv_time=installed)
    assert sleeps == []
    assert calls == mmcv_calls
    assert len(calls) == 2 * (2 + 3 * 2) + (2 + 3 * 2)
    assert torch.equal(weight, mmcv_weight)
