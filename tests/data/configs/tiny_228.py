# tiny.py written the MMDetection 2.28 way: loader settings in data.*_dataloader, ${key}
# references (whole values and inside strings), auto_scale_lr, opencv_num_threads and
# mp_start_method (the rest from configs/_base_/default_runtime.py).
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
num_train_images = 12
data = dict(
    train_dataloader=dict(samples_per_gpu=4, workers_per_gpu=0),
    val_dataloader=dict(samples_per_gpu=1, workers_per_gpu=0),
    test_dataloader=dict(samples_per_gpu=2, workers_per_gpu=0),
    train=dict(type='TinyTestDataset', num_samples='${num_train_images}', pipeline=train_pipeline),
    val=dict(type='TinyTestDataset', num_samples=4, test_mode=True),
    test=dict(type='TinyTestDataset', num_samples=4, test_mode=True, pipeline=[]))
optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='fixed')
runner = dict(type='EpochBasedRunner', max_epochs=1)
log_config = dict(interval=1)
custom_hooks = []
# batch size 4 on 1 process against a base of 16: --auto-scale-lr gives 0.02 x 4 / 16 = 0.005
auto_scale_lr = dict(enable=False, base_batch_size=16)
opencv_num_threads = 3
mp_start_method = 'spawn'
run_name = 'tiny_228_bs${data.train_dataloader.samples_per_gpu}_of_${num_train_images}'
