"""Surviving interruption: SIGTERM and SIGKILL + --auto-resume, mid-epoch checkpoints, one run per
work_dir, a dying rank, a NaN loss."""
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import (REPO_ROOT, TINY_CONFIG, _env, assert_same_weights, free_port,
                            read_checkpoint, read_state_dict)

CONFIGS = REPO_ROOT / 'tests' / 'data' / 'configs'
SEEDED = ('--seed', '0', '--deterministic')
ARGS = ('--no-validate', *SEEDED)


PREEMPT_CONFIG = CONFIGS / 'tiny_preempt.py'  # slow steps, saves and evaluations to aim signals at


def start_train(config, work_dir, *args, log, out=None, seed_args=ARGS):
    """Start train.py in the background, its stderr (the log) going to ``log`` and its stdout (the
    evaluation progress bar) to ``out``."""
    with open(log, 'w') as stderr, open(out or os.devnull, 'w') as stdout:
        return subprocess.Popen([sys.executable, str(REPO_ROOT / 'tools' / 'train.py'),
                                 str(config), '--work-dir', str(work_dir), *seed_args, *args],
                                cwd=REPO_ROOT, env=_env(), stdout=stdout, stderr=stderr, text=True)


def wait_until(proc, condition, timeout=120):
    """Poll ``condition()`` until it holds; False if ``proc`` ended or time ran out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.01)
    return False


def trained_iterations(log_text: str) -> set:
    """(epoch, iteration) of every training log line (the preemption config logs each iteration)."""
    return {(int(e), int(i)) for e, i in re.findall(r'Epoch \[(\d+)\]\[(\d+)/\d+\]', log_text)}


@pytest.fixture(scope='module')
def preempt_reference(tmp_path_factory):
    """An uninterrupted run of the preemption config, started once for the module (about 10 s): the
    work_dir lock test starts a second run beside it while it trains, the signal test compares with
    it, and meanwhile it trains beside them."""
    work_dir = tmp_path_factory.mktemp('preempt_reference')
    log = work_dir.parent / f'{work_dir.name}.log'
    proc = start_train(PREEMPT_CONFIG, work_dir, log=log, seed_args=SEEDED)
    yield proc, work_dir, log
    proc.kill()
    proc.wait()


def test_a_second_run_on_a_work_dir_in_use_is_refused_and_the_first_is_unharmed(train_in_process,
                                                                                 preempt_reference):
    """(The first run's own result, exit 0 and the uninterrupted weights, is checked by the signal
    test below, which compares with it.)"""
    first, work_dir, log = preempt_reference
    assert wait_until(first, lambda: 'Epoch [' in log.read_text()), log.read_text()[-3000:]
    lock = (work_dir / '.train.lock').read_bytes()
    first.send_signal(signal.SIGSTOP)  # held in training however long the second takes
    try:
        # (tiny.py, not the preemption config: its slow fsync would patch this process's)
        second = train_in_process(TINY_CONFIG, '--work-dir', work_dir, *ARGS)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 1
    assert f'work_dir {work_dir} is in use by PID {first.pid} on host' in second.stderr
    assert first.poll() is None, 'the first run must still be training'
    assert (work_dir / '.train.lock').read_bytes() == lock
    assert len([path for path in work_dir.iterdir() if path.suffix == '.log']) == 1  # the first's


def test_sigterm_at_any_moment_and_sigkill_then_auto_resume_reach_the_uninterrupted_weights(
        tmp_path, preempt_reference):
    """Two epochs, interrupted four times, each run followed by --auto-resume: SIGTERM inside an
    iteration (epoch 1), inside the evaluation that ends epoch 1, SIGKILL inside the save that ends
    epoch 2, then SIGTERM inside that save again. The final weights are the uninterrupted run's."""
    reference, reference_dir, reference_log = preempt_reference
    work_dir = tmp_path / 'run'
    left_over = set()  # a temporary file left by a killed save, until the next start removes it
    saving = lambda: bool(set(work_dir.glob('.epoch_*.pth.*.tmp')) - left_over)  # noqa: E731
    moments = [
        ('SIGTERM', 'in an iteration', lambda log, out: 'Epoch [' in log.read_text()),
        ('SIGTERM', 'in an evaluation', lambda log, out: '/4,' in out.read_text()),
        ('SIGKILL', 'in a save', lambda log, out: saving()),
        ('SIGTERM', 'in a save', lambda log, out: saving()),
    ]
    rng = random.Random(0)
    logs = []
    for attempt, (signal_name, moment, reached) in enumerate(moments):
        log, out = tmp_path / f'attempt{attempt}.log', tmp_path / f'attempt{attempt}.out'
        left_over = set(work_dir.glob('.*.tmp'))
        proc = start_train(PREEMPT_CONFIG, work_dir, '--auto-resume', log=log, out=out, seed_args=SEEDED)
        assert wait_until(proc, lambda: reached(log, out)), f'{moment}: {log.read_text()[-2000:]}'
        if moment == 'in an iteration':
            time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(getattr(signal, signal_name))
        status = proc.wait(timeout=120)
        logs.append(log.read_text())
        if signal_name == 'SIGTERM':
            assert status == 75, f'{moment}: {logs[-1][-2000:]}'
            assert 'SIGTERM received: training stopped' in logs[-1]
        if attempt > 0:
            assert 'auto-resume: resuming from' in logs[-1]
    # the save killed in attempt 2 left a temporary file; the next start removed it
    assert 'left by a save that did not finish' in logs[3]
    final = start_train(PREEMPT_CONFIG, work_dir, '--auto-resume', log=tmp_path / 'final.log',
                        seed_args=SEEDED)
    assert final.wait(timeout=120) == 0, (tmp_path / 'final.log').read_text()[-3000:]
    logs.append((tmp_path / 'final.log').read_text())
    assert not list(work_dir.glob('.*.tmp'))
    for attempt, (signal_name, moment, _) in enumerate(moments):
        if signal_name == 'SIGTERM':  # nothing lost: at most one iteration trained again
            repeated = trained_iterations(logs[attempt]) & trained_iterations(logs[attempt + 1])
            assert len(repeated) <= 1, (moment, repeated)
    assert reference.wait(timeout=120) == 0, reference_log.read_text()[-3000:]
    assert_same_weights(read_state_dict(reference_dir / 'epoch_2.pth'),
                        read_state_dict(work_dir / 'epoch_2.pth'))


