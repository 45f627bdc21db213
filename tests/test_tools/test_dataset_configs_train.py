"""The VOC and soft-NMS configs train one epoch on tiny data and evaluate, through tools/train.py in
this process: configs/pascal_voc/faster_rcnn_r50_fpn_1x_voc0712.py on VOC2007 + VOC2012 samples
(its RepeatDataset of a two-year dataset list) evaluated with VOC07's mAP, and
configs/faster_rcnn/faster_rcnn_r50_fpn_soft_nms_1x_coco.py on the tiny COCO sample evaluated with
COCO's bbox mAP, and configs/openimages/faster_rcnn_r50_fpn_32x2_cas_1x_openimages.py (class-aware
sampling) on a tiny Open Images sample evaluated with the OpenImages mAP. The model is narrowed to
a ResNet-18 of 16 base channels and 64 px images."""
import json
import math

import pytest
from mmcv import Config
from mmcv.utils import config as mmcv_config

from tests.conftest import REPO_ROOT
from tests.fixtures.openimages import write_openimages
from tests.fixtures.xml_datasets import write_voc

# Replaces the R50-FPN of the configs: ResNet-18 with 16..128 channels, 16-channel FPN and heads.
TINY_MODEL = """
model = dict(
    backbone=dict(depth=18, base_channels=16, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=16),
                  bbox_head=dict(in_channels=16, fc_out_channels=32{num_classes})),
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100), rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100)))
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', img_scale=(64, 64), keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 64), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True),
        dict(type='RandomFlip'),
        dict(type='Normalize', **img_norm_cfg),
        dict(type='Pad', size_divisor=32),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img']),
    ])
]
runner = dict(max_epochs=1)
log_config = dict(interval=1)
"""


@pytest.fixture(autouse=True)
def unformatted_config_text(monkeypatch):
    """The tool logs and dumps the resolved config (~7 kB here) through yapf twice, most of this
    tiny run's time; unformatted, the text is the same Python."""
    monkeypatch.setattr(mmcv_config, 'FormatCode', lambda text, **kwargs: (text, False))


def _train(train_in_process, tmp_path, config_text):
    """Train the config ``config_text`` (written to tmp_path) one epoch; returns its val record."""
    config = tmp_path / 'tiny.py'
    config.write_text(config_text)
    work_dir = tmp_path / 'work'
    result = train_in_process(config, '--work-dir', work_dir, '--seed', '0')
    assert result.returncode == 0, result.stderr[-2000:]
    [log_json] = work_dir.glob('*.log.json')
    entries = [json.loads(line) for line in log_json.read_text().splitlines()[1:]]  # [0]: env
    assert [entry for entry in entries if entry['mode'] == 'train']
    [val] = [entry for entry in entries if entry['mode'] == 'val']
    return val, next(work_dir.glob('*.log')).read_text()


def test_voc0712_config_trains_on_tiny_voc_and_evaluates_voc_map(train_in_process, tmp_path):
    devkit = tmp_path / 'VOCdevkit'
    for year in (2007, 2012):
        write_voc(devkit, year, 'trainval')
    write_voc(devkit, 2007, 'test')
    config = (f"_base_ = '{REPO_ROOT}/configs/pascal_voc/faster_rcnn_r50_fpn_1x_voc0712.py'\n"
              f"data_root = '{devkit}/'\n" + TINY_MODEL.format(num_classes='') + """
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(times=1, dataset=dict(
        ann_file=[data_root + 'VOC2007/ImageSets/Main/trainval.txt',
                  data_root + 'VOC2012/ImageSets/Main/trainval.txt'],
        img_prefix=[data_root + 'VOC2007/', data_root + 'VOC2012/'], pipeline=train_pipeline)),
    val=dict(ann_file=data_root + 'VOC2007/ImageSets/Main/test.txt',
             img_prefix=data_root + 'VOC2007/', pipeline=test_pipeline))
""")
    val, log = _train(train_in_process, tmp_path, config)
    for key in ('mAP', 'AP50'):
        assert math.isfinite(val[key]) and 0 <= val[key] <= 1, key
    assert 'iou_thr: 0.5' in log and 'tvmonitor' in log  # the per-class table of VOC's AP


def test_soft_nms_config_trains_on_tiny_coco_and_evaluates_bbox_map(train_in_process, coco_root,
                                                                    tmp_path):
    config = (f"_base_ = '{REPO_ROOT}/configs/faster_rcnn/faster_rcnn_r50_fpn_soft_nms_1x_coco.py'\n"
              + TINY_MODEL.format(num_classes=', num_classes=3') + f"""
classes = ('person', 'dog', 'toothbrush')
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(classes=classes, ann_file='{coco_root}/train.json', img_prefix='{coco_root}/train/',
               pipeline=train_pipeline),
    val=dict(classes=classes, ann_file='{coco_root}/val.json', img_prefix='{coco_root}/val/',
             pipeline=test_pipeline))
""")
    val, _ = _train(train_in_process, tmp_path, config)
    dumped = Config.fromfile(tmp_path / 'work' / 'tiny.py')  # the config the run used
    assert dumped.model.test_cfg.rcnn.nms == dict(type='soft_nms', iou_threshold=0.5)
    for key in ('bbox_mAP', 'bbox_mAP_50'):
        assert math.isfinite(val[key]) and 0 <= val[key] <= 1, key


def test_openimages_cas_config_trains_on_tiny_openimages_and_evaluates_openimages_map(
        train_in_process, tmp_path):
    files = {key: str(path) for key, path in write_openimages(tmp_path / 'oi').items()}
    base = REPO_ROOT / 'configs/openimages/faster_rcnn_r50_fpn_32x2_cas_1x_openimages.py'
    config = (f"_base_ = '{base}'\n"
              + TINY_MODEL.format(num_classes=', num_classes=3') + f"""
train_pipeline[1] = dict(type='LoadAnnotations', with_bbox=True, denorm_bbox=True)
files = {files!r}
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(ann_file=files['ann_file'], img_prefix=files['img_prefix'] + '/',
               label_file=files['label_file'], hierarchy_file=files['hierarchy_file'],
               pipeline=train_pipeline),
    val=dict(ann_file=files['ann_file'], img_prefix=files['img_prefix'] + '/',
             label_file=files['label_file'], hierarchy_file=files['hierarchy_file'],
             meta_file=files['meta_file'], image_level_ann_file=files['image_level_ann_file'],
             pipeline=test_pipeline))
""")
    val, log = _train(train_in_process, tmp_path, config)
    dumped = Config.fromfile(tmp_path / 'work' / 'tiny.py')
    assert dumped.data.train_dataloader.class_aware_sampler == dict(num_sample_class=1)
    for key in ('mAP', 'AP50'):
        assert math.isfinite(val[key]) and 0 <= val[key] <= 1, key
    assert 'iou_thr, ioa_thr: 0.5, 0.5' in log and 'Animal' in log  # OpenImages' per-class table
