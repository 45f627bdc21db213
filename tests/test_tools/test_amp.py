"""``--amp`` through tools/train.py and tools/test.py (CPU): the forward really runs under autocast,
exact resume, the loss-scaler state in checkpoint meta and its restore on resume, and AMP inference."""
import torch

from mmdet_lite.models.builder import build_detector
from tests.conftest import TINY_CONFIG, assert_same_weights, load_tool, read_checkpoint, read_state_dict
from tests.test_tools.test_test_tool import NUM_IMAGES, printed_metrics, setup  # noqa: F401  (module fixture)

TRAIN_ARGS = ('--no-validate', '--seed', '0', '--deterministic')
TWO_EPOCHS = ('--cfg-options', 'runner.max_epochs=2')


def test_amp_run_parts_from_the_fp32_run_and_resumes_bit_exactly(train_in_process, tmp_path):
    full, part, fp32 = tmp_path / 'full', tmp_path / 'part', tmp_path / 'fp32'
    results = (train_in_process(TINY_CONFIG, '--work-dir', full, *TRAIN_ARGS, '--amp', *TWO_EPOCHS),
               train_in_process(TINY_CONFIG, '--work-dir', part, *TRAIN_ARGS, '--amp'),
               train_in_process(TINY_CONFIG, '--work-dir', fp32, *TRAIN_ARGS))
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    assert 'AMP: autocast bfloat16 on cpu, no loss scaler' in results[0].stderr
    # Same seed, data and steps: only the bfloat16 convolution and linear layer of the forward
    # (8 significant bits) can make these differ.
    amp_weights, fp32_weights = read_state_dict(part / 'epoch_1.pth'), read_state_dict(fp32 / 'epoch_1.pth')
    for name in ('conv.weight', 'fc.weight'):
        assert not torch.equal(amp_weights[name], fp32_weights[name]), name

    resumed = train_in_process(TINY_CONFIG, '--work-dir', part, *TRAIN_ARGS, '--amp', *TWO_EPOCHS,
                               '--resume-from', part / 'epoch_1.pth')
    assert resumed.returncode == 0, resumed.stderr
    assert_same_weights(read_state_dict(full / 'epoch_2.pth'), read_state_dict(part / 'epoch_2.pth'))


def test_loss_scaler_state_is_saved_and_restored_on_resume(train_in_process, tmp_path):
    fp16 = ('fp16.loss_scale=dynamic', 'fp16.dtype=float16')  # CPU float16: the CUDA scaler path
    amp_args = (*TRAIN_ARGS, '--amp')
    result = train_in_process(TINY_CONFIG, '--work-dir', tmp_path, *amp_args, '--cfg-options', *fp16)
    assert result.returncode == 0, result.stderr
    assert 'AMP: autocast float16 on cpu, loss scale 65536.0' in result.stderr
    scaler = read_checkpoint(tmp_path / 'epoch_1.pth')['meta']['fp16']['loss_scaler']
    assert scaler['scale'] == 65536.0 and scaler['_growth_tracker'] == 6  # 6 clean steps

    resumed = train_in_process(TINY_CONFIG, '--work-dir', tmp_path, *amp_args, '--cfg-options', *fp16,
                               'runner.max_epochs=2', '--resume-from', tmp_path / 'epoch_1.pth')
    assert resumed.returncode == 0, resumed.stderr
    scaler = read_checkpoint(tmp_path / 'epoch_2.pth')['meta']['fp16']['loss_scaler']
    assert scaler['_growth_tracker'] == 12  # counted on from the restored state, not from 0


def test_test_tool_amp_runs_the_forward_under_autocast_and_gives_the_same_metrics(
        setup, run_tool_in_process, monkeypatch):  # noqa: F811
    _, config, checkpoint, _ = setup
    built = []

    def build_and_keep(*args, **kwargs):
        built.append(build_detector(*args, **kwargs))
        return built[-1]
    monkeypatch.setattr(load_tool('test.py'), 'build_detector', build_and_keep)
    plain = run_tool_in_process('test.py', config, checkpoint, '--eval', 'bbox')
    amp = run_tool_in_process('test.py', config, checkpoint, '--eval', 'bbox', '--amp')
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert amp.returncode == 0, amp.stderr[-3000:]
    assert printed_metrics(amp.stdout) == printed_metrics(plain.stdout)
    plain_model, amp_model = built
    assert plain_model.seen_autocast == [None] * NUM_IMAGES
    assert amp_model.seen_autocast == [torch.bfloat16] * NUM_IMAGES
