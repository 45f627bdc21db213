"""NumClassCheckHook: a head whose num_classes disagrees with CLASSES stops training early."""
from types import SimpleNamespace

import pytest
import torch.nn as nn
from mmcv.runner import HOOKS

from mmdet_lite.datasets import NumClassCheckHook


class Shared2FCBBoxHead(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes


class RPNHead(nn.Module):
    num_classes = 1


class Detector(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.rpn_head = RPNHead()
        self.bbox_head = Shared2FCBBoxHead(num_classes)


class ToyDataset:
    def __init__(self, classes):
        self.CLASSES = classes


def fake_runner(num_classes, classes):
    warnings = []
    logger = SimpleNamespace(warning=warnings.append)
    return SimpleNamespace(model=Detector(num_classes), logger=logger,
                           data_loader=SimpleNamespace(dataset=ToyDataset(classes))), warnings


def test_hook_is_registered_in_mmcv_hooks():
    assert HOOKS.get('NumClassCheckHook') is NumClassCheckHook


def test_matching_num_classes_passes_and_rpn_head_is_exempt():
    runner, warnings = fake_runner(3, ('a', 'b', 'c'))
    NumClassCheckHook().before_train_epoch(runner)
    NumClassCheckHook().before_val_epoch(runner)
    assert warnings == []


def test_mismatch_names_module_num_classes_and_classes_length():
    runner, _ = fake_runner(80, ('a',))
    with pytest.raises(ValueError) as error:
        NumClassCheckHook().before_train_epoch(runner)
    assert str(error.value) == ('The `num_classes` (80) in Shared2FCBBoxHead of Detector does '
                                'not matches the length of `CLASSES` 1) in ToyDataset')


def test_string_classes_and_missing_classes():
    runner, _ = fake_runner(1, 'a')
    with pytest.raises(ValueError, match='Add comma'):
        NumClassCheckHook().before_val_epoch(runner)
    runner, warnings = fake_runner(3, None)
    NumClassCheckHook().before_train_epoch(runner)
    assert len(warnings) == 1 and 'Please set `CLASSES` in the ToyDataset' in warnings[0]