def test_mid_epoch_checkpoints_are_named_by_iteration_and_resume_bit_exactly(train_in_process, tmp_path):
    """Checkpoints every 4 iterations of 2 epochs of 6: iteration 4 and 8 are inside an epoch."""
    every_4 = ('--cfg-options', 'runner.max_epochs=2', 'checkpoint_config.by_epoch=False',
               'checkpoint_config.interval=4')
    full = train_in_process(TINY_CONFIG, '--work-dir', tmp_path / 'full', *ARGS, *every_4)
    assert full.returncode == 0, full.stderr[-3000:]
    metas = {name: read_checkpoint(tmp_path / 'full' / f'{name}.pth')['meta']
             for name in ('iter_4', 'iter_8', 'iter_12')}
    assert {name: (meta['epoch'], meta['iter'], meta['inner_iter']) for name, meta in metas.items()} == {
        'iter_4': (0, 4, 4), 'iter_8': (1, 8, 2), 'iter_12': (1, 12, 6)}
    assert (tmp_path / 'full' / 'last_checkpoint').read_text().strip() == 'iter_12.pth'
    assert not list((tmp_path / 'full').glob('epoch_*.pth'))
    expected = read_state_dict(tmp_path / 'full' / 'iter_12.pth')
    for name in ('iter_4', 'iter_8'):
        resumed = train_in_process(TINY_CONFIG, '--work-dir', tmp_path / name, *ARGS, *every_4,
                                   '--resume-from', tmp_path / 'full' / f'{name}.pth')
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        first_trained = min(trained_iterations(resumed.stderr))
        assert first_trained == {'iter_4': (1, 6), 'iter_8': (2, 4)}[name]  # logged every 2
        assert_same_weights(expected, read_state_dict(tmp_path / name / 'iter_12.pth'))


