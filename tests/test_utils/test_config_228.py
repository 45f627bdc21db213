"""MMDetection 2.28's config helpers: replace_cfg_vals, update_data_root, compat_cfg,
setup_multi_processes, auto_scale_lr, find_latest_checkpoint(path, suffix), get_device."""
import logging
import multiprocessing
import re
import warnings

import cv2
import pytest
from mmcv import Config

import mmdet_lite
from mmdet_lite.apis.train import auto_scale_lr
from mmdet_lite.utils import (compat_cfg, find_latest_checkpoint, get_device, replace_cfg_vals,
                              setup_multi_processes, update_data_root)
from mmdet_lite.utils.compat_config import ConfigConflictError
from mmdet_lite.utils.seed import sync_random_seed


# replace_cfg_vals

def test_whole_string_reference_takes_the_value_and_its_type():
    cfg = replace_cfg_vals(Config(dict(n=3, box=(1, 2), a=dict(n='${n}', box='${box}'))))
    assert cfg.a.n == 3 and cfg.a.box == (1, 2)


def test_references_inside_strings_nested_dicts_lists_and_tuples():
    cfg = replace_cfg_vals(Config(dict(
        name='r50', fold=1, data=dict(root='data/${name}/'),
        work_dir='work_dirs/${name}_${fold}', files=['${data.root}a.json', ('${fold}',)])))
    assert cfg.work_dir == 'work_dirs/r50_1'
    assert cfg.files == ['data/r50/a.json', (1,)]


def test_a_reference_to_a_dict_copies_it_and_chains_resolve():
    cfg = replace_cfg_vals(Config(dict(size=4, model=dict(k='${size}'), wrapper=dict(m='${model}'))))
    assert cfg.wrapper.m == dict(k=4)


def test_model_wrapper_replaces_model():
    cfg = replace_cfg_vals(Config(dict(model=dict(type='A'), model_wrapper=dict(detector='${model}'))))
    assert cfg.model == dict(detector=dict(type='A')) and 'model_wrapper' not in cfg


def test_missing_key_is_named():
    with pytest.raises(KeyError, match=r"\$\{a.c\}: a has no key 'c'"):
        replace_cfg_vals(Config(dict(a=dict(b=1), x='${a.c}')))


def test_a_dict_inside_a_longer_string_is_a_type_error():
    with pytest.raises(TypeError, match=r'\$\{a\} inside the string'):
        replace_cfg_vals(Config(dict(a=dict(b=1), x='pre_${a}')))


def test_a_cycle_is_named():
    with pytest.raises(ValueError, match=re.escape('${b} -> ${a} -> ${b}')):
        replace_cfg_vals(Config(dict(a='${b}', b='x${a}', c='${a}')))


# update_data_root (MMDET_DATASETS)

def _data_cfg():
    return Config(dict(data_root='data/coco/', data=dict(
        train=dict(ann_file='data/coco/ann/train.json', img_prefix='data/coco/train/'),
        test=[dict(ann_file=['data/coco/a.json', 'other/b.json'])])))


def test_mmdet_datasets_replaces_the_data_root_everywhere_in_data(monkeypatch):
    monkeypatch.setenv('MMDET_DATASETS', '/mnt/coco/')
    cfg = _data_cfg()
    update_data_root(cfg)
    assert cfg.data_root == '/mnt/coco/'
    assert cfg.data.train == dict(ann_file='/mnt/coco/ann/train.json', img_prefix='/mnt/coco/train/')
    assert cfg.data.test[0].ann_file == ['/mnt/coco/a.json', 'other/b.json']


def test_without_mmdet_datasets_nothing_changes(monkeypatch):
    monkeypatch.delenv('MMDET_DATASETS', raising=False)
    cfg = _data_cfg()
    update_data_root(cfg)
    assert cfg.to_dict() == _data_cfg().to_dict()


def test_mmdet_datasets_without_a_data_root_is_an_error(monkeypatch):
    monkeypatch.setenv('MMDET_DATASETS', '/mnt/coco/')
    with pytest.raises(KeyError, match='no data_root'):
        update_data_root(Config(dict(data=dict(train=dict(ann_file='a.json')))))


