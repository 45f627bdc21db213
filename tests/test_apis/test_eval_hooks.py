"""EvalHook / DistEvalHook in an mmcv EpochBasedRunner: interval, start, save_best, log buffer,
BN-buffer broadcast and rank-0-only evaluation over 2 gloo processes."""
import logging
import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn
from mmcv.parallel import MMDataParallel
from mmcv.runner import EpochBasedRunner, Hook
from torch.utils.data import DataLoader

from mmdet_lite.apis import multi_gpu_test, single_gpu_test
from mmdet_lite.core.evaluation import DistEvalHook, EvalHook
from mmdet_lite.datasets import build_dataloader, build_dataset
from tests.conftest import free_port, gloo_process_group
from tests.test_datasets.helpers import TEST_PIPELINE, OracleTestDetector, write_coco

# Shift of the predicted boxes during epoch e (1-based): 0 is perfect, 40 misses everything.
SHIFT_SCHEDULE = {1: 40.0, 2: 0.0, 3: 40.0, 4: 40.0}


class ScheduledOracle(OracleTestDetector):
    """Oracle whose ``shift`` is set by the epoch of each training step."""

    def __init__(self, predictions, num_classes):
        super().__init__(predictions, num_classes)
        self.bn = nn.BatchNorm1d(2)
        self.epoch = 0

    def train_step(self, data, optimizer):
        self.shift.data.fill_(SHIFT_SCHEDULE[self.epoch + 1])
        return dict(loss=self.shift * 0, log_vars=dict(loss=0.0), num_samples=1)


class EpochCounter(Hook):
    """Tells the model which epoch runs (a stand-in for real training changing weights)."""

    def __init__(self, model):
        self.model = model

    def before_train_epoch(self, runner):
        self.model.epoch = runner.epoch


def write_val_data(root: Path) -> None:
    images = [dict(id=i + 1, file_name=f'{i}.jpg', width=80, height=64) for i in range(3)]
    annotations = [dict(id=i + 1, image_id=i + 1, category_id=1, bbox=[10, 10, 30, 20],
                        area=600, iscrowd=0) for i in range(3)]
    write_coco(root, 'val.json', 'val', images, annotations, [dict(id=1, name='a')])


def make_val_loader(root: Path, dist=False):
    """Loader over the 3 images of ``write_val_data`` and the oracle's perfect answers."""
    ann = root / 'val.json'
    dataset = build_dataset(dict(type='CocoDataset', ann_file=str(ann), classes=('a',),
                                 img_prefix=str(root / 'val'), pipeline=TEST_PIPELINE,
                                 test_mode=True))
    predictions = {f'{i}.jpg': [[10, 10, 40, 30, 0.9, 0]] for i in range(3)}
    return build_dataloader(dataset, 1, 0, dist=dist, shuffle=False), predictions


@pytest.fixture(autouse=True)
def no_epoch_sleep(monkeypatch):
    """mmcv's EpochBasedRunner sleeps 2 s at every epoch start; not needed here."""
    import mmcv.runner.epoch_based_runner as epoch_based_runner
    monkeypatch.setattr(epoch_based_runner.time, 'sleep', lambda seconds: None)


def run_epochs(tmp_path, max_epochs, **hook_kwargs):
    write_val_data(tmp_path)
    val_loader, predictions = make_val_loader(tmp_path)
    model = ScheduledOracle(predictions, num_classes=1)
    calls = []
    dataset = val_loader.dataset
    original_evaluate = dataset.evaluate

    def counting_evaluate(results, **kwargs):
        calls.append(model.epoch + 1)
        return original_evaluate(results, **kwargs)

    dataset.evaluate = counting_evaluate
    runner = EpochBasedRunner(MMDataParallel(model),
                              optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                              work_dir=str(tmp_path / 'work'),
                              logger=logging.getLogger('test_eval_hooks'), max_epochs=max_epochs)
    runner.register_hook(EpochCounter(model), priority='HIGHEST')
    runner.register_hook(EvalHook(val_loader, test_fn=single_gpu_test, metric='bbox',
                                  **hook_kwargs), priority='LOW')
    runner.run([DataLoader(range(2), batch_size=1)], [('train', 1)])
    return runner, calls


