_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.fixtures.tiny_components'], allow_failed_imports=False)
model = dict(
    type='TinyTestDetector',
    num_classes=3,
    rpn_head=dict(anchor_generator=dict(type='AnchorGenerator', ratios=[0.5, 1.0, 2.0])))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', img_scale=(1333, 800), keep_ratio=True),
]
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=0,
    train=dict(type='TinyTestDataset', num_samples=12, pipeline=train_pipeline),
    val=dict(type='TinyTestDataset', num_samples=4, test_mode=True))
optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', warmup='linear', warmup_iters=4, warmup_ratio=0.1, step=[2])
runner = dict(type='EpochBasedRunner', max_epochs=1)
log_config = dict(interval=2)
custom_hooks = []
