"""The quick start's toy config trains end to end through tools/train.py (shrunk to seconds).

The full run (``bash tools/quick_start.sh``, minutes) is checked by hand against the accuracy
target noted at the top of ``configs/toy/faster_rcnn_r18_fpn_toy.py`` (bbox_mAP_50 >= 0.8); this
test only checks that the same config, on a few generated images, writes a checkpoint, evaluates
and learns.
"""
import json

from tests.conftest import REPO_ROOT, run_in_process

TOY_CONFIG = REPO_ROOT / 'configs/toy/faster_rcnn_r18_fpn_toy.py'
NUM_TRAIN, NUM_VAL, BATCH = 16, 4, 2


def data_options(root):
    """--cfg-options pointing train/val/test of the toy config at a generated set in ``root``."""
    options = []
    for split, key in (('train', 'train'), ('val', 'val'), ('val', 'test')):
        options += [f'data.{key}.ann_file={root}/annotations/instances_{split}.json',
                    f'data.{key}.img_prefix={root}/{split}/']
    return options


def read_log(work_dir):
    (log_file,) = work_dir.glob('*.log.json')
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    return [line for line in lines if 'mode' in line]


def test_toy_config_trains_evaluates_and_checkpoints(tmp_path):
    data_root, work_dir = tmp_path / 'toy_coco', tmp_path / 'work'
    made = run_in_process('misc/make_toy_coco.py', '--out', data_root, '--num-train', NUM_TRAIN,
                          '--num-val', NUM_VAL, '--seed', '3')
    assert made.returncode == 0, made.stderr

    # One epoch of NUM_TRAIN / BATCH = 8 iterations, each logged; a short warm-up so that
    # the loss can fall within them.
    result = run_in_process(
        'train.py', TOY_CONFIG, '--work-dir', work_dir, '--seed', '0', '--deterministic',
        '--cfg-options', *data_options(data_root), f'data.samples_per_gpu={BATCH}',
        'data.workers_per_gpu=0', 'runner.max_epochs=1', 'lr_config.warmup_iters=2',
        'log_config.interval=1')
    assert result.returncode == 0, result.stderr

    assert (work_dir / 'epoch_1.pth').is_file() and (work_dir / 'latest.pth').exists()
    log = read_log(work_dir)
    train_losses = [line['loss'] for line in log if line['mode'] == 'train']
    assert len(train_losses) == NUM_TRAIN // BATCH
    assert train_losses[-1] < train_losses[0], train_losses
    (evaluation,) = [line for line in log if line['mode'] == 'val']
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'):
        assert 0 <= evaluation[key] <= 1, (key, evaluation)
    for key in ('bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l'):  # -1: no object of that size
        assert -1 <= evaluation[key] <= 1, (key, evaluation)
