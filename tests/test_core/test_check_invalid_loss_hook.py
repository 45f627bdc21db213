"""CheckInvalidLossHook: NaN/Inf found in ``log_vars`` and in the ``loss`` tensor (2.28 checks the latter)."""
from types import SimpleNamespace

import pytest
import torch

from mmdet_lite.core.hook import CheckInvalidLossHook, NonFiniteLossError


def _runner(outputs, iteration=0):
    return SimpleNamespace(outputs=outputs, iter=iteration, epoch=0, inner_iter=iteration, meta=None)


def test_nan_loss_tensor_without_log_vars_stops_training():
    with pytest.raises(NonFiniteLossError, match=r'iter 1 .*: loss = nan'):
        CheckInvalidLossHook().after_train_iter(_runner(dict(loss=torch.tensor(float('nan')))))


def test_non_finite_log_var_is_named_once():
    outputs = dict(loss=torch.tensor(float('inf')), log_vars=dict(loss_cls=0.5, loss_bbox=float('inf'),
                                                                  loss=float('inf')))
    with pytest.raises(NonFiniteLossError) as err:
        CheckInvalidLossHook().after_train_iter(_runner(outputs))
    assert 'loss_bbox = inf, loss = inf. Training' in str(err.value)


def test_finite_loss_and_iterations_between_intervals_pass():
    CheckInvalidLossHook().after_train_iter(_runner(dict(loss=torch.tensor(1.5), log_vars=dict(loss=1.5))))
    # every_n_iters(runner, 2) checks global iterations 2, 4, ... (runner.iter + 1)
    CheckInvalidLossHook(interval=2).after_train_iter(_runner(dict(loss=torch.tensor(float('nan'))), iteration=0))
