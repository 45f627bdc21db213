"""tools/analysis_tools: analyze_logs, get_flops, benchmark, eval_metric, confusion_matrix (CPU,
in this process)."""
import ast
import json
import pickle
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmcv import Config

from tests.conftest import REPO_ROOT, TINY_CONFIG, free_port, load_tool, run_in_process
from tests.test_datasets.helpers import write_oracle_setup

TOY_CONFIG = REPO_ROOT / 'configs' / 'toy' / 'faster_rcnn_r18_fpn_toy.py'


def analysis_tool(name):
    return load_tool(f'analysis_tools/{name}.py')


# ---------------------------------------------------------------- analyze_logs

def write_log(path, epochs):
    """A .log.json as TextLoggerHook writes it: the meta line, then per epoch ``(train, val)``:
    train a list of ``(iter, loss_cls, time)``, val a bbox_mAP or None."""
    lines = [dict(env_info='...', seed=0, exp_name='x.py')]
    for epoch, (train, bbox_map) in enumerate(epochs, start=1):
        lines += [dict(mode='train', epoch=epoch, iter=it, lr=0.02, loss_cls=loss, time=time)
                  for it, loss, time in train]
        if bbox_map is not None:
            lines.append(dict(mode='val', epoch=epoch, iter=train[-1][0], lr=0.02, bbox_mAP=bbox_map))
    path.write_text(''.join(json.dumps(line) + '\n' for line in lines))
    return path


@pytest.fixture
def two_epoch_log(tmp_path):
    return write_log(tmp_path / 'run.log.json', [
        ([(2, 0.9, 9.0), (4, 0.7, 1.0), (6, 0.6, 2.0)], 0.25),
        ([(2, 0.5, 9.0), (4, 0.4, 3.0), (6, 0.3, 5.0)], 0.5),
    ])


def test_plot_curve_draws_the_logged_points(two_epoch_log, tmp_path):
    tool = analysis_tool('analyze_logs')
    out = tmp_path / 'curves.svg'
    args = tool.parse_args(['plot_curve', str(two_epoch_log), '--keys', 'loss_cls', 'bbox_mAP',
                            '--title', 'run', '--out', str(out)])
    fig = tool.plot_curve(tool.load_json_logs(args.json_logs), args)
    try:
        (loss_ax, map_ax) = fig.axes
        (loss_line,), (map_line,) = loss_ax.get_lines(), map_ax.get_lines()
        # training keys against the iteration counted from the start (6 a epoch), mAP by epoch
        assert list(loss_line.get_xdata()) == [2, 4, 6, 8, 10, 12]
        assert list(loss_line.get_ydata()) == [0.9, 0.7, 0.6, 0.5, 0.4, 0.3]
        assert list(map_line.get_xdata()) == [1, 2] and list(map_line.get_ydata()) == [0.25, 0.5]
        assert (loss_ax.get_xlabel(), map_ax.get_xlabel()) == ('iter', 'epoch')
        assert loss_ax.get_legend().get_texts()[0].get_text() == 'loss_cls'
        assert loss_ax.get_title() == 'run'
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)
    assert out.read_text().startswith('<?xml') and 'run' in out.read_text()


def test_plot_curve_command_saves_the_figure(two_epoch_log, tmp_path, run_tool_in_process):
    out = tmp_path / 'sub' / 'map.png'
    result = run_tool_in_process('analysis_tools/analyze_logs.py', 'plot_curve', two_epoch_log,
                                 two_epoch_log, '--legend', 'a', 'b', '--out', out)
    assert result.returncode == 0, result.stderr
    assert f'plot curve of {two_epoch_log}, metric is bbox_mAP' in result.stdout
    assert f'save curve to: {out}' in result.stdout
    assert out.read_bytes().startswith(b'\x89PNG')


def test_cal_train_time_leaves_out_the_first_time_of_each_epoch(two_epoch_log, run_tool_in_process):
    result = run_tool_in_process('analysis_tools/analyze_logs.py', 'cal_train_time', two_epoch_log)
    assert result.returncode == 0, result.stderr
    # epoch means without the 9.0 outliers: 1.5 and 4.0; std 1.25; all iterations 11 / 4
    assert result.stdout.splitlines() == [
        f'-----Analyze train time of {two_epoch_log}-----',
        'slowest epoch 2, average time is 4.0000',
        'fastest epoch 1, average time is 1.5000',
        'time std over epochs is 1.2500',
        'average iter time: 2.7500 s/iter',
        '']


