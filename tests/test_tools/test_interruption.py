"""Surviving interruption: SIGKILL + --auto-resume, a dying rank, a NaN loss."""
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import (REPO_ROOT, TINY_CONFIG, _env, assert_same_weights, free_port,
                            read_checkpoint, read_state_dict)

CONFIGS = REPO_ROOT / 'tests' / 'data' / 'configs'
SLOW_SAVE_CONFIG = CONFIGS / 'tiny_slow_save.py'
ARGS = ('--no-validate', '--seed', '0', '--deterministic')


def start_train(config, work_dir, *args, log):
    """Start train.py in the background, its stderr (the log) going to ``log``."""
    with open(log, 'w') as stderr:
        return subprocess.Popen([sys.executable, str(REPO_ROOT / 'tools' / 'train.py'),
                                 str(config), '--work-dir', str(work_dir), *ARGS, *args],
                                cwd=REPO_ROOT, env=_env(), stdout=subprocess.DEVNULL,
                                stderr=stderr, text=True)


def kill_after_training_starts(proc, log, delay, timeout=120):
    """SIGKILL ``delay`` seconds after the first training log line (or at exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and 'Epoch [' not in log.read_text():
        time.sleep(0.05)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def kill_during_save(proc, work_dir, timeout=60):
    """SIGKILL as soon as a temporary checkpoint file exists (the save is in progress)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(work_dir.glob('.epoch_*.pth.*.tmp')):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    return False


def test_sigkill_and_auto_resume_reach_the_uninterrupted_weights(tmp_path):
    log = tmp_path / 'stderr.log'
    reference = start_train(SLOW_SAVE_CONFIG, tmp_path / 'reference', log=log)
    assert reference.wait(timeout=300) == 0, log.read_text()

    work_dir = tmp_path / 'killed'
    rng = random.Random(0)
    resumed = 0
    for attempt in range(5):
        log = tmp_path / f'attempt{attempt}.log'
        proc = start_train(SLOW_SAVE_CONFIG, work_dir, '--auto-resume', log=log)
        if attempt == 1:
            assert kill_during_save(proc, work_dir)
        else:
            kill_after_training_starts(proc, log, delay=rng.uniform(0.0, 4.0))
        resumed += 'auto-resume: resuming from' in log.read_text()
    log = tmp_path / 'final.log'
    final = start_train(SLOW_SAVE_CONFIG, work_dir, '--auto-resume', log=log)
    assert final.wait(timeout=300) == 0, log.read_text()
    resumed += 'auto-resume: resuming from' in log.read_text()
    assert resumed >= 2
    # the save killed in attempt 1 left a temporary file; the next start removed it
    assert not list(work_dir.glob('.*.tmp'))
    assert 'left by a save that did not finish' in (tmp_path / 'attempt2.log').read_text()

    checkpoint = read_checkpoint(work_dir / 'epoch_4.pth')
    assert checkpoint['meta']['epoch'] == 4
    assert (work_dir / 'last_checkpoint').read_text().strip() == 'epoch_4.pth'
    assert_same_weights(read_state_dict(tmp_path / 'reference' / 'epoch_4.pth'),
                        checkpoint['state_dict'])


def test_auto_resume_without_checkpoint_starts_fresh(run_train, tmp_path):
    result = run_train(TINY_CONFIG, '--work-dir', tmp_path, *ARGS, '--auto-resume')
    assert result.returncode == 0, result.stderr
    assert f'auto-resume: no checkpoint in {tmp_path}, starting from scratch' in result.stderr
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_auto_resume_skips_a_corrupt_newest_checkpoint(run_train, tmp_path):
    two = ('--cfg-options', 'runner.max_epochs=2')
    assert run_train(TINY_CONFIG, '--work-dir', tmp_path, *ARGS).returncode == 0
    (tmp_path / 'epoch_2.pth').write_bytes(b'truncated')
    (tmp_path / 'latest.pth').unlink()
    (tmp_path / 'last_checkpoint').unlink()
    result = run_train(TINY_CONFIG, '--work-dir', tmp_path, *ARGS, *two, '--auto-resume')
    assert result.returncode == 0, result.stderr
    assert 'auto-resume skips' in result.stderr and 'epoch_2.pth' in result.stderr
    assert f'resuming from {tmp_path / "epoch_1.pth"}' in result.stderr


def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(run_train, tmp_path):
    # Epoch 1 trains normally; from epoch 2 the LR is multiplied by 1e10.
    result = run_train(TINY_CONFIG, '--work-dir', tmp_path, *ARGS, '--cfg-options',
                       'runner.max_epochs=3', 'lr_config.step=[1]', 'lr_config.gamma=1e10')
    assert result.returncode == 1
    assert 'NonFiniteLossError: non-finite loss at epoch 2' in result.stderr
    assert f'the newest checkpoint is {tmp_path / "epoch_1.pth"}' in result.stderr
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_1.pth', 'latest.pth']
    weights = read_state_dict(tmp_path / 'latest.pth')
    assert all(torch.isfinite(value).all() for value in weights.values())


def test_a_failing_rank_ends_the_job_quickly(run_dist_train, tmp_path):
    started = time.monotonic()
    result = run_dist_train(CONFIGS / 'tiny_rank_fail.py', 2, '--work-dir', tmp_path,
                            *ARGS, port=free_port())
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert 'rank 1 fails on purpose at iter 2' in result.stderr
    assert elapsed < 60


def test_two_rank_resume_is_bit_exact(run_dist_train, tmp_path):
    full, part = tmp_path / 'full', tmp_path / 'part'
    two = ('--cfg-options', 'runner.max_epochs=2')
    for args in ((full, *ARGS, *two), (part, *ARGS), (part, *ARGS, *two, '--auto-resume')):
        result = run_dist_train(TINY_CONFIG, 2, '--work-dir', *args, port=free_port())
        assert result.returncode == 0, result.stderr[-3000:]
    assert 'auto-resume: resuming from' in result.stderr
    assert_same_weights(read_state_dict(full / 'epoch_2.pth'), read_state_dict(part / 'epoch_2.pth'))


@pytest.mark.parametrize('workers', [0, 1])
def test_iter_based_runner_resumes_mid_epoch_bit_exactly(run_train, tmp_path, workers):
    """12 samples in batches of 2: iteration 4 is in the middle of the sampler's round. With a loader
    worker, the resumed run's worker starts fresh mid-round and must still augment as the full run's did."""
    config = CONFIGS / 'tiny_iter.py'
    full, part = tmp_path / 'full', tmp_path / 'part'
    loader = f'data.workers_per_gpu={workers}'
    assert run_train(config, '--work-dir', full, *ARGS, '--cfg-options', loader).returncode == 0
    first = run_train(config, '--work-dir', part, *ARGS, '--cfg-options', 'runner.max_iters=4', loader)
    assert first.returncode == 0, first.stderr
    resumed = run_train(config, '--work-dir', part, *ARGS, '--auto-resume', '--cfg-options', loader)
    assert resumed.returncode == 0, resumed.stderr
    assert 'resumed epoch 1, iter 4' in resumed.stderr
    assert 'Iter [4/10]' not in resumed.stderr and 'Iter [6/10]' in resumed.stderr
    assert_same_weights(read_state_dict(full / 'iter_10.pth'), read_state_dict(part / 'iter_10.pth'))
