"""The Faster R-CNN configs resolve to MMDetection 2.18's values and build."""
from pathlib import Path

import pytest
from mmcv import Config

from mmdet_lite.models import build_detector

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'


def _load(name):
    return Config.fromfile(str(CONFIGS / 'faster_rcnn' / name))


@pytest.mark.parametrize('name, steps, epochs', [('faster_rcnn_r50_fpn_1x_coco.py', [8, 11], 12),
                                                 ('faster_rcnn_r50_fpn_2x_coco.py', [16, 22], 24),
                                                 ('faster_rcnn_r50_fpn_mstrain_3x_coco.py', [9, 11], 12)])
def test_schedules(name, steps, epochs):
    cfg = _load(name)
    assert cfg.lr_config == dict(policy='step', warmup='linear', warmup_iters=500, warmup_ratio=0.001, step=steps)
    assert cfg.runner == dict(type='EpochBasedRunner', max_epochs=epochs)
    assert cfg.optimizer == dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)


def test_schedule_20e():
    cfg = Config.fromfile(str(CONFIGS / '_base_' / 'schedules' / 'schedule_20e.py'))
    assert cfg.lr_config.step == [16, 19] and cfg.runner.max_epochs == 20


def test_r101_config_builds_a_101_layer_backbone():
    cfg = _load('faster_rcnn_r101_fpn_1x_coco.py')
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet101'
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model)
    assert len(model.backbone.layer3) == 23


def test_caffe_config_uses_caffe_style_and_frozen_bn():
    cfg = _load('faster_rcnn_r50_caffe_fpn_1x_coco.py')
    assert cfg.model.backbone.init_cfg.checkpoint == 'open-mmlab://detectron2/resnet50_caffe'
    assert cfg.data.train.pipeline[4] == dict(type='Normalize', mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0],
                                              to_rgb=False)
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model)
    assert model.backbone.style == 'caffe' and not model.backbone.layer2[0].bn1.weight.requires_grad


def test_mstrain_3x_config_repeats_the_dataset_three_times_with_range_scales():
    cfg = _load('faster_rcnn_r50_fpn_mstrain_3x_coco.py')
    assert cfg.data.train.type == 'RepeatDataset' and cfg.data.train.times == 3
    assert cfg.data.train.dataset.pipeline[2] == dict(type='Resize', img_scale=[(1333, 640), (1333, 800)],
                                                      multiscale_mode='range', keep_ratio=True)
    assert cfg.model.type == 'FasterRCNN'


def test_a_misspelt_sampler_key_in_a_config_fails_the_build_naming_the_key():
    cfg = _load('faster_rcnn_r50_fpn_1x_coco.py')
    cfg.model.backbone.init_cfg = None
    cfg.merge_from_dict({'model.train_cfg.rcnn.sampler.add_gt_as_proposal': False})
    with pytest.raises(TypeError, match="RandomSampler.*unexpected keyword argument 'add_gt_as_proposal'"):
        build_detector(cfg.model)


def _load_from(folder, name):
    return Config.fromfile(str(CONFIGS / folder / name))


@pytest.mark.parametrize('name, loss_type, loss_weight', [
    ('faster_rcnn_r50_fpn_iou_1x_coco.py', 'IoULoss', 10.0),
    ('faster_rcnn_r50_fpn_giou_1x_coco.py', 'GIoULoss', 10.0),
    ('faster_rcnn_r50_fpn_ciou_1x_coco.py', 'CIoULoss', 12.0),
    ('faster_rcnn_r50_fpn_bounded_iou_1x_coco.py', 'BoundedIoULoss', 10.0)])
def test_iou_loss_configs_regress_decoded_boxes_in_the_roi_head_only(name, loss_type, loss_weight):
    cfg = _load(name)
    assert cfg.model.roi_head.bbox_head.reg_decoded_bbox
    assert cfg.model.roi_head.bbox_head.loss_bbox == dict(type=loss_type, loss_weight=loss_weight)
    assert cfg.model.rpn_head.loss_bbox == dict(type='L1Loss', loss_weight=1.0)


def test_soft_nms_config_replaces_the_rcnn_nms():
    assert _load('faster_rcnn_r50_fpn_soft_nms_1x_coco.py').model.test_cfg.rcnn.nms == dict(
        type='soft_nms', iou_threshold=0.5)


@pytest.mark.parametrize('name', ['faster_rcnn_r50_caffe_fpn_90k_coco.py',
                                  'faster_rcnn_r50_caffe_fpn_mstrain_90k_coco.py'])