def test_interval_two_evaluates_on_even_epochs_and_fills_log_buffer(tmp_path):
    runner, calls = run_epochs(tmp_path, 4, interval=2)
    assert calls == [2, 4]
    assert runner.log_buffer.output['eval_iter_num'] == 3
    assert runner.log_buffer.output['bbox_mAP'] == 0.0  # epoch 4 shifts every box away
    assert runner.log_buffer.ready


def test_start_delays_first_evaluation(tmp_path):
    _, calls = run_epochs(tmp_path, 4, start=3, interval=1)
    assert calls == [3, 4]


def test_save_best_keeps_only_the_best_epoch_checkpoint(tmp_path):
    runner, calls = run_epochs(tmp_path, 3, save_best='bbox_mAP')
    assert calls == [1, 2, 3]
    best = sorted(f for f in os.listdir(tmp_path / 'work') if f.startswith('best_'))
    assert best == ['best_bbox_mAP_epoch_2.pth']
    assert runner.meta['hook_msgs']['best_score'] == 1.0
    assert runner.meta['hook_msgs']['best_ckpt'].endswith('best_bbox_mAP_epoch_2.pth')


def test_bad_arguments_are_refused(tmp_path):
    write_val_data(tmp_path)
    val_loader, _ = make_val_loader(tmp_path)
    with pytest.raises(TypeError, match='DataLoader'):
        EvalHook(val_loader.dataset, test_fn=single_gpu_test)
    with pytest.raises(ValueError, match='interval'):
        EvalHook(val_loader, test_fn=single_gpu_test, interval=0)


def test_an_evaluation_option_the_dataset_does_not_take_is_refused_at_build(tmp_path):
    write_val_data(tmp_path)
    val_loader, _ = make_val_loader(tmp_path)
    for hook_class in (EvalHook, DistEvalHook):
        with pytest.raises(TypeError, match=f"{hook_class.__name__}: evaluation option 'metrc' is "
                                            'not an argument of CocoDataset.evaluate'):
            hook_class(val_loader, test_fn=single_gpu_test, metrc='bbox')


class FakeRunner:
    """The runner attributes DistEvalHook reads."""

    def __init__(self, model, work_dir, rank):
        from mmcv.runner import LogBuffer
        self.model, self.work_dir, self.rank = model, work_dir, rank
        self.epoch, self.meta = 0, dict(hook_msgs=dict())
        self.log_buffer = LogBuffer()
        self.logger = logging.getLogger('test_dist_eval_hook')


def _dist_eval_worker(rank, world_size, port, root):
    from mmdet_lite.utils.dist import MMDistributedDataParallel
    with gloo_process_group(rank, world_size, port):
        val_loader, predictions = make_val_loader(Path(root), dist=True)
        model = ScheduledOracle(predictions, num_classes=1)
        model.bn.running_mean.fill_(float(rank + 1))
        runner = FakeRunner(MMDistributedDataParallel(model), os.path.join(root, 'work'), rank)
        hook = DistEvalHook(val_loader, test_fn=multi_gpu_test, metric='bbox')
        hook._do_evaluate(runner)
        with open(os.path.join(root, f'rank{rank}.pkl'), 'wb') as f:
            pickle.dump(dict(bn_mean=model.bn.running_mean.tolist(),
                             output=dict(runner.log_buffer.output)), f)


def test_dist_eval_hook_broadcasts_bn_and_evaluates_on_rank_zero(tmp_path):
    write_val_data(tmp_path)
    mp.spawn(_dist_eval_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    outcomes = []
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.pkl', 'rb') as f:
            outcomes.append(pickle.load(f))
    assert outcomes[0]['bn_mean'] == outcomes[1]['bn_mean'] == [1.0, 1.0]
    assert outcomes[0]['output']['bbox_mAP'] == 1.0
    assert outcomes[0]['output']['eval_iter_num'] == 2  # 3 images over 2 ranks
    assert outcomes[1]['output'] == {}
