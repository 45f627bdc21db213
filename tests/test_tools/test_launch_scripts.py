"""The launch scripts' command lines: dist_train.sh, dist_test.sh (top level and tools/),
tools/slurm_train.sh and tools/slurm_test.sh, run on a copy of the repository's scripts whose
python, torchrun's interpreter and srun are fakes that record how they were called.

(tests/test_tools/test_dist_train.py and test_interruption.py run dist_train.sh for real.)"""
import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

SCRIPTS = ['dist_train.sh', 'dist_test.sh', 'tools/launch_env.sh', 'tools/dist_train.sh',
           'tools/dist_test.sh', 'tools/slurm_train.sh', 'tools/slurm_test.sh']
# Appends "<its path> <arguments, one per line>" and the variables the tools read to $FAKE_LOG;
# answers the launcher's torch check (`python -c ...`) with $FAKE_TORCH_CHECK (0: has torch).
RECORDER = """#!/usr/bin/env bash
if [ "$1" = -c ]; then exit "${FAKE_TORCH_CHECK:-0}"; fi
{ echo "CALL $0"; printf 'ARG %s\\n' "$@"; echo "PYTHONPATH $PYTHONPATH"
  echo "MARKER ${MMDET_LITE_PREEMPTED_MARKER:+set}"; echo END; } >> "$FAKE_LOG"
"""


