"""tools/misc/browse_dataset.py: ground truth after the train pipeline, in the class colours."""
import mmcv
import pytest

from mmdet_lite.core.visualization.palette import COCO_PALETTE
from tests.fixtures.drawn_boxes import edge_colour_distance
from tests.fixtures.grey_coco import GREY, GT_B, HEIGHT, NUM_IMAGES, WIDTH, gt_box_a, write_grey_coco


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    return write_grey_coco(tmp_path_factory.mktemp('grey_coco'))


def test_writes_every_training_image_with_its_boxes_in_class_colours(setup, run_tool_in_process,
                                                                      tmp_path):
    result = run_tool_in_process('misc/browse_dataset.py', setup['config'], '--output-dir',
                                 tmp_path, '--not-show')
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'{i}.png' for i in range(NUM_IMAGES)]
    for i in range(NUM_IMAGES):
        drawn = mmcv.imread(str(tmp_path / f'{i}.png'))
        # Pad (size_divisor=32) ran: 64x48 -> 64x64, the padding black
        assert drawn.shape == (64, WIDTH, 3) and (drawn[HEIGHT + 2:] < 10).all()
        assert edge_colour_distance(drawn, gt_box_a(i), COCO_PALETTE[0], GREY) < 10
        assert edge_colour_distance(drawn, GT_B, COCO_PALETTE[1], GREY) < 10


def test_pipeline_steps_are_skipped_by_type(setup, run_tool_in_process, tmp_path):
    result = run_tool_in_process('misc/browse_dataset.py', setup['config'], '--output-dir',
                                 tmp_path, '--not-show', '--skip-type', 'DefaultFormatBundle',
                                 'Normalize', 'Collect', 'Pad')
    assert result.returncode == 0, result.stderr
    assert mmcv.imread(str(tmp_path / '0.png')).shape == (HEIGHT, WIDTH, 3)


def test_not_show_without_output_dir_is_refused(setup, run_tool_in_process):
    result = run_tool_in_process('misc/browse_dataset.py', setup['config'], '--not-show')
    assert result.returncode == 2 and 'give --output-dir' in result.stderr
