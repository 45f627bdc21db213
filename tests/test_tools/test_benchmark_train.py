"""benchmark_train.py: the batch-size sweep (img/s, peak memory and memory per image), in this process."""
from types import SimpleNamespace

import pytest
import torch

from mmdet_lite.utils.cli import run_cli
from tests.conftest import REPO_ROOT, load_tool

R50_CONFIG = REPO_ROOT / 'configs' / 'faster_rcnn' / 'faster_rcnn_r50_fpn_1x_coco.py'


@pytest.fixture
def tiny_config(tmp_path):
    """The R50-FPN config narrowed to an 8-channel ResNet-18 and a 16-channel FPN."""
    path = tmp_path / 'tiny_r18.py'
    path.write_text(f"""_base_ = ['{R50_CONFIG}']
model = dict(
    backbone=dict(depth=18, base_channels=8, frozen_stages=-1),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=16), bbox_head=dict(in_channels=16, fc_out_channels=32)))
""")
    return path


def _table(stdout: str) -> dict:
    """(row, batch) -> the cells of the Markdown table's line."""
    cells = [[cell.strip() for cell in line.strip('|').split('|')] for line in stdout.splitlines()
             if line.startswith('| mmdet_lite')]
    return {(line[0], int(line[1])): line for line in cells}


def test_batch_size_sweep_reports_each_batch_with_its_images_per_second(run_tool_in_process, tiny_config):
    result = run_tool_in_process('analysis_tools/benchmark_train.py', '--config', tiny_config, '--shape', 1, 3, 64,
                                 96, '--batch-sizes', 1, 3, '--steps', 1, '--warmup', 0, '--rows', 'mmdet_lite')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'batch sizes [1, 3]' in result.stdout
    table = _table(result.stdout)
    assert sorted(table) == [('mmdet_lite', 1), ('mmdet_lite', 3)]
    rois = {}
    for batch_size in (1, 3):
        _, _, seconds, images_per_second, _, rois[batch_size], peak_rss, per_image, speed_up = \
            table['mmdet_lite', batch_size]
        # s/step is printed to 3 decimals, img/s to 2: img/s lies between batch / (s/step ± 0.0005)
        slowest, fastest = batch_size / (float(seconds) + 0.0005), batch_size / (float(seconds) - 0.0005)
        assert slowest - 0.005 <= float(images_per_second) <= fastest + 0.005
        assert float(peak_rss) > 0 and per_image == 'n/a' and speed_up == '1.00x'
    # at most 512 RoIs sampled per image: three images pool more than twice what one does
    assert 2 * int(rois[1]) < int(rois[3]) <= 3 * 512


def test_cuda_memory_per_image_and_out_of_memory_rows():
    tool = load_tool('analysis_tools/benchmark_train.py')
    row = SimpleNamespace(times=[0.5, 0.4, 0.6], rois=[7, 2048, 2048], peak_memory_mib=1000.0)
    lines = tool.table_lines(4, {'mmdet_lite': row, 'mmdet_lite_amp': None}, SimpleNamespace(device='cuda', steps=2))
    assert [cell.strip() for cell in lines[0].strip('|').split('|')] == [
        'mmdet_lite', '4', '0.500', '8.00', '0.40..0.60', '2048', '1000', '250', '1.00x']
    assert lines[1].split('|')[3].strip() == 'OOM'


def test_a_row_out_of_gpu_memory_is_dropped_and_reported(monkeypatch):
    tool = load_tool('analysis_tools/benchmark_train.py')

    def out_of_memory(*_args):
        raise torch.OutOfMemoryError('CUDA out of memory')

    rows = {'fits': SimpleNamespace(step=lambda: 0.0, times=[]), 'too_big': SimpleNamespace(step=out_of_memory)}
    tool.time_rows(rows, SimpleNamespace(steps=2, device='cpu'))
    assert list(rows) == ['fits'] and len(rows['fits'].times) == 2
    monkeypatch.setitem(tool.ROWS, 'too_big', out_of_memory)  # out of memory while it is built
    assert tool.build_and_warm_up('too_big', {}, SimpleNamespace(device='cpu', warmup=1)) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
@pytest.mark.parametrize('tool', ['benchmark_train.py', 'benchmark_targets.py', 'profile_train_step.py'])
def test_device_cuda_without_cuda_is_refused_by_name_before_any_work(tool, capsys):
    assert run_cli(load_tool(f'analysis_tools/{tool}').main, tool, ['--device', 'cuda']) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{tool}: error: RuntimeError: device 'cuda': CUDA is not available on this machine (use device='cpu')")


def test_pipeline_benchmark_names_an_image_it_cannot_use(tmp_path):
    tool = load_tool('analysis_tools/benchmark_pipeline.py')
    with pytest.raises(FileNotFoundError, match=f'--img {tmp_path}/missing.jpg does not exist'):
        tool.main(['--img', str(tmp_path / 'missing.jpg')])
    (tmp_path / 'notes.jpg').write_text('not a JPEG')
    with pytest.raises(ValueError, match='is not an image OpenCV can read'):
        tool.main(['--img', str(tmp_path / 'notes.jpg')])
