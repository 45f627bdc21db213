"""``--amp`` through tools/train.py and tools/test.py (CPU): exact resume, the loss-scaler state in
checkpoint meta and its restore on resume, and AMP inference."""
import torch

from tests.conftest import TINY_CONFIG, run_script
from tests.test_tools.test_test_tool import printed_metrics, setup  # noqa: F401  (module fixture)

TRAIN_ARGS = ('--no-validate', '--seed', '0', '--deterministic', '--amp')
TWO_EPOCHS = ('--cfg-options', 'runner.max_epochs=2')


def _checkpoint(path):
    return torch.load(path, weights_only=True)


def test_amp_run_resumes_bit_exactly(run_train, tmp_path):
    full, part = tmp_path / 'full', tmp_path / 'part'
    result = run_train(TINY_CONFIG, '--work-dir', full, *TRAIN_ARGS, *TWO_EPOCHS)
    assert result.returncode == 0, result.stderr
    assert 'AMP: autocast bfloat16 on cpu, no loss scaler' in result.stderr
    assert run_train(TINY_CONFIG, '--work-dir', part, *TRAIN_ARGS).returncode == 0
    resumed = run_train(TINY_CONFIG, '--work-dir', part, *TRAIN_ARGS, *TWO_EPOCHS,
                        '--resume-from', part / 'epoch_1.pth')
    assert resumed.returncode == 0, resumed.stderr
    expected = _checkpoint(full / 'epoch_2.pth')['state_dict']
    actual = _checkpoint(part / 'epoch_2.pth')['state_dict']
    assert all(torch.equal(expected[key], actual[key]) for key in expected)


def test_loss_scaler_state_is_saved_and_restored_on_resume(run_train, tmp_path):
    fp16 = ('fp16.loss_scale=dynamic', 'fp16.dtype=float16')  # CPU float16: the CUDA scaler path
    result = run_train(TINY_CONFIG, '--work-dir', tmp_path, *TRAIN_ARGS, '--cfg-options', *fp16)
    assert result.returncode == 0, result.stderr
    assert 'AMP: autocast float16 on cpu, loss scale 65536.0' in result.stderr
    scaler = _checkpoint(tmp_path / 'epoch_1.pth')['meta']['fp16']['loss_scaler']
    assert scaler['scale'] == 65536.0 and scaler['_growth_tracker'] == 6  # 6 clean steps

    resumed = run_train(TINY_CONFIG, '--work-dir', tmp_path, *TRAIN_ARGS, '--cfg-options', *fp16,
                        'runner.max_epochs=2', '--resume-from', tmp_path / 'epoch_1.pth')
    assert resumed.returncode == 0, resumed.stderr
    scaler = _checkpoint(tmp_path / 'epoch_2.pth')['meta']['fp16']['loss_scaler']
    assert scaler['_growth_tracker'] == 12  # counted on from the restored state, not from 0


def test_test_tool_amp_gives_the_same_metrics(setup):  # noqa: F811
    _, config, checkpoint, _ = setup
    plain = run_script('test.py', config, checkpoint, '--eval', 'bbox')
    amp = run_script('test.py', config, checkpoint, '--eval', 'bbox', '--amp')
    assert amp.returncode == 0, amp.stderr[-3000:]
    assert printed_metrics(amp.stdout) == printed_metrics(plain.stdout)
