"""Logger backends through tools/train.py: TensorBoard's scalars match the .log.json; a backend
whose package is missing stops the run before the work_dir is touched.

The run trains the oracle detector (its loss pulls a box shift toward 1 px) on tiny_coco.py's
sample for one epoch of 2 iterations and evaluates bbox mAP, in this process: it takes no loader
worker, and what it changes for the process (seeds, environment, logger handlers) is restored by
``run_tool_in_process``."""
import json
import sys

import pytest

from tests.test_tools.conftest import TINY_COCO_CONFIG, data_root_options

# The CLI form the README documents: mmcv's --cfg-options reads "[a,b]" as a list of names.
WITH_TENSORBOARD = 'log_config.hooks=[TextLoggerHook,TensorboardLoggerHook]'
# Each val image holds one person at [10, 8, 20, 30] (x, y, w, h): the oracle answers it exactly.
ORACLE = ("model=dict(_delete_=True, type='OracleTestDetector', num_classes=3, predictions="
          "{'0.jpg': [[10, 8, 30, 38, 0.9, 0]], '1.jpg': [[10, 8, 30, 38, 0.9, 0]]})")


@pytest.fixture
def oracle_config(tmp_path):
    config = tmp_path / 'oracle_coco.py'
    config.write_text(f"_base_ = ['{TINY_COCO_CONFIG}']\n"
                      "custom_imports = dict(imports=['tests.test_datasets.helpers'])\n"
                      f'{ORACLE}\n')
    return config


def read_event_scalars(log_dir):
    """``{tag: [(step, value), ...]}`` from the TensorBoard event file in ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    [event_file] = log_dir.glob('events.out.tfevents.*')
    events = EventAccumulator(str(event_file))
    events.Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)]
            for tag in events.Tags()['scalars']}


def test_tensorboard_writes_the_logged_losses_lr_and_bbox_map(run_tool_in_process, coco_root,
                                                              oracle_config, tmp_path):
    pytest.importorskip('tensorboard', reason='requirements/tests.txt installs tensorboard')
    work_dir = tmp_path / 'work'
    result = run_tool_in_process('train.py', oracle_config, '--work-dir', work_dir, '--seed', '0',
                                 *data_root_options(coco_root), 'data.workers_per_gpu=0',
                                 WITH_TENSORBOARD)
    assert result.returncode == 0, result.stderr[-600:]
    [log_json] = work_dir.glob('*.log.json')
    entries = [json.loads(line) for line in log_json.read_text().splitlines()[1:]]  # [0]: env
    train = [entry for entry in entries if entry['mode'] == 'train']
    [val] = [entry for entry in entries if entry['mode'] == 'val']
    assert len(train) == 2 and val['bbox_mAP'] == 1.0

    scalars = read_event_scalars(work_dir / 'tf_logs')
    # mmcv's step is runner.iter + 1: the train iterations log at steps 1 and 2, the evaluation
    # after the epoch (runner.iter = 2) at step 3; the .log.json rounds to 5 decimals.
    for tag, key in (('train/loss', 'loss'), ('train/loss_shift', 'loss_shift'),
                     ('learning_rate', 'lr')):
        assert [step for step, _ in scalars[tag][:2]] == [1, 2], tag
        assert [value for _, value in scalars[tag][:2]] == pytest.approx(
            [entry[key] for entry in train], abs=1e-5), tag
    assert train[0]['loss'] == 1.0 and train[1]['loss'] < 1.0  # shift 0 -> (0 - 1)^2, then trains
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'):
        assert scalars[f'val/{key}'] == [(3, pytest.approx(val[key]))], key
    assert scalars['learning_rate'][-1] == (3, pytest.approx(val['lr']))


def test_missing_tensorboard_stops_before_the_work_dir_is_touched(run_tool_in_process, coco_root,
                                                                  oracle_config, tmp_path,
                                                                  monkeypatch):
    """Absence simulated in this process: ``import tensorboard`` raises ImportError."""
    monkeypatch.setitem(sys.modules, 'tensorboard', None)
    monkeypatch.delitem(sys.modules, 'torch.utils.tensorboard', raising=False)
    work_dir = tmp_path / 'work'
    result = run_tool_in_process('train.py', oracle_config, '--work-dir', work_dir,
                                 *data_root_options(coco_root), WITH_TENSORBOARD)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "train.py: error: ImportError: log_config.hooks[1] TensorboardLoggerHook needs "
        "the 'tensorboard' package: pip install -r requirements/optional.txt (")
    assert 'Traceback' not in result.stderr
    assert not work_dir.exists()


def test_a_list_of_hook_dicts_on_the_command_line_is_refused_before_the_work_dir(
        run_tool_in_process, coco_root, oracle_config, tmp_path):
    """mmcv's --cfg-options leaves ``dict(...)`` inside a list as a string."""
    work_dir = tmp_path / 'work'
    result = run_tool_in_process(
        'train.py', oracle_config, '--work-dir', work_dir, *data_root_options(coco_root),
        "log_config.hooks=[dict(type='TextLoggerHook'),dict(type='TensorboardLoggerHook')]")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "train.py: error: KeyError: log_config.hooks[0]: \"dict(type='TextLoggerHook')\" is not "
        'in the HOOKS registry (--cfg-options reads dict(...) in a list as text: give hook names, '
        'log_config.hooks=[TextLoggerHook,TensorboardLoggerHook])\n')
    assert not work_dir.exists()


def test_a_log_interval_that_is_not_a_count_is_refused_before_the_work_dir(run_tool_in_process, coco_root,
                                                                           oracle_config, tmp_path):
    work_dir = tmp_path / 'work'
    result = run_tool_in_process('train.py', oracle_config, '--work-dir', work_dir, *data_root_options(coco_root),
                                 'log_config.interval=oops')
    assert result.returncode == 1
    assert result.stderr.startswith("train.py: error: ValueError: log_config.interval must be a whole number of "
                                    "iterations >= 0, got 'oops'\n")
    assert not work_dir.exists()
