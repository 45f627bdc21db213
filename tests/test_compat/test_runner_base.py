"""Both runners: log values read once per logging interval (``LogBuffer``) and hooks'
``before_save_checkpoint`` called before every checkpoint; ``OptimizerHook`` logs ``grad_norm``
unread (compat.runner_base)."""
import logging
from types import SimpleNamespace

import pytest
import torch
from mmcv.runner import HOOKS, Hook, TextLoggerHook, build_runner
from mmcv.utils import build_from_cfg
from torch.utils.data import DataLoader

from mmdet_lite.compat.runner_base import LogBuffer

from .test_epoch_based_runner import _Linear  # train_step's log values are device tensors


class _BeforeSave(Hook):

    def __init__(self):
        self.calls = []

    def before_save_checkpoint(self, runner):
        self.calls.append(runner.iter)
        runner.meta['marker'] = runner.iter


def test_log_buffer_reads_tensors_when_it_averages(host_reads):
    buffer = LogBuffer()
    losses = torch.tensor([1.0, 2.0, 4.0])
    for value, count in zip(losses.unbind(), (1, 1, 2)):
        buffer.update(dict(loss=value, time=0.5, half=value.double() / 2), count)
    assert host_reads == []
    buffer.average(2)
    assert host_reads == [('tolist', (3, ))] * 2  # one read per dtype (float32, float64), of all three values
    assert buffer.output == dict(loss=(2.0 + 4.0 * 2) / 3, time=0.5, half=(1.0 + 2.0 * 2) / 3)
    assert all(isinstance(value, float) for values in buffer.val_history.values() for value in values)
    buffer.average()
    assert len(host_reads) == 2  # nothing left to read


@pytest.mark.parametrize('runner_type', ['EpochBasedRunner', 'IterBasedRunner'])
def test_runner_logs_tensor_values_and_calls_before_save_checkpoint(runner_type, tmp_path, caplog):
    model = _Linear()
    length = dict(max_epochs=2) if runner_type == 'EpochBasedRunner' else dict(max_iters=6)
    logger = logging.getLogger('test_runner_base')
    runner = build_runner(dict(type=runner_type, **length), default_args=dict(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), work_dir=str(tmp_path),
        logger=logger, meta={}))
    assert isinstance(runner.log_buffer, LogBuffer)
    hook = _BeforeSave()
    runner.register_hook(hook)
    runner.register_hook(TextLoggerHook(interval=2, by_epoch=runner_type == 'EpochBasedRunner'))
    loader = DataLoader(torch.arange(12.).view(6, 2), batch_size=2)
    by_epoch = runner_type == 'EpochBasedRunner'
    runner.register_checkpoint_hook(dict(interval=1 if by_epoch else 3, by_epoch=by_epoch))
    with caplog.at_level(logging.INFO, logger='test_runner_base'):
        runner.run([loader], [('train', 1)])
    assert hook.calls == ([3, 6] if by_epoch else [2, 5])  # before each of the two checkpoints
    name = 'epoch_2.pth' if by_epoch else 'iter_6.pth'
    assert torch.load(tmp_path / name, weights_only=True)['meta']['marker'] == hook.calls[-1]
    # no OptimizerHook: the weights stay; a line every 2 iterations averages their batches' losses
    with torch.no_grad():
        losses = [model.fc(batch).pow(2).mean().item() for batch in loader]
    pairs = [(0, 1), (0, 1)] if by_epoch else [(0, 1), (2, 0), (1, 2)]
    expected = [(losses[i] + losses[j]) / 2 for i, j in pairs]
    logged = [record.getMessage().split('\t')[-1] for record in caplog.records if 'loss: ' in record.getMessage()]
    assert logged == [f'loss: {loss:.4f}' for loss in expected]


def test_optimizer_hook_with_grad_clip_logs_the_norm_unread_and_steps(host_reads):
    model = _Linear()
    params = list(model.parameters())
    hook = build_from_cfg(dict(type='OptimizerHook', grad_clip=dict(max_norm=1e-3)), HOOKS)
    runner = SimpleNamespace(model=model, optimizer=torch.optim.SGD(params, lr=1.0), log_buffer=LogBuffer())
    runner.outputs = model.train_step(torch.ones(2, 2), None)
    before = [param.detach().clone() for param in params]
    hook.after_train_iter(runner)
    assert host_reads == []
    (norm, ) = runner.log_buffer.val_history['grad_norm']
    grads = torch.cat([param.grad.flatten() for param in params])
    assert torch.isclose(grads.norm(), torch.tensor(1e-3))  # clipped in place
    assert norm.item() > 1e-3  # the norm before clipping, as mmcv logs it
    step = torch.cat([(b - p.detach()).flatten() for b, p in zip(before, params)])
    torch.testing.assert_close(step, grads)  # one SGD step of lr 1 with the clipped gradients


def test_log_buffer_without_averages_reads_every_max_unread_values(monkeypatch):
    monkeypatch.setattr(LogBuffer, 'MAX_UNREAD', 4)
    buffer = LogBuffer()
    for value in range(5):
        buffer.update(dict(loss=torch.tensor(float(value)), acc=torch.tensor(1.0)))
    # 4 values held after the 2nd and 4th updates: read then
    assert buffer.val_history['loss'][:4] == [0.0, 1.0, 2.0, 3.0] and buffer.val_history['acc'][:4] == [1.0] * 4
    assert isinstance(buffer.val_history['loss'][4], torch.Tensor)
