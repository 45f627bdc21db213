"""tools/test.py --show-dir draws through the detector's show_result in the dataset's class
colours; --work-dir keeps the metrics (eval_<timestamp>.json) and the log with a failure's
traceback."""
import json

import mmcv
import pytest
import torch

from mmdet_lite.core.visualization.palette import COCO_PALETTE
from tests.fixtures.drawn_boxes import edge_colour_distance
from tests.fixtures.grey_coco import GREY, GT_B, LOW_SCORE_A, NUM_IMAGES, gt_box_a, write_grey_coco


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    return write_grey_coco(tmp_path_factory.mktemp('grey_coco'))


def test_show_dir_draws_each_class_in_its_coco_colour(setup, run_tool_in_process, tmp_path):
    show_dir, work_dir = tmp_path / 'show', tmp_path / 'work'
    result = run_tool_in_process('test.py', setup['config'], setup['checkpoint'],
                                 '--show-dir', show_dir, '--show-score-thr', '0.5',
                                 '--eval', 'bbox', '--work-dir', work_dir)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in show_dir.iterdir()) == [f'{i}.png' for i in range(NUM_IMAGES)]
    drawn = mmcv.imread(str(show_dir / '0.png'))
    assert drawn.shape == (48, 64, 3)
    assert edge_colour_distance(drawn, gt_box_a(0), COCO_PALETTE[0], GREY) < 10
    assert edge_colour_distance(drawn, GT_B, COCO_PALETTE[1], GREY) < 10
    assert edge_colour_distance(drawn, LOW_SCORE_A, COCO_PALETTE[0], GREY) > 50  # 0.3 < 0.5

    eval_files = list(work_dir.glob('eval_*.json'))
    assert len(eval_files) == 1
    saved = json.loads(eval_files[0].read_text())
    assert saved['config'] == str(setup['config'])
    assert 0 < saved['metric']['bbox_mAP'] < 1 and 'bbox_mAP_50' in saved['metric']
    assert len(list(work_dir.glob('test_*.log'))) == 1


def test_a_failed_run_keeps_its_traceback_in_the_work_dir_log(setup, run_tool_in_process,
                                                              tmp_path):
    empty = tmp_path / 'empty.pth'
    torch.save(dict(state_dict={}), empty)
    work_dir = tmp_path / 'work'
    result = run_tool_in_process('test.py', setup['config'], empty, '--eval', 'bbox',
                                 '--work-dir', work_dir)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert 'fills only 0 of the 1 tensors' in result.stderr
    log = next(work_dir.glob('test_*.log')).read_text()
    assert 'Testing stopped by an error:\nTraceback (most recent call last)' in log
    assert 'CheckpointError: checkpoint file' in log
    assert not list(work_dir.glob('eval_*.json'))