def test_90k_configs_run_by_iterations(name):
    cfg = _load(name)
    assert cfg.runner == dict(type='IterBasedRunner', max_iters=90000)
    assert cfg.lr_config.step == [60000, 80000]
    assert cfg.evaluation == dict(interval=10000, metric='bbox') and cfg.checkpoint_config.interval == 10000


@pytest.mark.parametrize('suffix, classes', [('person', ('person', )),
                                             ('person-bicycle-car', ('person', 'bicycle', 'car'))])
def test_person_configs_fine_tune_on_a_subset_of_classes(suffix, classes):
    cfg = _load(f'faster_rcnn_r50_caffe_fpn_mstrain_1x_coco-{suffix}.py')
    assert cfg.model.roi_head.bbox_head.num_classes == len(classes)
    assert cfg.data.train.classes == cfg.data.test.classes == classes
    assert cfg.load_from.endswith('faster_rcnn_r50_caffe_fpn_mstrain_3x_coco_bbox_mAP-0.398_20200504_163323-30042637.pth')


def test_tnr_pretrain_config_trains_with_adamw_only():
    cfg = _load('faster_rcnn_r50_fpn_tnr-pretrain_1x_coco.py')
    assert cfg.optimizer == dict(type='AdamW', lr=0.0001, weight_decay=0.1,
                                 paramwise_cfg=dict(norm_decay_mult=0., bypass_duplicate=True))
    assert cfg.model.backbone.init_cfg.checkpoint == 'https://download.pytorch.org/models/resnet50-11ad3fa6.pth'


def test_scratch_config_trains_73_epochs_from_random_init_with_gn():
    cfg = _load_from('scratch', 'faster_rcnn_r50_fpn_gn-all_scratch_6x_coco.py')
    assert cfg.model.backbone.init_cfg is None and cfg.model.backbone.frozen_stages == -1
    assert cfg.model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
    assert cfg.runner.max_epochs == 73 and cfg.lr_config.step == [65, 71] and cfg.lr_config.warmup_ratio == 0.1


def test_gn_ws_config_uses_weight_standardised_convs_everywhere():
    cfg = _load_from('gn+ws', 'faster_rcnn_r101_fpn_gn_ws-all_1x_coco.py')
    for part in (cfg.model.backbone, cfg.model.neck, cfg.model.roi_head.bbox_head):
        assert part.conv_cfg == dict(type='ConvWS')
        assert part.norm_cfg == dict(type='GN', num_groups=32, requires_grad=True)
    assert cfg.model.backbone.depth == 101
    assert cfg.model.backbone.init_cfg.checkpoint == 'open-mmlab://jhu/resnet101_gn_ws'


@pytest.mark.parametrize('folder, name, epochs', [('rpn', 'rpn_r101_fpn_2x_coco.py', 24),
                                                  ('fast_rcnn', 'fast_rcnn_r101_fpn_2x_coco.py', 24),
                                                  ('rpn', 'rpn_r101_caffe_fpn_1x_coco.py', 12)])
def test_rpn_and_fast_rcnn_r101_configs(folder, name, epochs):
    cfg = _load_from(folder, name)
    assert cfg.model.backbone.depth == 101 and cfg.runner.max_epochs == epochs


def test_dataset_family_configs_carry_2_28_values():
    voc = Config.fromfile(str(CONFIGS / 'pascal_voc' / 'faster_rcnn_r50_fpn_1x_voc0712.py'))
    assert voc.model.roi_head.bbox_head.num_classes == 20 and voc.evaluation.metric == 'mAP'
    assert voc.data.train.times == 3 and voc.data.train.dataset.img_prefix == [
        'data/VOCdevkit/VOC2007/', 'data/VOCdevkit/VOC2012/']
    assert voc.lr_config == dict(policy='step', step=[3]) and voc.runner.max_epochs == 4
    cocofmt = Config.fromfile(str(CONFIGS / 'pascal_voc' / 'faster_rcnn_r50_fpn_1x_voc0712_cocofmt.py'))
    assert cocofmt.data.val.type == 'CocoDataset' and len(cocofmt.data.val.classes) == 20
    city = Config.fromfile(str(CONFIGS / 'cityscapes' / 'faster_rcnn_r50_fpn_1x_cityscapes.py'))
    assert city.model.roi_head.bbox_head.num_classes == 8 and city.data.train.times == 8
    assert city.auto_scale_lr == dict(enable=False, base_batch_size=8) and city.lr_config.step == [7]
    soft = Config.fromfile(str(CONFIGS / 'faster_rcnn' / 'faster_rcnn_r50_fpn_soft_nms_1x_coco.py'))
    assert soft.model.test_cfg.rcnn == dict(score_thr=0.05, nms=dict(type='soft_nms', iou_threshold=0.5),
                                            max_per_img=100)