def test_cal_train_time_include_outliers(two_epoch_log):
    tool = analysis_tool('analyze_logs')
    args = tool.parse_args(['cal_train_time', str(two_epoch_log), '--include-outliers'])
    (summary,) = tool.cal_train_time(tool.load_json_logs(args.json_logs), args)
    assert summary['slowest_epoch'] == 2 and summary['slowest_time'] == pytest.approx(17 / 3)
    assert summary['fastest_epoch'] == 1 and summary['fastest_time'] == pytest.approx(4.0)
    assert summary['std_over_epochs'] == pytest.approx(5 / 6)
    assert summary['average_iter_time'] == pytest.approx(29 / 6)


def test_a_log_still_being_written_loses_only_its_last_line(two_epoch_log):
    with open(two_epoch_log, 'a') as f:
        f.write('{"mode": "train", "epoch": 3, "it')
    with pytest.warns(UserWarning, match='its last line is incomplete'):
        log_dict = analysis_tool('analyze_logs').load_json_log(str(two_epoch_log))
    assert sorted(log_dict) == [1, 2] and len(log_dict[2]) == 4


@pytest.mark.parametrize('case', ['missing', 'unknown_key', 'legend'])
def test_analyze_logs_bad_input_is_one_message(two_epoch_log, tmp_path, run_tool_in_process, case):
    args = {'missing': ['plot_curve', tmp_path / 'none.log.json', '--out', tmp_path / 'x.png'],
            'unknown_key': ['plot_curve', two_epoch_log, '--keys', 'loss_rpn', '--out', tmp_path / 'x.png'],
            'legend': ['plot_curve', two_epoch_log, '--legend', 'a', 'b', '--out', tmp_path / 'x.png']}[case]
    result = run_tool_in_process('analysis_tools/analyze_logs.py', *args)
    expected = {'missing': f'log file {tmp_path / "none.log.json"} does not exist',
                'unknown_key': f'{two_epoch_log} does not contain metric loss_rpn',
                'legend': '--legend needs one label per log and key (1 logs x 1 keys = 1), got 2'}
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert expected[case] in result.stderr
    if case == 'unknown_key':
        assert 'its keys are bbox_mAP, loss_cls, lr, time' in result.stderr
    assert not (tmp_path / 'x.png').exists()


# ---------------------------------------------------------------- get_flops