def test_auto_resume_without_checkpoint_starts_fresh(train_in_process, tmp_path):
    result = train_in_process(TINY_CONFIG, '--work-dir', tmp_path, *ARGS, '--auto-resume')
    assert result.returncode == 0, result.stderr
    assert f'auto-resume: no checkpoint in {tmp_path}, starting from scratch' in result.stderr
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_auto_resume_skips_a_corrupt_newest_checkpoint(train_in_process, tmp_path):
    two = ('--cfg-options', 'runner.max_epochs=2')
    assert train_in_process(TINY_CONFIG, '--work-dir', tmp_path, *ARGS).returncode == 0
    (tmp_path / 'epoch_2.pth').write_bytes(b'truncated')
    (tmp_path / 'latest.pth').unlink()
    (tmp_path / 'last_checkpoint').unlink()
    result = train_in_process(TINY_CONFIG, '--work-dir', tmp_path, *ARGS, *two, '--auto-resume')
    assert result.returncode == 0, result.stderr
    assert 'auto-resume skips' in result.stderr and 'epoch_2.pth' in result.stderr
    assert f'resuming from {tmp_path / "epoch_1.pth"}' in result.stderr


@pytest.mark.parametrize('every_iteration', [False, True])
def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(train_in_process, tmp_path,
                                                                           every_iteration):
    config = TINY_CONFIG
    if every_iteration:  # the user's own hook replaces train_detector's (which reads every 50)
        config = tmp_path / 'every_iteration.py'
        config.write_text(f"_base_ = '{TINY_CONFIG}'\ncustom_hooks = [dict(type='CheckInvalidLossHook', "
                          "interval=1, priority='HIGH')]\n")
    # Epoch 1 trains normally; from epoch 2 the LR is multiplied by 1e10. Logged (and so read by
    # train_detector's hook) every 50 iterations, more than an epoch's 6.
    result = train_in_process(config, '--work-dir', tmp_path, *ARGS, '--cfg-options', 'runner.max_epochs=3',
                              'lr_config.step=[1]', 'lr_config.gamma=1e10', 'log_config.interval=50')
    assert result.returncode == 1
    stop = re.search(r'NonFiniteLossError: non-finite loss at epoch 2, iter \d+ \(global iter (\d+)\): .*\. '
                     r'Training stopped at global iter (\d+); no checkpoint holds weights from global iter \1 on; '
                     r'newest checkpoint: (.*)', result.stderr)
    assert stop, result.stderr[-3000:]
    assert stop[3] == str(tmp_path / 'epoch_1.pth')
    assert stop[2] == (stop[1] if every_iteration else '12')  # else read at the end of epoch 2
    assert result.stderr.count(') CheckInvalidLossHook') == 3  # one hook, listed under its 3 stages
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


def start_dist_train(config, work_dir, *args, log, out=None, seed_args=ARGS):
    """``dist_train.sh`` with 2 gloo ranks in the background, stderr (the log) to ``log`` and stdout
    (rank 0's evaluation progress bar) to ``out``."""
    with open(log, 'w') as stderr, open(out or os.devnull, 'w') as stdout:
        return subprocess.Popen(['bash', str(REPO_ROOT / 'dist_train.sh'), str(config), '2',
                                 '--work-dir', str(work_dir), *seed_args, *args],
                                cwd=REPO_ROOT, stdout=stdout, stderr=stderr,
                                env=_env({'PYTHON': sys.executable, 'PORT': str(free_port())}))


