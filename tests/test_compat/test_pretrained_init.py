"""``init_cfg=dict(type='Pretrained')`` loads what fits and reports it in one line of counts."""
import logging

import torch
import torch.nn as nn
from mmcv.runner import BaseModule

from mmdet_lite.utils import get_root_logger  # noqa: F401  (imports mmdet_lite: compat installed)


class TwoLayers(BaseModule):
    def __init__(self, out_features, init_cfg=None):
        super().__init__(init_cfg)
        self.stem = nn.Linear(4, 4)
        self.head = nn.Linear(4, out_features)


def init_from(checkpoint_model, path, caplog, **init_cfg):
    torch.save({'state_dict': checkpoint_model.state_dict()}, path)
    model = TwoLayers(3, init_cfg=dict(type='Pretrained', checkpoint=str(path), **init_cfg))
    with caplog.at_level(logging.INFO, logger='mmcv'):
        model.init_weights()
    return model, [(r.levelname, r.getMessage()) for r in caplog.records if r.name == 'mmcv']


def test_pretrained_reports_one_line_and_loads_what_fits(tmp_path, caplog):
    source = TwoLayers(5)
    path = tmp_path / 'other.pth'
    model, records = init_from(source, path, caplog)
    assert torch.equal(model.stem.weight, source.stem.weight)
    assert model.head.weight.shape == (3, 4)
    assert records[-1] == ('WARNING', (
        f'checkpoint file {path}: loaded 2 of 4 tensors of TwoLayers, 0 missing, 0 unexpected, '
        '2 shape-mismatched (shape-mismatched: head.weight: checkpoint [5, 4], model [3, 4]; '
        'head.bias: checkpoint [5], model [3])'))
    assert not any('do not match exactly' in message for _, message in records)


def test_pretrained_with_a_prefix_names_it(tmp_path, caplog):
    holder = nn.Module()
    holder.backbone = TwoLayers(3)
    path = tmp_path / 'detector.pth'
    model, records = init_from(holder, path, caplog, prefix='backbone')
    assert torch.equal(model.head.weight, holder.backbone.head.weight)
    assert records[-1] == ('INFO', f'backbone of checkpoint file {path}: loaded 4 of 4 tensors of '
                                   'TwoLayers, 0 missing, 0 unexpected, 0 shape-mismatched')