# compat_cfg

def _compat(**data):
    data.setdefault('val', dict(type='V'))
    data.setdefault('test', dict(type='T'))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        cfg = compat_cfg(Config(dict(data=data, runner=dict(type='EpochBasedRunner', max_epochs=1))))
    return cfg.data, [str(w.message) for w in caught]


def test_data_samples_and_persistent_workers_move_to_the_train_loader():
    data, messages = _compat(samples_per_gpu=4, persistent_workers=True)
    assert data.train_dataloader == dict(samples_per_gpu=4, persistent_workers=True)
    assert 'samples_per_gpu' not in data and 'persistent_workers' not in data
    assert sum('will be deprecated' in m for m in messages) == 2


def test_data_workers_per_gpu_goes_to_all_three_loaders_and_wins():
    data, _ = _compat(workers_per_gpu=3, train_dataloader=dict(workers_per_gpu=0))
    assert [data[name].workers_per_gpu for name in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')] == [3, 3, 3]


def test_val_and_test_samples_per_gpu_move_to_their_loaders():
    data, _ = _compat(val=dict(type='V', samples_per_gpu=2), test=dict(type='T', samples_per_gpu=3))
    assert data.val_dataloader.samples_per_gpu == 2 and 'samples_per_gpu' not in data.val
    assert data.test_dataloader.samples_per_gpu == 3 and 'samples_per_gpu' not in data.test


def test_a_list_of_test_sets_gives_the_largest_samples_per_gpu():
    data, _ = _compat(test=[dict(samples_per_gpu=2), dict(), dict(samples_per_gpu=5)])
    assert data.test_dataloader.samples_per_gpu == 5
    assert all('samples_per_gpu' not in ds for ds in data.test)


def test_loader_dicts_alone_are_kept():
    data, messages = _compat(train_dataloader=dict(samples_per_gpu=4))
    assert data.train_dataloader == dict(samples_per_gpu=4)
    assert data.val_dataloader == {} and data.test_dataloader == {} and not messages


@pytest.mark.parametrize('data, where', [
    (dict(samples_per_gpu=2, train_dataloader=dict(samples_per_gpu=4)), '`data` (2)'),
    (dict(persistent_workers=True, train_dataloader=dict(persistent_workers=False)), '`data` (True)'),
    (dict(val=dict(samples_per_gpu=2), val_dataloader=dict(samples_per_gpu=1)), '`data.val` (2)'),
    (dict(test=dict(samples_per_gpu=2), test_dataloader=dict(samples_per_gpu=1)), '`data.test` (2)'),
    (dict(test=[dict(samples_per_gpu=2)], test_dataloader=dict(samples_per_gpu=1)), '`data.test` (2)'),
])
def test_a_setting_in_both_places_is_an_error(data, where):
    with pytest.raises(ConfigConflictError, match=re.escape(f'is set in {where}')):
        _compat(**data)


def test_imgs_per_gpu_wins_over_samples_per_gpu_with_a_warning():
    data, messages = _compat(imgs_per_gpu=3, samples_per_gpu=2)
    assert data.train_dataloader.samples_per_gpu == 3
    assert any('"imgs_per_gpu"=3 is used' in m for m in messages)


def test_total_epochs_becomes_the_runner_and_the_input_is_not_changed():
    cfg = Config(dict(data=dict(samples_per_gpu=1, val={}, test={}), total_epochs=3))
    with pytest.warns(UserWarning):
        compat = compat_cfg(cfg)
    assert compat.runner == dict(type='EpochBasedRunner', max_epochs=3)
    assert 'runner' not in cfg and cfg.data.samples_per_gpu == 1


def test_total_epochs_disagreeing_with_the_runner_is_an_error():
    with pytest.raises(ValueError, match=r'total_epochs \(3\) and runner.max_epochs \(2\)'):
        compat_cfg(Config(dict(data=dict(val={}, test={}), total_epochs=3,
                               runner=dict(type='EpochBasedRunner', max_epochs=2))))


# setup_multi_processes

@pytest.fixture
def process_settings_kept(monkeypatch):
    start_method, threads = multiprocessing.get_start_method(allow_none=True), cv2.getNumThreads()
    for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        monkeypatch.delenv(name, raising=False)
    yield
    multiprocessing.set_start_method(start_method, force=True)
    cv2.setNumThreads(threads)


def test_start_method_opencv_threads_and_thread_variables(process_settings_kept, monkeypatch):
    monkeypatch.setenv('MKL_NUM_THREADS', '4')  # set by the user: kept
    cfg = Config(dict(mp_start_method='forkserver', opencv_num_threads=3,
                      data=dict(train_dataloader=dict(workers_per_gpu=2))))
    with pytest.warns(UserWarning, match='Setting OMP_NUM_THREADS environment variable'):
        notes = setup_multi_processes(cfg)
    assert multiprocessing.get_start_method() == 'forkserver' and cv2.getNumThreads() == 3
    assert notes == {'mp_start_method': 'forkserver', 'cv2.getNumThreads()': '3',
                     'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '4'}


def test_defaults_fork_no_opencv_threads_and_one_worker_leaves_the_variables(process_settings_kept):
    notes = setup_multi_processes(Config(dict(data=dict(workers_per_gpu=1))))
    assert notes == {'mp_start_method': 'fork', 'cv2.getNumThreads()': '1',
                     'OMP_NUM_THREADS': 'unset', 'MKL_NUM_THREADS': 'unset'}


def test_changing_a_set_start_method_warns(process_settings_kept):
    multiprocessing.set_start_method('fork', force=True)
    with pytest.warns(UserWarning, match='`spawn` is different from the previous setting `fork`'):
        setup_multi_processes(Config(dict(mp_start_method='spawn', data=dict())))


# auto_scale_lr

def _scale(num_processes, samples_per_gpu, base_batch_size, distributed, monkeypatch, caplog):
    import mmdet_lite.apis.train as train_api
    monkeypatch.setattr(train_api, 'get_dist_info', lambda: (0, num_processes))
    cfg = Config(dict(optimizer=dict(lr=0.02), gpu_ids=range(1 if distributed else num_processes),
                      auto_scale_lr=dict(enable=True, base_batch_size=base_batch_size),
                      data=dict(train_dataloader=dict(samples_per_gpu=samples_per_gpu))))
    logger = logging.getLogger('test_auto_scale_lr')
    with caplog.at_level(logging.INFO, logger='test_auto_scale_lr'):
        auto_scale_lr(cfg, distributed, logger)
    return cfg.optimizer.lr, caplog.text


def test_one_gpu_two_samples_scale_to_an_eighth(monkeypatch, caplog):
    lr, log = _scale(1, 2, 16, False, monkeypatch, caplog)
    assert lr == 0.0025  # 0.02 x (1 x 2) / 16
    assert 'LR has been automatically scaled from 0.02 to 0.0025' in log


def test_eight_ranks_of_two_match_the_base(monkeypatch, caplog):
    lr, log = _scale(8, 2, 16, True, monkeypatch, caplog)
    assert lr == 0.02
    assert 'The batch size match the base batch size: 16, will not scaling the LR (0.02).' in log


# find_latest_checkpoint, get_device, digit_version, sync_random_seed

def test_find_latest_checkpoint_takes_the_suffix(tmp_path):
    import torch
    for name in ('epoch_2.pt', 'epoch_10.pt', 'epoch_11.pth'):
        torch.save({'state_dict': {}}, tmp_path / name)
    assert find_latest_checkpoint(str(tmp_path), suffix='pt') == str(tmp_path / 'epoch_10.pt')
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_11.pth')
    assert find_latest_checkpoint(str(tmp_path / 'missing')) is None


def test_get_device_digit_version_and_a_single_process_seed():
    assert get_device() == 'cpu'  # the test machines have no CUDA
    assert mmdet_lite.digit_version('2.28.2') > mmdet_lite.digit_version('2.28.0rc1')
    assert sync_random_seed(7) == 7
