"""tools/test.py and dist_test.sh on a checkpoint of the oracle test detector (CPU)."""
import ast
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmdet_lite.datasets import build_dataset
from tests.conftest import REPO_ROOT, _env, free_port, load_tool, run_in_process
from tests.test_datasets.helpers import write_oracle_setup

NUM_IMAGES = 4
SHIFT = 2.0


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Data, a config using the oracle detector, and a checkpoint whose ``shift`` is 2."""
    root = tmp_path_factory.mktemp('test_tool')
    config, checkpoint, test_cfg = write_oracle_setup(root, NUM_IMAGES, SHIFT)
    return root, config, checkpoint, test_cfg


def printed_metrics(stdout):
    line = [line for line in stdout.splitlines() if line.startswith('OrderedDict(')][-1]
    return dict(ast.literal_eval(line[len('OrderedDict('):-1]))


def test_reproduces_evaluate_on_the_checkpoint(setup):
    root, config, checkpoint, test_cfg = setup
    out = root / 'results.pkl'
    result = run_in_process('test.py', config, checkpoint, '--out', out, '--eval', 'bbox')
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == NUM_IMAGES
    # the checkpoint's shift moved every box 2 px right: the weights were loaded
    np.testing.assert_allclose(results[1][1], [[5 + SHIFT, 4, 35 + SHIFT, 24, 0.9]])
    dataset = build_dataset(dict(test_cfg, test_mode=True))
    metrics = printed_metrics(result.stdout)
    assert metrics == dict(dataset.evaluate(results))
    # IoU of each box with its GT = 28*20 / (2*600 - 28*20) = 0.875: hits at 0.50..0.85 only
    assert metrics['bbox_mAP'] == 0.8 and metrics['bbox_mAP_75'] == 1.0
    assert 'writing results to' in result.stdout


def test_batched_test_and_format_only(setup):
    root, config, checkpoint, _ = setup
    result = run_in_process('test.py', config, checkpoint, '--format-only',
                            '--cfg-options', 'data.test.samples_per_gpu=2',
                            '--eval-options', f'jsonfile_prefix={root / "fmt"}')
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(json.loads((root / 'fmt.bbox.json').read_text())) == NUM_IMAGES


def test_dist_test_two_gloo_ranks_print_the_same_metrics(setup):
    root, config, checkpoint, test_cfg = setup
    result = subprocess.run(
        ['bash', str(REPO_ROOT / 'dist_test.sh'), str(config), str(checkpoint), '2',
         '--eval', 'bbox', '--out', str(root / 'dist.pkl')],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env=_env({'PYTHON': sys.executable, 'PORT': str(free_port())}))
    assert result.returncode == 0, result.stderr[-3000:]
    with open(root / 'dist.pkl', 'rb') as f:
        results = pickle.load(f)
    assert [float(np.vstack(r)[0, 0]) for r in results] == [4 + i + SHIFT
                                                            for i in range(NUM_IMAGES)]
    assert printed_metrics(result.stdout)['bbox_mAP'] == 0.8


@pytest.fixture
def run_test_tool(run_tool_in_process):
    """tools/test.py in this process; returns (exit status, stderr)."""
    def run(*args):
        result = run_tool_in_process('test.py', *args)
        return result.returncode, result.stderr
    return run


def test_unknown_eval_metric_lists_the_allowed_ones(setup, run_test_tool):
    _, config, checkpoint, _ = setup
    status, err = run_test_tool(config, checkpoint, '--eval', 'mAP')
    assert status == 1 and 'Traceback' not in err
    assert 'metric mAP is not supported by CocoDataset; allowed metrics are bbox, segm, ' \
           'proposal, proposal_fast' in err


@pytest.mark.parametrize('which', ['config', 'checkpoint'])
def test_missing_file_is_one_message_without_traceback(setup, run_test_tool, tmp_path, which):
    _, config, checkpoint, _ = setup
    missing = tmp_path / f'missing_{which}'
    args = (missing, checkpoint) if which == 'config' else (config, missing)
    status, err = run_test_tool(*args, '--eval', 'bbox')
    assert status == 1
    assert f'{which} file {missing} does not exist' in err
    assert 'Traceback' not in err and len(err.splitlines()) <= 3


def test_operation_and_output_checks(setup, run_test_tool):
    _, config, checkpoint, _ = setup
    status, err = run_test_tool(config, checkpoint)
    assert status == 2 and 'Please specify at least one operation' in err
    status, err = run_test_tool(config, checkpoint, '--out', 'x.json')
    assert status == 2 and 'must be a pkl file' in err
    status, err = run_test_tool(config, checkpoint, '--eval', 'bbox', '--format-only')
    assert status == 2 and 'cannot be both specified' in err


def test_local_rank_spellings_are_accepted(setup, monkeypatch):
    _, config, checkpoint, _ = setup
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_args exports LOCAL_RANK when it is unset
    for flag in ('--local_rank', '--local-rank'):
        args = load_tool('test.py').parse_args([str(config), str(checkpoint), '--eval', 'bbox', flag, '1'])
        assert args.local_rank == 1


def test_checkpoint_with_pickled_callable_is_refused(setup, run_test_tool, tmp_path):
    _, config, _, _ = setup
    unsafe = tmp_path / 'unsafe.pth'
    torch.save({'state_dict': {}, 'meta': {'hook': print}}, unsafe)
    status, err = run_test_tool(config, unsafe, '--eval', 'bbox')
    assert status == 1 and 'Traceback' not in err
    assert 'unsafe.pth was refused' in err and 'weights_only=True' in err