class SmallConvNet(nn.Module):
    """conv 3->4 (3x3, pad 1) on 8x8, then a linear layer 256 -> 10."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 10)
        self.fc.bias.requires_grad = False  # frozen: not counted, as mmcv counts

    def forward_dummy(self, img):
        return self.fc(torch.relu(self.bn(self.conv(img))).flatten(1))


def test_flops_are_multiply_adds_of_convs_and_matmuls():
    macs, params = analysis_tool('get_flops').model_complexity(SmallConvNet(), (3, 8, 8))
    # conv: 8*8 positions x 4 filters x 3*3*3 weights; linear: 256 x 10
    assert macs == 8 * 8 * 4 * 27 + 256 * 10
    assert params == (4 * 27 + 4) + 8 + 256 * 10  # conv, bn (weight and bias), fc weight


def test_get_flops_prints_mmdetection_lines(run_tool_in_process):
    result = run_tool_in_process('analysis_tools/get_flops.py', TOY_CONFIG, '--shape', 100, 150)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    split = '=' * 30
    assert lines[:3] == [split, 'Use size divisor set input shape from (3, 100, 150) to '
                         '(3, 128, 160)', '']
    assert lines[3:5] == [split, 'Input shape: (3, 128, 160)']
    assert re.fullmatch(r'Flops: \d+\.\d+ GFLOPs', lines[5]) and lines[7] == split
    assert lines[8] == load_tool('analysis_tools/get_flops.py').CAUTION
    from mmdet_lite.models.builder import build_detector
    model = build_detector(Config.fromfile(str(TOY_CONFIG)).model)
    num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert lines[6] == f'Params: {round(num_params / 1e6, 2)} M'


def test_get_flops_refuses_a_detector_without_forward_dummy(run_tool_in_process):
    result = run_tool_in_process('analysis_tools/get_flops.py', TINY_CONFIG, '--shape', 16)
    assert result.returncode == 1
    assert 'FLOPs counter is currently not supported with TinyTestDetector' in result.stderr


# ------------------------------------------- benchmark, eval_metric, confusion_matrix

NUM_IMAGES = 8


@pytest.fixture(scope='module')
def oracle(tmp_path_factory):
    """8 COCO images of classes a/b, a config with the oracle detector answering one box each
    (IoU 0.875 with its ground truth once shifted by the checkpoint's 2 px) and that checkpoint."""
    root = tmp_path_factory.mktemp('analysis')
    config, checkpoint, _ = write_oracle_setup(root, NUM_IMAGES, shift=2)
    return root, config, checkpoint


_test_py_runs = {}


@pytest.fixture
def results_pkl(oracle, run_tool_in_process):
    """tools/test.py --out --eval bbox on the oracle (run once for the module): the pickle and the
    metrics it printed."""
    root, config, checkpoint = oracle
    out = root / 'results.pkl'
    if out not in _test_py_runs:
        result = run_tool_in_process('test.py', config, checkpoint, '--out', out, '--eval', 'bbox')
        assert result.returncode == 0, result.stderr
        _test_py_runs[out] = printed_metrics(result.stdout)
    return out, _test_py_runs[out]


def printed_metrics(stdout):
    line = [line for line in stdout.splitlines() if line.startswith('OrderedDict(')][-1]
    return dict(ast.literal_eval(line[len('OrderedDict('):-1]))


def check_speed_line(line, prefix):
    match = re.fullmatch(re.escape(prefix) + r'fps: ([\d.]+) img / s, times per image: ([\d.]+) ms / img',
                         line)
    assert match, line
    fps, ms = map(float, match.groups())
    assert ms == pytest.approx(1000 / fps, rel=0.01, abs=0.06)  # both printed to 0.1


def test_benchmark_one_process(oracle, run_tool_in_process):
    _, config, checkpoint = oracle
    result = run_tool_in_process('analysis_tools/benchmark.py', config, checkpoint,
                                 '--max-iter', 7, '--log-interval', 3)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if 'fps' in line]
    # images 1-5 warm up: the first line comes after image 6; it stops after --max-iter 7
    assert len(lines) == 2
    check_speed_line(lines[0], 'Done image [6  / 7], ')
    check_speed_line(lines[1], 'Overall ')


def test_benchmark_reads_the_loader_settings_of_a_2_28_config(oracle, tmp_path):
    """A config that sets its loaders in ``data.test_dataloader`` only (no ``data.workers_per_gpu``)."""
    _, config, checkpoint = oracle
    text = config.read_text()
    assert 'data = dict(workers_per_gpu=0,' in text
    config_228 = tmp_path / 'oracle_228.py'
    config_228.write_text(text.replace('data = dict(workers_per_gpu=0,',
                                       'data = dict(test_dataloader=dict(workers_per_gpu=0),'))
    result = run_in_process('analysis_tools/benchmark.py', config_228, checkpoint, '--max-iter', 6)
    assert result.returncode == 0, result.stderr
    check_speed_line([line for line in result.stdout.splitlines() if 'fps' in line][-1], 'Overall ')


def test_benchmark_repeats_under_a_launcher(oracle):
    _, config, checkpoint = oracle
    launcher_env = dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                        MASTER_PORT=str(free_port()))
    result = run_in_process('analysis_tools/benchmark.py', config, checkpoint, '--max-iter', 6,
                            '--repeat-num', 2, '--launcher', 'pytorch', env=launcher_env)
    assert result.returncode == 0, result.stderr
    assert not torch.distributed.is_initialized()
    lines = [line for line in result.stdout.splitlines() if 'fps' in line]
    assert len(lines) == 3
    for line in lines[:2]:
        check_speed_line(line, 'Overall ')
    fps = [float(re.search(r'fps: ([\d.]+)', line).group(1)) for line in lines[:2]]
    match = re.fullmatch(r'Overall fps: \[(.*)\]\[([\d.]+)\] img / s, times per image: \[(.*)\]'
                         r'\[([\d.]+)\] ms / img', lines[2])
    assert [float(x) for x in match.group(1).split(', ')] == fps
    assert float(match.group(2)) == pytest.approx(sum(fps) / 2, abs=0.051)


