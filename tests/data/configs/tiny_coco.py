# TinyTestDetector on a COCO-format sample a test writes under data_root (set with
# --cfg-options data.train.data_root=... data.val.data_root=...): train.json + train/,
# val.json + val/.
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.fixtures.tiny_components'], allow_failed_imports=False)
model = dict(type='TinyTestDetector', num_classes=3)
classes = ('person', 'dog', 'toothbrush')
img_norm_cfg = dict(mean=[0, 0, 0], std=[255, 255, 255], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', img_scale=(40, 32), keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=8),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(40, 32), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True),
        dict(type='RandomFlip'),
        dict(type='Normalize', **img_norm_cfg),
        dict(type='Pad', size_divisor=8),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img']),
    ])
]
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=1,  # a worker's error reaches the main process wrapped by torch
    train=dict(type='CocoDataset', classes=classes, data_root='unset/', ann_file='train.json',
               img_prefix='train/', pipeline=train_pipeline),
    val=dict(type='CocoDataset', classes=classes, data_root='unset/', ann_file='val.json',
             img_prefix='val/', pipeline=test_pipeline))
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='fixed')
runner = dict(type='EpochBasedRunner', max_epochs=1)
checkpoint_config = dict(interval=1)
log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
custom_hooks = []
