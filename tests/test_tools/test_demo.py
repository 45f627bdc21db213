"""demo/image_demo.py and demo/video_demo.py on the oracle test detector (CPU, in-process)."""
import cv2
import mmcv
import numpy as np
import pytest

from mmdet_lite.core.visualization.palette import COCO_PALETTE
from tests.fixtures.drawn_boxes import edge_colour_distance
from tests.fixtures.grey_coco import GREY, GT_B, HEIGHT, LOW_SCORE_A, WIDTH, gt_box_a, write_grey_coco

NUM_FRAMES = 3


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    return write_grey_coco(tmp_path_factory.mktemp('grey_coco'))


def test_image_demo_writes_the_image_with_boxes_in_palette_colours(setup, run_tool_in_process,
                                                                   tmp_path):
    out_file = tmp_path / 'out' / 'result.png'
    result = run_tool_in_process('demo/image_demo.py', setup['imgs'] / '0.png', setup['config'],
                                 setup['checkpoint'], '--device', 'cpu', '--out-file', out_file)
    assert result.returncode == 0, result.stderr
    drawn = mmcv.imread(str(out_file))
    assert drawn.shape == (HEIGHT, WIDTH, 3)
    assert edge_colour_distance(drawn, gt_box_a(0), COCO_PALETTE[0], GREY) < 10
    assert edge_colour_distance(drawn, GT_B, COCO_PALETTE[1], GREY) < 10
    assert edge_colour_distance(drawn, LOW_SCORE_A, COCO_PALETTE[0], GREY) > 50  # --score-thr 0.3


@pytest.mark.parametrize('case, message', [
    ('missing image', 'image file {root}/nowhere.png does not exist'),
    ('missing checkpoint', 'checkpoint file {root}/nowhere.pth does not exist'),
    ('cuda', "device 'cuda:0': CUDA is not available on this machine (use device='cpu')"),
    ('async', '--async-test: asynchronous inference'),
])
def test_image_demo_bad_input_is_one_message(setup, run_tool_in_process, case, message):
    if case == 'cuda' and __import__('torch').cuda.is_available():
        pytest.skip('checks the message on a machine without CUDA')
    root = setup['root']
    args = {'missing image': (root / 'nowhere.png', setup['config'], setup['checkpoint'], '--device', 'cpu'),
            'missing checkpoint': (setup['imgs'] / '0.png', setup['config'], root / 'nowhere.pth',
                                   '--device', 'cpu'),
            'cuda': (setup['imgs'] / '0.png', setup['config'], setup['checkpoint']),
            'async': (setup['imgs'] / '0.png', setup['config'], setup['checkpoint'], '--async-test')}
    result = run_tool_in_process('demo/image_demo.py', *args[case])
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.startswith('demo/image_demo.py: error: ')
    assert message.format(root=root) in result.stderr


def write_grey_video(path) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 5, (WIDTH, HEIGHT))
    for _ in range(NUM_FRAMES):
        writer.write(np.full((HEIGHT, WIDTH, 3), GREY, np.uint8))
    writer.release()


def read_frames(path) -> list:
    capture = cv2.VideoCapture(str(path))
    frames = []
    ok, frame = capture.read()
    while ok:
        frames.append(frame)
        ok, frame = capture.read()
    return frames


def test_video_demo_writes_every_frame_annotated(setup, run_tool_in_process, tmp_path):
    video, out = tmp_path / 'in.mp4', tmp_path / 'out.mp4'
    write_grey_video(video)
    result = run_tool_in_process('demo/video_demo.py', video, setup['config'], setup['checkpoint'],
                                 '--device', 'cpu', '--out', out)
    assert result.returncode == 0, result.stderr
    frames = read_frames(out)
    assert len(frames) == NUM_FRAMES and frames[0].shape == (HEIGHT, WIDTH, 3)
    # show_result's default colour (72, 101, 241) on the class-b box; mp4v blurs it
    for frame in frames:
        towards_blue = edge_colour_distance(frame, GT_B, (72, 101, 241), GREY)
        assert towards_blue < 40
        assert towards_blue < edge_colour_distance(frame, GT_B, (GREY,) * 3, GREY) - 15


def test_video_demo_needs_an_output_and_a_readable_video(setup, run_tool_in_process, tmp_path):
    result = run_tool_in_process('demo/video_demo.py', tmp_path / 'in.mp4', setup['config'],
                                 setup['checkpoint'])
    assert result.returncode == 2 and 'Please specify at least one operation' in result.stderr
    result = run_tool_in_process('demo/video_demo.py', tmp_path / 'in.mp4', setup['config'],
                                 setup['checkpoint'], '--device', 'cpu', '--out', tmp_path / 'o.mp4')
    assert result.returncode == 1 and f'video file {tmp_path}/in.mp4 does not exist' in result.stderr
    (tmp_path / 'text.mp4').write_text('not a video')
    result = run_tool_in_process('demo/video_demo.py', tmp_path / 'text.mp4', setup['config'],
                                 setup['checkpoint'], '--device', 'cpu', '--out', tmp_path / 'o.mp4')
    assert result.returncode == 1 and f'cannot read video file {tmp_path}/text.mp4' in result.stderr