class Launch:
    """A copy of the scripts under ``root`` with a fake ``.venv/bin/python``, and a PATH whose
    ``python`` and ``srun`` are fakes too (``bin``)."""

    def __init__(self, tmp_path):
        self.root, self.bin, self.log = tmp_path / 'repo', tmp_path / 'bin', tmp_path / 'calls'
        for script in SCRIPTS:
            (self.root / script).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / script, self.root / script)
        self.venv_python = self.fake(self.root / '.venv' / 'bin' / 'python')
        self.path_python = self.fake(self.bin / 'python')
        self.fake(self.bin / 'srun')
        self.config = self.root / 'configs' / 'a.py'
        self.config.parent.mkdir()
        self.config.write_text('')

    @staticmethod
    def fake(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(RECORDER)
        path.chmod(0o755)
        return path

    def run(self, script, *args, **env):
        environ = {name: value for name, value in os.environ.items()
                   if name not in ('PYTHON', 'PYTHONPATH', 'MMDET_LITE_VENV')}
        environ.update(PATH=f'{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin',
                       FAKE_LOG=str(self.log), **env)
        return subprocess.run(['bash', str(self.root / script), *map(str, args)], cwd=self.root,
                              env=environ, capture_output=True, text=True, timeout=60)

    def calls(self):
        """``[(program, [arguments], {PYTHONPATH, MARKER})]`` in call order."""
        if not self.log.exists():
            return []
        calls = []
        for block in self.log.read_text().split('END\n')[:-1]:
            lines = block.splitlines()
            args = [line[4:] for line in lines if line.startswith('ARG ')]
            env = dict(line.split(' ', 1) for line in lines[-2:])
            calls.append((lines[0][5:], args, env))
        return calls


@pytest.fixture
def launch(tmp_path):
    return Launch(tmp_path)


def torchrun_args(nproc, port='29500'):
    return ['-m', 'torch.distributed.run', '--nnodes=1', '--node_rank=0',
            '--master_addr=127.0.0.1', f'--nproc_per_node={nproc}', f'--master_port={port}']


@pytest.mark.parametrize('script', ['dist_train.sh', 'tools/dist_train.sh'])
def test_dist_train_runs_torchrun_with_the_project_environment_not_path_python(launch, script):
    result = launch.run(script, launch.config, 2, '--seed', '0')
    assert result.returncode == 0, result.stderr
    [(program, args, env)] = launch.calls()
    assert program == str(launch.venv_python)  # not PATH's python, which has no torch
    assert args == [*torchrun_args(2), str(launch.root / 'tools' / 'train.py'), str(launch.config),
                    '--launcher', 'pytorch', '--seed', '0']
    assert env == {'PYTHONPATH': str(launch.root), 'MARKER': 'set'}


def test_dist_test_passes_config_checkpoint_and_arguments(launch):
    result = launch.run('dist_test.sh', launch.config, 'latest.pth', 4, '--eval', 'bbox',
                        NNODES='2', NODE_RANK='1', MASTER_ADDR='10.0.0.1', PORT='29600',
                        PYTHONPATH='/elsewhere')
    assert result.returncode == 0, result.stderr
    [(program, args, env)] = launch.calls()
    assert program == str(launch.venv_python)
    assert args == ['-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=1',
                    '--master_addr=10.0.0.1', '--nproc_per_node=4', '--master_port=29600',
                    str(launch.root / 'tools' / 'test.py'), str(launch.config), 'latest.pth',
                    '--launcher', 'pytorch', '--eval', 'bbox']
    assert env['PYTHONPATH'] == f'{launch.root}:/elsewhere'


def test_python_variable_overrides_the_environment(launch, tmp_path):
    chosen = launch.fake(tmp_path / 'other' / 'python3')
    assert launch.run('dist_train.sh', launch.config, 1, PYTHON=str(chosen)).returncode == 0
    assert [program for program, _, _ in launch.calls()] == [str(chosen)]


def test_without_the_environment_path_python_runs(launch):
    """An activated environment: no .venv, PYTHON unset."""
    shutil.rmtree(launch.root / '.venv')
    assert launch.run('dist_train.sh', launch.config, 1).returncode == 0
    assert [program for program, _, _ in launch.calls()] == [str(launch.path_python)]


def test_a_python_without_torch_is_named_before_anything_starts(launch):
    result = launch.run('dist_train.sh', launch.config, 2, FAKE_TORCH_CHECK='1')
    assert result.returncode == 1
    assert result.stderr == (
        f"dist_train.sh: {launch.venv_python} cannot import torch: run 'bash tools/setup_env.sh' "
        '(it makes .venv, which this script then uses) or set PYTHON to a python with torch\n')
    assert launch.calls() == []


def test_slurm_train_runs_one_srun_task_per_gpu(launch):
    result = launch.run('tools/slurm_train.sh', 'gpu', 'frcnn', launch.config, 'work_dirs/x',
                        '--auto-resume', GPUS='16', GPUS_PER_NODE='4', CPUS_PER_TASK='6',
                        SRUN_ARGS='--time=2:00:00 --signal=USR1@120')
    assert result.returncode == 0, result.stderr
    [(program, args, env)] = launch.calls()
    assert program == str(launch.bin / 'srun')
    assert args == ['-p', 'gpu', '--job-name=frcnn', '--gres=gpu:4', '--ntasks=16',
                    '--ntasks-per-node=4', '--cpus-per-task=6', '--kill-on-bad-exit=1',
                    '--time=2:00:00', '--signal=USR1@120', str(launch.venv_python), '-u',
                    str(launch.root / 'tools' / 'train.py'), str(launch.config),
                    '--work-dir=work_dirs/x', '--launcher=slurm', '--auto-resume']
    assert env['PYTHONPATH'] == str(launch.root)


def test_slurm_test_defaults_to_8_gpus_on_one_node(launch):
    result = launch.run('tools/slurm_test.sh', 'gpu', 'eval', launch.config, 'latest.pth',
                        '--eval', 'bbox')
    assert result.returncode == 0, result.stderr
    [(_, args, _)] = launch.calls()
    assert args == ['-p', 'gpu', '--job-name=eval', '--gres=gpu:8', '--ntasks=8',
                    '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
                    str(launch.venv_python), '-u', str(launch.root / 'tools' / 'test.py'),
                    str(launch.config), 'latest.pth', '--launcher=slurm', '--eval', 'bbox']


@pytest.mark.parametrize('script,args,env,status,message', [
    ('dist_train.sh', ['CONFIG'], {}, 2,
     'usage: bash {root}/tools/dist_train.sh CONFIG GPUS [tools/train.py arguments]\n'),
    ('dist_train.sh', ['{config}', 'two'], {}, 2,
     "dist_train.sh: GPUS must be a whole number >= 1, got 'two'\n"),
    ('dist_test.sh', ['configs/missing.py', 'latest.pth', '2'], {}, 1,
     'dist_test.sh: config file configs/missing.py does not exist\n'),
    ('tools/slurm_train.sh', ['gpu', 'job', '{config}'], {}, 2,
     'usage: bash {root}/tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR '
     '[tools/train.py arguments]\n'),
    ('tools/slurm_test.sh', ['gpu', 'job', '{config}', 'latest.pth'], {'GPUS_PER_NODE': '0'}, 2,
     "slurm_test.sh: GPUS_PER_NODE must be a whole number >= 1, got '0'\n"),
])
def test_bad_command_line_is_one_message_and_starts_nothing(launch, script, args, env, status,
                                                             message):
    args = [arg.format(config=launch.config) for arg in args]
    result = launch.run(script, *args, **env)
    assert (result.returncode, result.stderr) == (status, message.format(root=launch.root))
    assert launch.calls() == []
