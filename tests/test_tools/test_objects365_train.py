"""configs/objects365/faster_rcnn_r50_fpn_syncbn_1350k_obj365v1.py trains through tools/train.py in
this process: IterBasedRunner, SyncBN (plain batch norm in one process), linear warmup by
iterations, gradient clipping, and COCO bbox evaluation by iterations, on tiny Objects365 v1 data
(all 365 categories, listed shuffled). The model is tests/test_tools/test_dataset_configs_train.py's
ResNet-18 of 16 base channels on 64 px images, its SyncBN layers in training mode."""
import json
import math

from mmcv import Config

from tests.conftest import REPO_ROOT
from tests.fixtures.objects365 import write_objects365
from tests.test_tools.test_dataset_configs_train import (TINY_MODEL, _train,  # noqa: F401
                                                         unformatted_config_text)

MAX_ITERS = 2


def test_1350k_config_trains_by_iterations_and_evaluates_bbox_map(train_in_process, tmp_path):
    root = tmp_path / 'Obj365_v1'
    car, person = 9, 1  # category ids: 'car' and 'person' of Objects365V1Dataset.CLASSES
    write_objects365(root, 'annotations/objects365_train.json', 'train',
                     [f'{i}.jpg' for i in range(4)], [car, person, car, person])
    write_objects365(root, 'annotations/objects365_val.json', 'val', ['0.jpg', '1.jpg'], [car, person])
    config = (f"_base_ = '{REPO_ROOT}/configs/objects365/faster_rcnn_r50_fpn_syncbn_1350k_obj365v1.py'\n"
              f"data_root = '{root}/'\n" + TINY_MODEL.format(num_classes='') + f"""
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(ann_file=data_root + 'annotations/objects365_train.json',
               img_prefix=data_root + 'train/', pipeline=train_pipeline),
    val=dict(ann_file=data_root + 'annotations/objects365_val.json',
             img_prefix=data_root + 'val/', pipeline=test_pipeline))
runner = dict(_delete_=True, type='IterBasedRunner', max_iters={MAX_ITERS})
checkpoint_config = dict(interval={MAX_ITERS})
evaluation = dict(interval={MAX_ITERS})
model['test_cfg']['rcnn'] = dict(score_thr=0.0)  # detections of the untrained model reach COCOeval
""")
    val, log = _train(train_in_process, tmp_path, config)
    for key in ('bbox_mAP', 'bbox_mAP_50'):
        assert math.isfinite(val[key]) and 0 <= val[key] <= 1, key
    assert 'Average Precision  (AP) @[ IoU=0.50:0.95' in log  # COCOeval ran on detections
    work_dir = tmp_path / 'work'
    dumped = Config.fromfile(work_dir / 'tiny.py')  # the config the run used
    assert dumped.model.backbone.norm_cfg.type == 'SyncBN' and not dumped.model.backbone.norm_eval
    assert (work_dir / f'iter_{MAX_ITERS}.pth').is_file()
    train = [entry for entry in _entries(work_dir) if entry['mode'] == 'train']
    assert [entry['iter'] for entry in train] == list(range(1, MAX_ITERS + 1))
    # linear warmup over the config's 1000 iterations from 0.001 x lr 0.02
    warmup = [0.02 * (1 - (1 - i / 1000) * (1 - 0.001)) for i in range(MAX_ITERS)]
    for i, lr in enumerate(warmup):  # the .log.json rounds lr to 5 decimals, the text log not
        assert f'Iter [{i + 1}/{MAX_ITERS}]\tlr: {lr:.3e},' in log
    assert all(math.isfinite(entry['grad_norm']) for entry in train)  # logged with grad_clip


def _entries(work_dir):
    [log_json] = work_dir.glob('*.log.json')
    return [json.loads(line) for line in log_json.read_text().splitlines()[1:]]
