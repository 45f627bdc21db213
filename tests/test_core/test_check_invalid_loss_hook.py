"""CheckInvalidLossHook: NaN/Inf found in ``log_vars`` and in the ``loss`` tensor (2.28 checks the
latter), read from the device every ``interval`` iterations, at an epoch's end and before a checkpoint."""
from types import SimpleNamespace

import pytest
import torch

from mmdet_lite.core.hook import CheckInvalidLossHook, NonFiniteLossError

NAN, INF = float('nan'), float('inf')


def _runner():
    return SimpleNamespace(outputs=None, iter=0, epoch=0, inner_iter=0, meta=None)


def _iterate(hook, runner, outputs):
    """One iteration's ``after_train_iter``, then the runner's count moves on."""
    runner.outputs = outputs
    try:
        hook.after_train_iter(runner)
    finally:
        runner.iter += 1
        runner.inner_iter += 1


def _tensor_outputs(loss_cls, loss_bbox):
    values = torch.tensor([loss_cls, loss_bbox, loss_cls + loss_bbox])
    return dict(loss=values[2].clone().requires_grad_(), log_vars=dict(zip(('loss_cls', 'loss_bbox', 'loss'),
                                                                           values.unbind())))


def test_nan_loss_tensor_without_log_vars_stops_training_before_the_step():
    with pytest.raises(NonFiniteLossError, match=r'iter 1 .*: loss = nan. Training stopped at global iter 1;'):
        _iterate(CheckInvalidLossHook(interval=1), _runner(), dict(loss=torch.tensor(NAN)))


def test_non_finite_float_log_var_is_named_once_and_read_at_once():
    outputs = dict(loss=torch.tensor(INF), log_vars=dict(loss_cls=0.5, loss_bbox=INF, loss=INF))
    with pytest.raises(NonFiniteLossError) as err:
        _iterate(CheckInvalidLossHook(interval=50), _runner(), outputs)
    assert 'loss_bbox = inf, loss = inf. Training stopped at global iter 1;' in str(err.value)


def test_tensor_losses_are_read_once_per_interval(host_reads):
    hook, runner = CheckInvalidLossHook(interval=3), _runner()
    for _ in range(2):
        _iterate(hook, runner, _tensor_outputs(1.0, 0.5))
    assert host_reads == []
    _iterate(hook, runner, _tensor_outputs(1.0, 0.5))  # global iter 3 reads all three at once
    assert host_reads == [('tolist', (3, ))]  # the three iterations' flags
    _iterate(hook, runner, _tensor_outputs(1.0, 0.5))
    _iterate(hook, runner, _tensor_outputs(1.0, INF))  # global iter 5: not read yet
    assert len(host_reads) == 1
    with pytest.raises(NonFiniteLossError) as err:
        _iterate(hook, runner, _tensor_outputs(NAN, 0.5))
    assert str(err.value) == ('non-finite loss at epoch 1, iter 5 (global iter 5): loss_bbox = inf, loss = inf. '
                              'Training stopped at global iter 6; no checkpoint holds weights from global iter 5 '
                              'on; newest checkpoint: none yet')


@pytest.mark.parametrize('when', ['before_save_checkpoint', 'after_train_epoch', 'after_run'])
def test_unread_losses_are_read_before_a_checkpoint_and_at_the_end(when):
    hook, runner = CheckInvalidLossHook(interval=50), _runner()
    runner.meta = dict(hook_msgs=dict(last_ckpt='work/epoch_1.pth'))
    _iterate(hook, runner, _tensor_outputs(NAN, 0.5))
    _iterate(hook, runner, _tensor_outputs(1.0, 0.5))
    with pytest.raises(NonFiniteLossError, match=r'global iter 1\): loss_cls = nan, loss = nan\. Training stopped '
                                                 r'at global iter 2;.* newest checkpoint: work/epoch_1\.pth'):
        getattr(hook, when)(runner)


def test_finite_losses_pass_and_leave_nothing_unread():
    hook, runner = CheckInvalidLossHook(interval=2), _runner()
    for _ in range(3):
        _iterate(hook, runner, _tensor_outputs(1.0, 0.5))
    hook.before_save_checkpoint(runner)
    assert hook._unread == []


def test_a_loss_of_several_values_is_checked_whole():
    outputs = dict(loss=torch.tensor([1.0, NAN]))
    with pytest.raises(NonFiniteLossError, match=r'\(global iter 1\): loss = \[1.0, nan\]\.'):
        _iterate(CheckInvalidLossHook(interval=1), _runner(), outputs)
