"""tools/analysis_tools/analyze_results.py: per-image mAP, the top-k good and bad images drawn."""
import mmcv
import numpy as np
import pytest

from mmdet_lite.core.visualization.palette import COCO_PALETTE
from tests.fixtures.drawn_boxes import edge_colour_distance
from tests.fixtures.grey_coco import (GREY, GT_B, HEIGHT, MISPLACED_B, NUM_IMAGES, WIDTH,
                                      gt_box_a, predictions, write_grey_coco)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """The grey set and a results file as tools/test.py --out writes it for the oracle."""
    files = write_grey_coco(tmp_path_factory.mktemp('grey_coco'))
    found = predictions(files['root'])
    results = []
    for i in range(NUM_IMAGES):
        dets = np.array(found[f'{i}.png'], np.float32)
        results.append([dets[dets[:, 5] == label, :5] for label in range(2)])
    files['results'] = files['root'] / 'results.pkl'
    mmcv.dump(results, str(files['results']))
    return files


def test_top_k_good_and_bad_images_named_with_their_map(setup, run_tool_in_process, tmp_path):
    result = run_tool_in_process('analysis_tools/analyze_results.py', setup['config'],
                                 setup['results'], tmp_path, '--topk', '2')
    assert result.returncode == 0, result.stderr
    # images 0, 1 detected exactly; 2, 3 with the class-b box misplaced: AP 1 and 0 over 2 classes
    assert sorted(p.name for p in (tmp_path / 'good').iterdir()) == ['0_1.0.png', '1_1.0.png']
    assert sorted(p.name for p in (tmp_path / 'bad').iterdir()) == ['2_0.5.png', '3_0.5.png']
    bad = mmcv.imread(str(tmp_path / 'bad' / '2_0.5.png'))
    assert bad.shape == (2 * HEIGHT, WIDTH, 3)  # ground truth above, detections below
    gt, det = bad[:HEIGHT], bad[HEIGHT:]
    assert edge_colour_distance(gt, gt_box_a(2), COCO_PALETTE[0], GREY) < 10
    assert edge_colour_distance(gt, GT_B, COCO_PALETTE[1], GREY) < 10
    assert edge_colour_distance(det, MISPLACED_B, COCO_PALETTE[1], GREY) < 10
    assert edge_colour_distance(det, GT_B, COCO_PALETTE[1], GREY) > 50


def test_topk_beyond_half_the_images_is_cut_and_overlay_draws_one_image(setup, run_tool_in_process,
                                                                         tmp_path):
    result = run_tool_in_process('analysis_tools/analyze_results.py', setup['config'],
                                 setup['results'], tmp_path, '--topk', '5', '--overlay-gt-pred')
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / 'good').iterdir())) == len(list((tmp_path / 'bad').iterdir())) == 2
    assert mmcv.imread(str(tmp_path / 'good' / '0_1.0.png')).shape == (HEIGHT, WIDTH, 3)


def test_missing_prediction_file_is_one_message(setup, run_tool_in_process, tmp_path):
    result = run_tool_in_process('analysis_tools/analyze_results.py', setup['config'],
                                 tmp_path / 'none.pkl', tmp_path)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert f'prediction file {tmp_path}/none.pkl does not exist' in result.stderr