def test_sigterm_to_dist_train_at_any_moment_stops_both_ranks_and_auto_resume_is_bit_exact(tmp_path):
    """The preemption config on 2 gloo ranks (3 iterations an epoch each), SIGTERM to dist_train.sh
    inside an iteration, an evaluation (0.5 s a sample here) and a save, each run followed by
    --auto-resume: status 75 each time, no traceback, at most one iteration trained twice, and the
    uninterrupted 2-rank run's weights at the end."""
    slow_eval = ('--cfg-options', 'data.val.delay_s=0.5')
    reference_dir = tmp_path / 'reference'
    reference = start_dist_train(PREEMPT_CONFIG, reference_dir, *slow_eval,
                                 log=tmp_path / 'reference.log', seed_args=SEEDED)
    work_dir = tmp_path / 'run'
    saving = lambda: bool(list(work_dir.glob('.epoch_*.pth.*.tmp')))  # noqa: E731
    moments = [
        ('in an iteration', lambda log, out: 'Epoch [1][' in log.read_text()),
        ('in an evaluation', lambda log, out: '/4,' in out.read_text()),
        ('in a save', lambda log, out: saving()),
    ]
    logs = []
    for attempt, (moment, reached) in enumerate(moments):
        log, out = tmp_path / f'attempt{attempt}.log', tmp_path / f'attempt{attempt}.out'
        job = start_dist_train(PREEMPT_CONFIG, work_dir, '--auto-resume', *slow_eval, log=log,
                               out=out, seed_args=SEEDED)
        assert wait_until(job, lambda: reached(log, out)), f'{moment}: {log.read_text()[-2000:]}'
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=120) == 75, f'{moment}: {log.read_text()[-3000:]}'
        logs.append(log.read_text())
        assert 'SIGTERM received: training stopped' in logs[-1], moment
        assert 'Traceback' not in logs[-1], moment
        if attempt > 0:
            assert 'auto-resume: resuming from' in logs[-1], moment
    final = start_dist_train(PREEMPT_CONFIG, work_dir, '--auto-resume', *slow_eval,
                             log=tmp_path / 'final.log', seed_args=SEEDED)
    assert final.wait(timeout=120) == 0, (tmp_path / 'final.log').read_text()[-3000:]
    logs.append((tmp_path / 'final.log').read_text())
    for attempt, (moment, _) in enumerate(moments):
        repeated = trained_iterations(logs[attempt]) & trained_iterations(logs[attempt + 1])
        assert len(repeated) <= 1, (moment, repeated)
    assert reference.wait(timeout=120) == 0, (tmp_path / 'reference.log').read_text()[-3000:]
    assert_same_weights(read_state_dict(reference_dir / 'epoch_2.pth'),
                        read_state_dict(work_dir / 'epoch_2.pth'))


@pytest.mark.parametrize('workers', [0, 1])
def test_iter_based_runner_resumes_mid_epoch_bit_exactly(train_in_process, tmp_path, workers):
    """12 samples in batches of 2: iteration 4 is in the middle of the sampler's round. With a loader
    worker, the resumed run's worker starts fresh mid-round and must still augment as the full run's did."""
    config = CONFIGS / 'tiny_iter.py'
    full, part = tmp_path / 'full', tmp_path / 'part'
    loader = f'data.workers_per_gpu={workers}'
    for result in (train_in_process(config, '--work-dir', full, *ARGS, '--cfg-options', loader),
                   train_in_process(config, '--work-dir', part, *ARGS, '--cfg-options',
                                    'runner.max_iters=4', loader)):
        assert result.returncode == 0, result.stderr[-3000:]
    resumed = train_in_process(config, '--work-dir', part, *ARGS, '--auto-resume', '--cfg-options', loader)
    assert resumed.returncode == 0, resumed.stderr
    assert 'resumed epoch 1, iter 4' in resumed.stderr
    assert 'Iter [4/10]' not in resumed.stderr and 'Iter [6/10]' in resumed.stderr
    assert_same_weights(read_state_dict(full / 'iter_10.pth'), read_state_dict(part / 'iter_10.pth'))
