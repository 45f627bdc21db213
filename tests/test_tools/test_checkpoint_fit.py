"""Checkpoints that do not fit the model, given to tools/train.py and tools/test.py: refused with one
message naming the file before anything is written, or loaded with one line of counts."""
import torch

from tests.conftest import TINY_CONFIG
from tests.fixtures.tiny_components import TinyTestDetector
from tests.test_tools.test_interruption import ARGS
from tests.test_tools.test_test_tool import setup  # noqa: F401  (the oracle detector's fixture)

# The tiny config's model has num_classes=3: fc is (7, 8); a num_classes=5 model's is (9, 8).
OTHER_CONFIG_SHAPES = 'fc.weight: checkpoint [9, 8], model [7, 8]; fc.bias: checkpoint [9], model [7]'


def save_checkpoint(path, num_classes, epoch=1):
    model = TinyTestDetector(num_classes=num_classes)
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': epoch, 'iter': 6 * epoch}}, path)


def snapshot(directory):
    """Every file under ``directory``, by relative path, with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob('*'))
            if p.is_file()}


def earlier_run(tmp_path):
    """A work_dir with an earlier run's files: checkpoints of another config, a log, a pointer."""
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    save_checkpoint(work_dir / 'epoch_1.pth', num_classes=5)
    (work_dir / 'epoch_2.pth').write_bytes(b'truncated')
    (work_dir / 'last_checkpoint').write_text('epoch_2.pth\n')
    (work_dir / '20200101_000000.log').write_text('earlier log\n')
    return work_dir, snapshot(work_dir)


HINT = ('(set MMDET_LITE_TRACEBACK=1 for the full traceback; a training run, and a test run given '
        '--work-dir, also keep it in their .log file)\n')


def assert_one_message(result, status=1):
    assert result.returncode == status, result.stderr
    assert 'Traceback' not in result.stderr
    if status == 1:
        assert result.stderr.endswith(HINT)


def test_resume_from_a_checkpoint_of_another_config_is_refused(run_tool_in_process, tmp_path):
    work_dir, before = earlier_run(tmp_path)
    other = work_dir / 'epoch_1.pth'
    result = run_tool_in_process('train.py', TINY_CONFIG, '--work-dir', work_dir, '--resume-from', other)
    assert_one_message(result)
    assert result.stderr == (
        f"train.py: error: CheckpointError: checkpoint file {other} does not fit TinyTestDetector: 2 "
        f"of its tensors have other shapes than the model's ({OTHER_CONFIG_SHAPES}). Was it saved "
        'with another config? To start from its weights instead, use load_from\n' + HINT)
    assert snapshot(work_dir) == before


def test_auto_resume_stops_when_every_checkpoint_is_refused(run_tool_in_process, tmp_path):
    work_dir, before = earlier_run(tmp_path)
    result = run_tool_in_process('train.py', TINY_CONFIG, '--work-dir', work_dir, '--auto-resume')
    assert_one_message(result)
    lines = result.stderr.splitlines()
    assert lines[0] == (f'train.py: error: CheckpointError: auto-resume: every checkpoint in '
                        f'{work_dir} was refused:')
    assert lines[1].startswith(f'  - checkpoint file {work_dir / "epoch_2.pth"} is truncated or corrupt')
    assert lines[2] == (f'  - checkpoint file {work_dir / "epoch_1.pth"} does not fit TinyTestDetector: '
                        f"2 of its tensors have other shapes than the model's ({OTHER_CONFIG_SHAPES}). "
                        'Was it saved with another config? To start from its weights instead, use load_from')
    assert 'pass --start-fresh-if-refused' in lines[3] and len(lines) == 5
    assert snapshot(work_dir) == before


def test_start_fresh_if_refused_needs_auto_resume(run_tool_in_process, tmp_path):
    work_dir, before = earlier_run(tmp_path)
    result = run_tool_in_process('train.py', TINY_CONFIG, '--work-dir', work_dir, '--start-fresh-if-refused')
    assert_one_message(result, status=2)
    assert result.stderr.endswith('error: --start-fresh-if-refused only applies with --auto-resume\n')
    assert snapshot(work_dir) == before


def test_start_fresh_if_refused_trains_from_scratch_and_logs_the_refusals(train_in_process, tmp_path):
    work_dir, _ = earlier_run(tmp_path)
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, *ARGS, '--auto-resume',
                              '--start-fresh-if-refused')
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'auto-resume skips {work_dir / "epoch_2.pth"}: checkpoint file' in result.stderr
    assert f'auto-resume skips {work_dir / "epoch_1.pth"}: checkpoint file' in result.stderr
    assert f'auto-resume: no checkpoint in {work_dir}, starting from scratch' in result.stderr
    assert torch.load(work_dir / 'epoch_1.pth', weights_only=True)['state_dict']['fc.bias'].shape == (7,)


def test_load_from_another_config_logs_one_line_of_counts(train_in_process, tmp_path):
    other = tmp_path / 'other.pth'
    save_checkpoint(other, num_classes=5)
    result = train_in_process(TINY_CONFIG, '--work-dir', tmp_path / 'work', *ARGS, '--cfg-options',
                              f'load_from={other}')
    assert result.returncode == 0, result.stderr[-3000:]
    assert (f'checkpoint file {other}: loaded 6 of 8 tensors of TinyTestDetector, 0 missing, '
            f'0 unexpected, 2 shape-mismatched (shape-mismatched: {OTHER_CONFIG_SHAPES})') in result.stderr
    assert 'The model and loaded state dict do not match exactly' not in result.stderr


def test_test_tool_refuses_a_checkpoint_filling_under_half_the_model(  # noqa: F811  (setup)
        setup, run_tool_in_process, tmp_path):
    _, config, _, _ = setup
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.w': torch.zeros(2)}}, other)
    out = tmp_path / 'results.pkl'
    result = run_tool_in_process('test.py', config, other, '--out', out)
    assert_one_message(result)
    assert result.stderr == (
        f'test.py: error: CheckpointError: checkpoint file {other} fills only 0 of the 1 tensors of '
        'OracleTestDetector '
        '(1 missing, 0 shape-mismatched, 1 unexpected): was it saved with another config? Pass '
        '--allow-partial-checkpoint to test it anyway\n' + HINT)
    assert not out.exists()
    allowed = run_tool_in_process('test.py', config, other, '--out', out, '--allow-partial-checkpoint')
    assert allowed.returncode == 0, allowed.stderr
    assert out.is_file()
