"""The FPG, legacy 1.x and ResNeXt GN+WS configs resolve to MMDetection 2.28's values."""
from pathlib import Path

import pytest
from mmcv import Config

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
BN = dict(type='BN', requires_grad=True)
ACT_CONV_NORM = dict(norm_cfg=BN, inplace=False, order=('act', 'conv', 'norm'))


def _load(path):
    return Config.fromfile(str(CONFIGS / path))


def test_fpn_crop640_config_trains_50_epochs_on_640_crops_with_bn_everywhere():
    cfg = _load('fpg/faster_rcnn_r50_fpn_crop640_50e_coco.py')
    assert cfg.model.backbone.norm_cfg == BN and cfg.model.backbone.norm_eval is False
    assert cfg.model.neck.norm_cfg == BN and cfg.model.roi_head.bbox_head.norm_cfg == BN
    steps = [dict(t) for t in cfg.data.train.pipeline]
    assert [t['type'] for t in steps] == ['LoadImageFromFile', 'LoadAnnotations', 'Resize', 'RandomCrop', 'RandomFlip',
                                          'Normalize', 'Pad', 'DefaultFormatBundle', 'Collect']
    assert steps[2] == dict(type='Resize', img_scale=(640, 640), ratio_range=(0.8, 1.2), keep_ratio=True)
    assert steps[3] == dict(type='RandomCrop', crop_size=(640, 640)) and steps[6] == dict(type='Pad', size=(640, 640))
    test_steps = cfg.data.test.pipeline[1]
    assert test_steps.img_scale == (640, 640) and test_steps.transforms[3] == dict(type='Pad', size_divisor=64)
    assert cfg.data.samples_per_gpu == 8 and cfg.data.workers_per_gpu == 4
    assert cfg.optimizer == dict(type='SGD', lr=0.08, momentum=0.9, weight_decay=0.0001,
                                 paramwise_cfg=dict(norm_decay_mult=0, bypass_duplicate=True))
    assert cfg.lr_config == dict(policy='step', warmup='linear', warmup_iters=1000, warmup_ratio=0.1, step=[30, 40])
    assert cfg.runner.max_epochs == 50 and cfg.evaluation.interval == 2
    assert cfg.auto_scale_lr.base_batch_size == 64


def test_fpg_config_stacks_nine_bottom_up_pathways():
    neck = _load('fpg/faster_rcnn_r50_fpg_crop640_50e_coco.py').model.neck
    assert neck.type == 'FPG' and neck.in_channels == [256, 512, 1024, 2048]
    assert (neck.out_channels, neck.inter_channels, neck.num_outs, neck.stack_times) == (256, 256, 5, 9)
    assert neck.paths == ['bu'] * 9 and neck.same_down_trans is None and neck.across_up_trans is None
    assert neck.same_up_trans == dict(type='conv', kernel_size=3, stride=2, padding=1, **ACT_CONV_NORM)
    assert neck.across_lateral_trans == dict(type='conv', kernel_size=1, **ACT_CONV_NORM)
    assert neck.across_down_trans == dict(type='interpolation_conv', mode='nearest', kernel_size=3, **ACT_CONV_NORM)
    assert neck.across_skip_trans == dict(type='conv', kernel_size=1, **ACT_CONV_NORM)
    assert neck.output_trans == dict(type='last_conv', kernel_size=3, order=('act', 'conv', 'norm'), inplace=False)
    assert neck.skip_inds == [(0, 1, 2, 3), (0, 1, 2), (0, 1), (0, ), ()] and neck.norm_cfg == BN


def test_fpg_chn128_config_narrows_neck_and_heads_to_128_channels():
    model = _load('fpg/faster_rcnn_r50_fpg-chn128_crop640_50e_coco.py').model
    assert model.neck.type == 'FPG' and model.neck.out_channels == model.neck.inter_channels == 128
    assert model.rpn_head.in_channels == 128 and model.roi_head.bbox_roi_extractor.out_channels == 128
    assert model.roi_head.bbox_head.in_channels == 128


def test_legacy_config_uses_1x_anchors_coders_losses_and_roi_align():
    model = _load('legacy_1.x/faster_rcnn_r50_fpn_1x_coco_v1.py').model
    assert model.pretrained == 'torchvision://resnet50'
    assert model.rpn_head.anchor_generator == dict(type='LegacyAnchorGenerator', center_offset=0.5, scales=[8],
                                                   ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64])
    # the coder type replaces DeltaXYWHBBoxCoder; the base's means/stds stay
    assert model.rpn_head.bbox_coder.type == model.roi_head.bbox_head.bbox_coder.type == 'LegacyDeltaXYWHBBoxCoder'
    assert model.roi_head.bbox_head.bbox_coder.target_stds == [0.1, 0.1, 0.2, 0.2]
    assert model.rpn_head.loss_bbox == dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0)
    assert model.roi_head.bbox_head.loss_bbox == dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)
    assert model.roi_head.bbox_roi_extractor.roi_layer == dict(type='RoIAlign', output_size=7, sampling_ratio=2,
                                                               aligned=False)
    assert model.train_cfg.rpn_proposal.max_per_img == 2000
    assert model.train_cfg.rcnn.assigner.match_low_quality is True


@pytest.mark.parametrize('depth', [50, 101])
def test_resnext_gn_ws_configs(depth):
    model = _load(f'gn+ws/faster_rcnn_x{depth}_32x4d_fpn_gn_ws-all_1x_coco.py').model
    gn, ws = dict(type='GN', num_groups=32, requires_grad=True), dict(type='ConvWS')
    assert model.backbone == dict(
        type='ResNeXt', depth=depth, groups=32, base_width=4, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
        style='pytorch', conv_cfg=ws, norm_cfg=gn, norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=f'open-mmlab://jhu/resnext{depth}_32x4d_gn_ws'))
    assert model.neck.conv_cfg == model.roi_head.bbox_head.conv_cfg == ws
    assert model.neck.norm_cfg == model.roi_head.bbox_head.norm_cfg == gn
