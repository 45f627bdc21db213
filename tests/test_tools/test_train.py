"""tools/train.py end to end on the tiny test detector (CPU, seconds per run)."""
import json
import re

import pytest
import torch
from mmcv import Config

from tests.conftest import TINY_CONFIG, assert_same_weights, read_checkpoint, read_state_dict, run_in_process

TRAIN_ARGS = ('--no-validate', '--seed', '0', '--deterministic')


@pytest.fixture(scope='module')
def one_epoch_run(tmp_path_factory):
    """One epoch with nested --cfg-options (list index, list value, tuple value)."""
    work_dir = tmp_path_factory.mktemp('one_epoch')
    result = run_in_process('train.py', TINY_CONFIG, '--work-dir', work_dir, *TRAIN_ARGS,
                            '--cfg-options', 'optimizer.lr=0.01', 'data.samples_per_gpu=1',
                            'model.rpn_head.anchor_generator.ratios=[0.5,1.0]',
                            'data.train.pipeline.2.img_scale=(320,240)', 'new_key=3')
    assert result.returncode == 0, result.stderr
    return work_dir, result


def test_help_lists_every_argument(run_tool_in_process):
    result = run_tool_in_process('train.py', '--help')
    assert result.returncode == 0
    for flag in ('--work-dir', '--resume-from', '--no-validate', '--gpus', '--gpu-ids', '--seed',
                 '--deterministic', '--options', '--cfg-options', '--launcher', '--local_rank',
                 '--local-rank'):
        assert flag in result.stdout, flag
    assert '{none,pytorch,slurm,mpi}' in result.stdout


def test_gpus_and_gpu_ids_are_mutually_exclusive(run_tool_in_process):
    result = run_tool_in_process('train.py', TINY_CONFIG, '--gpus', '1', '--gpu-ids', '0')
    assert result.returncode == 2
    assert 'not allowed with argument' in result.stderr


def test_options_with_cfg_options_is_a_value_error(run_tool_in_process, tmp_path):
    result = run_tool_in_process('train.py', TINY_CONFIG, '--work-dir', tmp_path / 'w',
                                 '--options', 'a=1', '--cfg-options', 'b=2')
    assert result.returncode == 1
    assert 'ValueError: --options and --cfg-options cannot be both specified' in result.stderr
    assert not (tmp_path / 'w').exists()


def test_options_alone_warns_and_is_applied(train_in_process, tmp_path):
    with pytest.warns(UserWarning, match='--options is deprecated in favor of --cfg-options'):
        result = train_in_process(TINY_CONFIG, '--work-dir', tmp_path, *TRAIN_ARGS, '--options',
                                  'optimizer.momentum=0.5')
    assert result.returncode == 0, result.stderr
    assert Config.fromfile(tmp_path / 'tiny.py').optimizer.momentum == 0.5


def test_one_epoch_run_writes_config_logs_and_checkpoints(one_epoch_run):
    work_dir, _ = one_epoch_run
    logs = sorted(work_dir.glob('*.log'))
    assert len(logs) == 1 and re.fullmatch(r'\d{8}_\d{6}\.log', logs[0].name)
    assert (work_dir / (logs[0].name + '.json')).is_file()
    for name in ('tiny.py', 'epoch_1.pth', 'latest.pth'):
        assert (work_dir / name).exists(), name
    assert (work_dir / 'latest.pth').resolve() == (work_dir / 'epoch_1.pth').resolve()
    log = logs[0].read_text()
    for line in ('Environment info:', 'PyTorch: ', 'MMCV: 1.7.2', 'Distributed training: False',
                 'CUDA is not available: training on the CPU', 'Config:\n',
                 'Set random seed to 0, deterministic: True', 'Epoch [1][12/12]'):
        assert line in log, line
    first_json = json.loads((work_dir / (logs[0].name + '.json')).read_text().splitlines()[0])
    assert set(first_json) == {'env_info', 'config', 'seed', 'exp_name'}


def test_checkpoint_meta_has_mmdetection_keys(one_epoch_run):
    work_dir, _ = one_epoch_run
    checkpoint = read_checkpoint(work_dir / 'epoch_1.pth')
    assert set(checkpoint) == {'meta', 'state_dict', 'optimizer'}
    meta = checkpoint['meta']
    assert {'env_info', 'config', 'seed', 'exp_name', 'mmdet_version', 'CLASSES', 'epoch', 'iter',
            'mmcv_version', 'time'} <= set(meta)
    assert (meta['seed'], meta['exp_name'], meta['epoch'], meta['iter']) == (0, 'tiny.py', 1, 12)
    assert meta['CLASSES'] == ('a', 'b', 'c')
    assert meta['mmdet_version'].startswith('0.1.0')
    assert 'optimizer = dict(type=\'SGD\', lr=0.01' in meta['config']


def test_cfg_options_reach_nested_keys_and_the_dump(one_epoch_run):
    work_dir, _ = one_epoch_run
    dumped = Config.fromfile(work_dir / 'tiny.py')
    assert dumped.optimizer.lr == 0.01
    assert dumped.data.samples_per_gpu == 1
    assert dumped.model.rpn_head.anchor_generator.ratios == [0.5, 1.0]
    assert dumped.model.rpn_head.anchor_generator.type == 'AnchorGenerator'
    assert dumped.data.train.pipeline[2].img_scale == (320, 240)
    assert dumped.data.train.pipeline[2].keep_ratio is True
    assert dumped.new_key == 3  # unknown keys are added, as MMDetection does
    assert dumped.gpu_ids == range(0, 1)


def test_resume_continues_bit_exactly(train_in_process, tmp_path):
    """With a loader worker that lives across epochs (not reseeded by torch at epoch starts). Resumes
    with in-process loading are checked by the AMP and the signal tests (tests/test_tools)."""
    loader = ('data.workers_per_gpu=1', 'data.persistent_workers=True')
    full, part = tmp_path / 'full', tmp_path / 'part'
    two_epochs = ('--cfg-options', 'runner.max_epochs=2', *loader)
    one_epoch = ('--cfg-options', *loader)
    for result in (train_in_process(TINY_CONFIG, '--work-dir', full, *TRAIN_ARGS, *two_epochs),
                   train_in_process(TINY_CONFIG, '--work-dir', part, *TRAIN_ARGS, *one_epoch)):
        assert result.returncode == 0, result.stderr[-3000:]
    resumed = train_in_process(TINY_CONFIG, '--work-dir', part, *TRAIN_ARGS, *two_epochs,
                               '--resume-from', part / 'epoch_1.pth')
    assert resumed.returncode == 0, resumed.stderr
    assert 'resumed epoch 1, iter 6' in resumed.stderr
    assert 'Epoch [2][6/6]' in resumed.stderr and 'Epoch [1]' not in resumed.stderr
    got = read_state_dict(part / 'epoch_2.pth')
    assert_same_weights(read_state_dict(full / 'epoch_2.pth'), got)
    # The second epoch did change the weights: the comparison above is not vacuous.
    first = read_state_dict(part / 'epoch_1.pth')
    assert not torch.equal(first['fc.weight'], got['fc.weight'])


def test_the_compile_key_reaches_train_detector(train_in_process, tmp_path):
    """TinyTestDetector has neither backbone nor neck: nothing is compiled, and the run says so."""
    result = train_in_process(TINY_CONFIG, '--work-dir', tmp_path, *TRAIN_ARGS, '--cfg-options',
                              'compile.backend=eager')
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch.compile of nothing with {'backend': 'eager', 'mode': None" in result.stderr