def test_eval_metric_matches_test_py(oracle, results_pkl, run_tool_in_process):
    _, config, _ = oracle
    pkl, test_metrics = results_pkl
    result = run_tool_in_process('analysis_tools/eval_metric.py', config, pkl, '--eval', 'bbox')
    assert result.returncode == 0, result.stderr
    assert printed_metrics(result.stdout) == test_metrics
    assert test_metrics['bbox_mAP_50'] == 1.0


def test_eval_metric_refuses_unsafe_or_mismatched_results(oracle, tmp_path, run_tool_in_process):
    _, config, _ = oracle
    unsafe, short = tmp_path / 'unsafe.pkl', tmp_path / 'short.pkl'
    unsafe.write_bytes(pickle.dumps([print]))
    short.write_bytes(pickle.dumps([[np.zeros((0, 5), np.float32)] * 2]))
    result = run_tool_in_process('analysis_tools/eval_metric.py', config, unsafe, '--eval', 'bbox')
    assert result.returncode == 1
    assert f'results file {unsafe} was refused: it holds builtins.print' in result.stderr
    result = run_tool_in_process('analysis_tools/eval_metric.py', config, short, '--eval', 'bbox')
    assert result.returncode == 1
    assert f'results file {short} holds results of 1 images, but data.test of {config} has 8' \
        in result.stderr


def test_a_config_without_data_test_is_named(results_pkl, run_tool_in_process):
    pkl, _ = results_pkl
    result = run_tool_in_process('analysis_tools/eval_metric.py', TINY_CONFIG, pkl, '--eval', 'bbox')
    assert result.returncode == 1
    assert f'config file {TINY_CONFIG} has no data.test' in result.stderr


def test_confusion_matrix_hand_count():
    tool = analysis_tool('confusion_matrix')
    gt_bboxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], np.float32)
    gt_labels = np.array([0, 1, 1])
    result = [np.array([[0, 0, 10, 10, 0.9],     # class 0 on the class-0 box: TP
                        [20, 20, 30, 30, 0.8],   # class 0 on a class-1 box: (1, 0)
                        [60, 60, 70, 70, 0.9],   # on no box: (background, 0)
                        [0, 0, 10, 10, 0.1]],    # below --score-thr: ignored
                       np.float32),
              np.array([[20, 20, 30, 30, 0.7],   # class 1 on its box: TP
                        [21, 20, 30, 30, 0.6]],  # a duplicate: counted again, unless NMS
                       np.float32)]
    matrix = np.zeros((3, 3))
    tool.analyze_per_img_dets(matrix, gt_bboxes, gt_labels, result, score_thr=0.3)
    # the class-1 box at 40,40 has no detection: (1, background)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [1, 2, 1], [1, 0, 0]])
    matrix = np.zeros((3, 3))
    tool.analyze_per_img_dets(matrix, gt_bboxes, gt_labels, result, score_thr=0.3, nms_iou_thr=0.5)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [1, 1, 1], [1, 0, 0]])
    percent = tool.row_percentages(matrix)
    np.testing.assert_allclose(percent[1], [100 / 3, 100 / 3, 100 / 3])


def test_confusion_matrix_command_writes_the_png(oracle, results_pkl, tmp_path, run_tool_in_process):
    _, config, _ = oracle
    pkl, _ = results_pkl
    save_dir = tmp_path / 'cm'
    result = run_tool_in_process('analysis_tools/confusion_matrix.py', config, pkl, save_dir)
    assert result.returncode == 0, result.stderr
    png = (save_dir / 'confusion_matrix.png').read_bytes()
    assert png.startswith(b'\x89PNG')
    width, height = int.from_bytes(png[16:20], 'big'), int.from_bytes(png[20:24], 'big')
    inches = analysis_tool('confusion_matrix').figure_size(3)  # a, b, background
    assert (width, height) == (round(inches[0] * 180), round(inches[1] * 180))


def test_confusion_matrix_of_the_oracle_is_diagonal(oracle, results_pkl):
    _, config, _ = oracle
    pkl, _ = results_pkl
    from mmdet_lite.datasets import build_dataset
    from mmdet_lite.utils.results_file import load_results
    cfg = Config.fromfile(str(config))
    dataset = build_dataset(dict(cfg.data.test, test_mode=True))
    matrix = analysis_tool('confusion_matrix').calculate_confusion_matrix(dataset, load_results(str(pkl)))
    np.testing.assert_array_equal(matrix, [[4, 0, 0], [0, 4, 0], [0, 0, 0]])
