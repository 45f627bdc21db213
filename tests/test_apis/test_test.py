"""single_gpu_test / multi_gpu_test: dataset order, batching, de-padding, 2 gloo processes."""
import os
import pickle

import mmcv
import numpy as np
import pytest
import torch.multiprocessing as mp
from mmcv.parallel import MMDataParallel

from mmdet_lite.apis.test import _interleave, multi_gpu_test, single_gpu_test
from mmdet_lite.datasets import build_dataloader, build_dataset, replace_ImageToTensor
from tests.conftest import free_port, gloo_process_group
from tests.test_datasets.helpers import TEST_PIPELINE, OracleTestDetector, write_coco

NUM_IMAGES = 5


def make_data(root):
    """Five 80x64 images; the oracle answers one box per image whose score is (i + 1) / 10."""
    images = [dict(id=i + 1, file_name=f'{i}.jpg', width=80, height=64)
              for i in range(NUM_IMAGES)]
    annotations = [dict(id=i + 1, image_id=i + 1, category_id=1 + i % 2, bbox=[4 + i, 4, 30, 20],
                        area=600, iscrowd=0) for i in range(NUM_IMAGES)]
    ann = write_coco(root, 'ann.json', 'imgs', images, annotations,
                     [dict(id=1, name='a'), dict(id=2, name='b')])
    predictions = {f'{i}.jpg': [[4 + i, 4, 34 + i, 24, (i + 1) / 10, i % 2]]
                   for i in range(NUM_IMAGES)}
    dataset_cfg = dict(type='CocoDataset', ann_file=str(ann), img_prefix=str(root / 'imgs'),
                       classes=('a', 'b'), pipeline=TEST_PIPELINE, test_mode=True)
    return dataset_cfg, predictions


def scores(results):
    return [round(float(np.vstack(r)[0, 4]), 6) for r in results]


@pytest.mark.parametrize('samples_per_gpu', [1, 2])
def test_single_gpu_test_keeps_dataset_order(tmp_path, samples_per_gpu):
    dataset_cfg, predictions = make_data(tmp_path)
    if samples_per_gpu > 1:
        dataset_cfg['pipeline'] = replace_ImageToTensor(dataset_cfg['pipeline'])
    dataset = build_dataset(dataset_cfg)
    loader = build_dataloader(dataset, samples_per_gpu, 0, dist=False, shuffle=False)
    detector = OracleTestDetector(predictions, num_classes=2)
    detector.train()
    results = single_gpu_test(MMDataParallel(detector), loader)
    assert not detector.training
    assert scores(results) == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert [len(r) for r in results] == [2] * NUM_IMAGES
    assert results[1][1].tolist() == [[5, 4, 35, 24, pytest.approx(0.2)]]
    # 64x80 -> img_scale (64, 48): 48x60, padded to 64x64; batch of 2 then 1
    expected = [(1, 3, 64, 64)] * 5 if samples_per_gpu == 1 else [(2, 3, 64, 64)] * 2 + \
        [(1, 3, 64, 64)]
    assert detector.seen_shapes == expected
    assert dataset.evaluate(results)['bbox_mAP'] == 1.0


def test_single_gpu_test_writes_drawn_images(tmp_path):
    dataset_cfg, predictions = make_data(tmp_path)
    dataset = build_dataset(dataset_cfg)
    loader = build_dataloader(dataset, 1, 0, dist=False, shuffle=False)
    model = MMDataParallel(OracleTestDetector(predictions, num_classes=2))
    single_gpu_test(model, loader, out_dir=str(tmp_path / 'show'), show_score_thr=0.0)
    drawn = mmcv.imread(str(tmp_path / 'show' / '0.jpg'))
    assert drawn.shape == (64, 80, 3)
    assert len(os.listdir(tmp_path / 'show')) == NUM_IMAGES


def test_interleave_undoes_distributed_sampler_split_and_padding():
    # 5 items on 2 ranks: rank 0 gets 0, 2, 4; rank 1 gets 1, 3 and the padding copy of 0
    assert _interleave([[0, 2, 4], [1, 3, 0]], 5) == [0, 1, 2, 3, 4]


def _multi_gpu_worker(rank, world_size, port, dataset_cfg, predictions, out_dir):
    from mmdet_lite.utils.dist import MMDistributedDataParallel
    with gloo_process_group(rank, world_size, port):
        dataset = build_dataset(dataset_cfg)
        loader = build_dataloader(dataset, 1, 0, dist=True, shuffle=False)
        model = MMDistributedDataParallel(OracleTestDetector(predictions, num_classes=2))
        outcome = dict(
            local=len(loader),
            tmpdir_none=multi_gpu_test(model, loader),
            tmpdir_given=multi_gpu_test(model, loader, tmpdir=os.path.join(out_dir, 'collect')),
            in_memory=multi_gpu_test(model, loader, gpu_collect=True),
            tmpdir_left=os.path.exists(os.path.join(out_dir, 'collect')))
        with open(os.path.join(out_dir, f'rank{rank}.pkl'), 'wb') as f:
            pickle.dump(outcome, f)


def test_multi_gpu_test_two_gloo_processes_gather_in_dataset_order(tmp_path):
    dataset_cfg, predictions = make_data(tmp_path)
    mp.spawn(_multi_gpu_worker, args=(2, free_port(), dataset_cfg, predictions, str(tmp_path)),
             nprocs=2, join=True)
    with open(tmp_path / 'rank0.pkl', 'rb') as f:
        rank0 = pickle.load(f)
    with open(tmp_path / 'rank1.pkl', 'rb') as f:
        rank1 = pickle.load(f)
    assert rank0['local'] == rank1['local'] == 3  # 5 images padded to 6 over 2 ranks
    for key in ('tmpdir_none', 'tmpdir_given', 'in_memory'):
        assert scores(rank0[key]) == [0.1, 0.2, 0.3, 0.4, 0.5], key
        assert rank1[key] is None, key
    assert rank0['tmpdir_left'] is False
