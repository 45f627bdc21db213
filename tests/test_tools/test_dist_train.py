"""dist_train.sh on the CPU: two gloo ranks."""
import subprocess
import sys

import torch

from tests.conftest import (REPO_ROOT, _env, assert_same_weights, free_port, read_checkpoint,
                            read_state_dict)

RANK_DUMP_CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny_rank_dump.py'


def assert_ranks_agree(work_dir):
    assert_same_weights(read_checkpoint(work_dir / 'rank0_weights.pth'),
                        read_checkpoint(work_dir / 'rank1_weights.pth'))


def test_two_gloo_ranks_train_and_only_rank0_writes(run_dist_train, tmp_path):
    result = run_dist_train(RANK_DUMP_CONFIG, 2, '--work-dir', tmp_path, '--no-validate',
                            '--seed', '0', port=free_port())
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Distributed training: True' in result.stderr
    assert 'backend gloo' in result.stderr
    assert len(list(tmp_path.glob('*.log'))) == 1
    assert len(list(tmp_path.glob('*.log.json'))) == 1
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'epoch_1.pth', 'latest.pth', 'rank0_weights.pth', 'rank1_weights.pth']
    # Two aspect groups of 6, each padded to 2 ranks x 2 per batch: 4 iterations per rank.
    assert 'Epoch [1][4/4]' in (next(tmp_path.glob('*.log'))).read_text()
    assert_ranks_agree(tmp_path)
    saved = read_state_dict(tmp_path / 'epoch_1.pth')
    rank0 = read_checkpoint(tmp_path / 'rank0_weights.pth')
    assert torch.equal(saved['fc.weight'], rank0['fc.weight'])


def test_legacy_launcher_passing_local_rank_flag(tmp_path):
    """torch.distributed.launch (without --use-env) passes --local-rank=N to the script."""
    cmd = [sys.executable, '-m', 'torch.distributed.launch', '--nproc_per_node=2',
           f'--master_port={free_port()}', str(REPO_ROOT / 'tools' / 'train.py'),
           str(RANK_DUMP_CONFIG), '--launcher', 'pytorch', '--work-dir', str(tmp_path),
           '--no-validate', '--seed', '0']
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_ranks_agree(tmp_path)
