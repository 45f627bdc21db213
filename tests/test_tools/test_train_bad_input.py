"""Bad input to tools/train.py: one clear message, non-zero exit, work_dir left as it was.

Each case stops before training, so most run ``main`` in this process (``run_tool_in_process``)."""
import pytest
import torch

from tests.conftest import REPO_ROOT, TINY_CONFIG

CONFIGS = REPO_ROOT / 'tests' / 'data' / 'configs'


@pytest.fixture
def earlier_work_dir(tmp_path):
    """A work_dir holding an earlier run's files, to check that a failed run leaves them be."""
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    files = {'tiny.py': 'earlier dump\n', 'epoch_1.pth': 'earlier weights',
             '20200101_000000.log': 'earlier log\n'}
    for name, text in files.items():
        (work_dir / name).write_text(text)
    return work_dir, files


@pytest.fixture
def train_in_process(run_tool_in_process):
    """tools/train.py in this process: each case here stops before training starts."""
    return lambda *args: run_tool_in_process('train.py', *args)


def assert_untouched(work_dir, files):
    names = {p.name for p in work_dir.iterdir() if not p.name.endswith('.log')}
    assert names == {n for n in files if not n.endswith('.log')}
    for name, text in files.items():
        assert (work_dir / name).read_text() == text


def assert_one_screen_error(result, *fragments):
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr
    assert len(result.stderr.splitlines()) <= 25
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def test_missing_config_file(train_in_process, tmp_path):
    missing = tmp_path / 'nope.py'
    result = train_in_process(missing)
    assert_one_screen_error(result, f'config file {missing} does not exist')


def test_config_syntax_error_names_file_and_line(run_train, earlier_work_dir):
    """A subprocess: the stderr of the whole process counts, and mmcv leaves a temporary file
    object behind whose finalizer would print a traceback at interpreter exit."""
    work_dir, files = earlier_work_dir
    result = run_train(CONFIGS / 'syntax_error.py', '--work-dir', work_dir)
    assert_one_screen_error(result, 'SyntaxError', 'syntax_error.py', 'line 2')
    assert_untouched(work_dir, files)


def test_unknown_type_names_registry_and_type(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(CONFIGS / 'unknown_type.py', '--work-dir', work_dir, '--no-validate')
    assert_one_screen_error(result, 'NoSuchDetector is not in the models registry')
    assert_untouched(work_dir, files)


def test_malformed_cfg_option_is_rejected(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--cfg-options', 'optimizer.lr')
    assert result.returncode == 2
    assert '--cfg-options expects KEY=VALUE pairs, got optimizer.lr' in result.stderr
    assert_untouched(work_dir, files)


def test_resume_from_missing_file(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    missing = work_dir / 'epoch_9.pth'
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--resume-from', missing)
    assert_one_screen_error(result, f'checkpoint file {missing} does not exist')
    assert_untouched(work_dir, files)


def test_resume_from_corrupt_file(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--resume-from',
                              work_dir / 'epoch_1.pth')
    assert_one_screen_error(result, 'epoch_1.pth is truncated or corrupt')
    assert_untouched(work_dir, files)


def test_resume_from_checkpoint_with_pickled_callable_is_refused(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    unsafe = work_dir.parent / 'unsafe.pth'
    torch.save({'state_dict': {}, 'meta': {'epoch': 1, 'iter': 1, 'hook': print}}, unsafe)
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--resume-from', unsafe)
    assert_one_screen_error(result, 'unsafe.pth was refused', 'weights_only=True')
    assert_untouched(work_dir, files)


def test_load_from_checkpoint_with_pickled_callable_is_refused(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    unsafe = work_dir.parent / 'unsafe.pth'
    torch.save({'state_dict': {'fc.weight': torch.zeros(1)}, 'extra': print}, unsafe)
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--cfg-options', f'load_from={unsafe}')
    assert_one_screen_error(result, 'unsafe.pth was refused')
    assert_untouched(work_dir, files)


def test_work_dir_that_is_a_file(train_in_process, tmp_path):
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('keep me')
    result = train_in_process(TINY_CONFIG, '--work-dir', not_a_dir)
    assert_one_screen_error(result, f'work_dir {not_a_dir} exists and is not a directory')
    assert not_a_dir.read_text() == 'keep me'


def test_pytorch_launcher_without_torchrun_environment(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--launcher', 'pytorch')
    # LOCAL_RANK is never missing: train.py sets it from --local_rank, as MMDetection does.
    assert_one_screen_error(result, '--launcher pytorch needs the environment variables RANK, '
                            'WORLD_SIZE, MASTER_ADDR, MASTER_PORT')
    assert_untouched(work_dir, files)


def test_gpus_without_cuda_is_a_clear_error(train_in_process, earlier_work_dir):
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--gpus', '2')
    assert_one_screen_error(result, 'CUDA is not available')
    assert_untouched(work_dir, files)


def test_num_classes_that_disagree_with_the_dataset(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(CONFIGS / 'num_classes_mismatch.py', '--work-dir', work_dir,
                              '--no-validate')
    assert_one_screen_error(result, 'The `num_classes` (5) in TinyTestDetector',
                            'does not matches the length of `CLASSES` 3) in TinyTestDataset')
    assert_untouched(work_dir, files)
