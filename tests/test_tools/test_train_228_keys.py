"""tools/train.py with MMDetection 2.28's config keys and flags: data.*_dataloader, ${key},
auto_scale_lr / --auto-scale-lr, opencv_num_threads, mp_start_method, --diff-seed."""
import argparse
import json

import pytest
import mmcv
from mmcv import Config

from tests.conftest import REPO_ROOT, TINY_CONFIG, load_tool, run_in_process

CONFIG_228 = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny_228.py'


@pytest.fixture(scope='module')
def run_228(tmp_path_factory):
    """tiny_228.py trained one epoch with --auto-scale-lr: its work_dir and the .log text."""
    work_dir = tmp_path_factory.mktemp('run_228')
    result = run_in_process('train.py', CONFIG_228, '--work-dir', work_dir, '--auto-scale-lr',
                            '--no-validate', '--seed', '0')
    assert result.returncode == 0, result.stderr
    return work_dir, next(work_dir.glob('*.log')).read_text()


def test_auto_scale_lr_scales_by_total_batch_over_base(run_228):
    work_dir, log = run_228
    # 1 process x train_dataloader.samples_per_gpu 4 = 4; 0.02 x 4 / 16 = 0.005
    assert 'Training with 1 GPU(s) with 4 samples per GPU. The total batch size is 4.' in log
    assert 'LR has been automatically scaled from 0.02 to 0.005' in log
    records = [json.loads(line) for line in next(work_dir.glob('*.log.json')).read_text().splitlines()]
    assert [r['lr'] for r in records if r.get('mode') == 'train'] == [0.005] * 4


def test_train_dataloader_samples_per_gpu_sets_the_batch(run_228):
    _, log = run_228
    # num_samples '${num_train_images}' = 12 images, 6 per aspect group; GroupSampler pads each
    # group to a multiple of samples_per_gpu 4: 8 + 8 = 16 samples, 4 iterations (with data's
    # default of 2 it would be 6)
    assert 'Epoch [1][4/4]' in log and 'Epoch [1][5/' not in log


def test_multi_process_settings_take_effect_and_are_logged(run_228):
    _, log = run_228
    assert 'Multi-processing: mp_start_method=spawn, cv2.getNumThreads()=3' in log


def test_references_are_resolved_in_the_dump(run_228):
    work_dir, _ = run_228
    dumped = Config.fromfile(work_dir / 'tiny_228.py')
    assert dumped.run_name == 'tiny_228_bs4_of_12'
    assert dumped.data.train.num_samples == 12
    assert dumped.optimizer.lr == 0.02  # the dump keeps the config's lr, as in 2.28


def test_without_the_flag_the_lr_is_not_scaled(train_in_process, tmp_path):
    result = train_in_process(TINY_CONFIG, '--work-dir', tmp_path, '--no-validate', '--seed', '0',
                              '--cfg-options', 'runner.max_epochs=0')
    assert result.returncode == 0, result.stderr
    assert 'Automatic scaling of learning rate (LR) has been disabled.' in \
        next(tmp_path.glob('*.log')).read_text()


@pytest.mark.parametrize('rank, diff_seed, expected', [(0, True, 5), (1, True, 6), (1, False, 5)])
def test_diff_seed_adds_the_rank(monkeypatch, rank, diff_seed, expected):
    train_tool = load_tool('train.py')
    monkeypatch.setattr(train_tool, 'get_dist_info', lambda: (rank, 2))
    args = argparse.Namespace(seed=5, diff_seed=diff_seed)
    assert train_tool.train_seed(args, 'cpu') == expected


def test_help_lists_the_228_flags(run_tool_in_process):
    result = run_tool_in_process('train.py', '--help')
    assert '--auto-scale-lr' in result.stdout and '--diff-seed' in result.stdout


@pytest.mark.parametrize('options, env, message', [
    (['auto_scale_lr=None'], {}, '--auto-scale-lr: config file'),
    (['auto_scale_lr.base_batch_size=0'], {},
     'auto_scale_lr.base_batch_size must be a positive int'),
    (['mp_start_method=threads'], {}, "mp_start_method 'threads' is not a start method"),
    (['opencv_num_threads=two'], {}, "opencv_num_threads must be an int (0: no OpenCV threads), got 'two'"),
    (['data.samples_per_gpu=2'], {}, '`samples_per_gpu` is set in `data` (2) and in '
                                     '`data.train_dataloader` (4) at the same time'),
    ([], {'MMDET_DATASETS': '/datasets/'}, 'MMDET_DATASETS is set (/datasets/) but the config '
                                           'has no data_root'),
])
def test_bad_228_key_is_one_error_before_the_work_dir(tmp_path, options, env, message):
    work_dir = tmp_path / 'work'
    args = ['--cfg-options', *options] if options else []
    result = run_in_process('train.py', CONFIG_228, '--work-dir', work_dir, '--auto-scale-lr', *args,
                            env=env)
    assert result.returncode == 1
    assert message in result.stderr and 'Traceback' not in result.stderr, result.stderr
    assert not work_dir.exists()


def test_missing_reference_is_named(tmp_path):
    config = tmp_path / 'bad_reference.py'
    config.write_text(f"_base_ = ['{CONFIG_228}']\nrun_name = 'x_${{data.train_dataloader.size}}'\n")
    result = run_in_process('train.py', config, '--work-dir', tmp_path / 'work')
    assert result.returncode == 1
    assert ("config reference ${data.train_dataloader.size}: data.train_dataloader has no key "
            "'size'") in result.stderr
    assert not (tmp_path / 'work').exists()


def test_test_tool_takes_the_test_dataloader_keys(run_228, monkeypatch):
    work_dir, _ = run_228
    test_tool = load_tool('test.py')
    loader_args = []

    def recording_build_dataloader(dataset, **kwargs):
        loader_args.append(kwargs)
        return build_dataloader(dataset, **kwargs)

    build_dataloader = test_tool.build_dataloader
    monkeypatch.setattr(test_tool, 'build_dataloader', recording_build_dataloader)
    result = run_in_process('test.py', CONFIG_228, work_dir / 'latest.pth', '--out',
                            work_dir / 'results.pkl')
    assert result.returncode == 0, result.stderr
    assert loader_args == [dict(samples_per_gpu=2, workers_per_gpu=0, dist=False, shuffle=False)]
    # the tiny detector answers once per batch: 4 test images in batches of 2
    assert len(mmcv.load(work_dir / 'results.pkl')) == 2
