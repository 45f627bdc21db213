"""The Objects365 Faster R-CNN configs resolve to MMDetection 2.28's values."""
from pathlib import Path

import pytest
from mmcv import Config

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
WARMUP = dict(policy='step', warmup='linear', warmup_iters=1000, warmup_ratio=1.0 / 1000)


def _load(name):
    return Config.fromfile(str(CONFIGS / 'objects365' / name))


@pytest.mark.parametrize('version, dataset_type, root, train_json, val_json', [
    (1, 'Objects365V1Dataset', 'data/Objects365/Obj365_v1/', 'objects365_train.json',
     'objects365_val.json'),
    (2, 'Objects365V2Dataset', 'data/Objects365/Obj365_v2/', 'zhiyuan_objv2_train.json',
     'zhiyuan_objv2_val.json')])
def test_16x4_configs_train_365_classes_for_12_epochs_at_lr_0_08(version, dataset_type, root,
                                                                  train_json, val_json):
    cfg = _load(f'faster_rcnn_r50_fpn_16x4_1x_obj365v{version}.py')
    assert cfg.model.roi_head.bbox_head.num_classes == 365
    assert cfg.data.samples_per_gpu == 4 and cfg.data.workers_per_gpu == 2
    assert cfg.data.train.type == cfg.data.val.type == cfg.data.test.type == dataset_type
    assert cfg.data.train.ann_file == f'{root}annotations/{train_json}'
    assert cfg.data.train.img_prefix == f'{root}train/'
    assert cfg.data.val.ann_file == cfg.data.test.ann_file == f'{root}annotations/{val_json}'
    assert cfg.data.val.img_prefix == cfg.data.test.img_prefix == f'{root}val/'
    assert cfg.optimizer == dict(type='SGD', lr=0.08, momentum=0.9, weight_decay=0.0001)
    assert cfg.optimizer_config == dict(grad_clip=dict(max_norm=35, norm_type=2))
    assert cfg.lr_config == dict(WARMUP, step=[8, 11])
    assert cfg.runner == dict(type='EpochBasedRunner', max_epochs=12)
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=64)
    assert cfg.evaluation == dict(interval=1, metric='bbox')


def test_1350k_config_runs_by_iterations_with_syncbn():
    cfg = _load('faster_rcnn_r50_fpn_syncbn_1350k_obj365v1.py')
    assert cfg.model.backbone.norm_cfg == dict(type='SyncBN', requires_grad=True)
    assert cfg.model.backbone.norm_eval and cfg.model.roi_head.bbox_head.num_classes == 365
    assert cfg.data.train.type == 'Objects365V1Dataset' and cfg.data.samples_per_gpu == 2
    assert cfg.optimizer == dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)
    assert cfg.optimizer_config == dict(grad_clip=dict(max_norm=35, norm_type=2))
    assert cfg.runner == dict(type='IterBasedRunner', max_iters=1350000)
    assert cfg.lr_config == dict(WARMUP, step=[900000, 1200000])
    assert cfg.checkpoint_config == dict(interval=150000)
    assert cfg.evaluation == dict(interval=150000, metric='bbox')
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
