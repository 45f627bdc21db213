"""FastRCNN on tiny CPU inputs with given proposals, its config, and proposals read from a
``proposal_file`` through ``LoadProposals``."""
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmcv import Config
from mmcv.parallel import MMDataParallel

from mmdet_lite.apis import single_gpu_test
from mmdet_lite.datasets import CustomDataset, build_dataloader, build_dataset
from mmdet_lite.models import build_detector
from tests.test_datasets.helpers import write_coco

CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'fast_rcnn' / 'fast_rcnn_r50_fpn_1x_coco.py'


@pytest.fixture(scope='module')
def tiny_fast_rcnn():
    """ResNet-18 with 8 base channels, a 16-channel FPN, 3 classes."""
    torch.manual_seed(0)
    cfg = Config.fromfile(str(CONFIG)).model
    cfg.backbone.update(depth=18, base_channels=8, init_cfg=None, frozen_stages=-1, norm_eval=False)
    cfg.neck.update(in_channels=[8, 16, 32, 64], out_channels=16)
    cfg.roi_head.bbox_roi_extractor.out_channels = 16
    cfg.roi_head.bbox_head.update(in_channels=16, fc_out_channels=32, num_classes=3)
    model = build_detector(cfg)
    model.init_weights()
    return model


def _metas(num_imgs):
    shape = (64, 64, 3)
    return [dict(img_shape=shape, pad_shape=shape, ori_shape=shape, scale_factor=np.ones(4, np.float32), flip=False,
                 flip_direction=None) for _ in range(num_imgs)]


def test_train_step_on_given_proposals_gives_finite_rcnn_losses(tiny_fast_rcnn):
    tiny_fast_rcnn.train()
    proposals = [torch.tensor([[8., 8., 40., 40.], [10., 12., 44., 38.]]), torch.tensor([[0., 0., 30., 30., 0.9]])]
    data = dict(img=torch.randn(2, 3, 64, 64), img_metas=_metas(2), proposals=proposals,
                gt_bboxes=[torch.tensor([[8., 10., 40., 40.]]), torch.tensor([[2., 0., 30., 28.]])],
                gt_labels=[torch.tensor([0]), torch.tensor([2])])
    out = tiny_fast_rcnn.train_step(data, None)
    assert list(out['log_vars']) == ['loss_cls', 'acc', 'loss_bbox', 'loss']
    assert all(np.isfinite(v) for v in out['log_vars'].values())
    assert not tiny_fast_rcnn.with_rpn


def test_simple_test_on_given_proposals_gives_per_class_arrays(tiny_fast_rcnn):
    tiny_fast_rcnn.eval()
    proposals = [[torch.tensor([[8., 8., 40., 40.], [20., 20., 60., 50.]])]]
    with torch.no_grad():
        result = tiny_fast_rcnn(img=[torch.randn(1, 3, 64, 64)], img_metas=[_metas(1)], proposals=proposals,
                                return_loss=False, rescale=True)
    assert len(result) == 1 and len(result[0]) == 3
    assert all(dets.dtype == np.float32 and dets.shape[1] == 5 for dets in result[0])


def test_test_without_proposals_says_where_they_come_from(tiny_fast_rcnn):
    with pytest.raises(ValueError, match='proposal_file'):
        tiny_fast_rcnn(img=[torch.randn(1, 3, 64, 64)], img_metas=[_metas(1)], return_loss=False)


def test_config_loads_proposals_from_the_dataset():
    cfg = Config.fromfile(str(CONFIG))
    assert cfg.model.type == 'FastRCNN' and 'rpn_head' not in cfg.model
    assert cfg.data.train.proposal_file == 'data/coco/proposals/rpn_r50_fpn_1x_train2017.pkl'
    assert cfg.data.train.pipeline[1] == dict(type='LoadProposals', num_max_proposals=2000)
    assert cfg.data.test.pipeline[2].transforms[-2] == dict(type='ToDataContainer',
                                                            fields=[dict(key='proposals', stack=False)])


def test_proposal_file_rows_reach_the_batch_through_load_proposals(tmp_path):
    mmcv.imwrite(np.zeros((48, 64, 3), np.uint8), str(tmp_path / 'a.jpg'))
    mmcv.dump([dict(filename='a.jpg', width=64, height=48,
                    ann=dict(bboxes=np.array([[1., 2., 30., 40.]], np.float32), labels=np.array([0])))],
              str(tmp_path / 'ann.pkl'))
    mmcv.dump([np.array([[4., 4., 20., 20., .9], [0., 0., 10., 10., .8], [5., 5., 9., 9., .1]], np.float32)],
              str(tmp_path / 'proposals.pkl'))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadProposals', num_max_proposals=2),
                dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', img_scale=(128, 96), keep_ratio=True), dict(type='RandomFlip', flip_ratio=0.0),
                dict(type='DefaultFormatBundle'),
                dict(type='Collect', keys=['img', 'proposals', 'gt_bboxes', 'gt_labels'])]
    dataset = CustomDataset(ann_file=str(tmp_path / 'ann.pkl'), pipeline=pipeline, img_prefix=str(tmp_path),
                            proposal_file=str(tmp_path / 'proposals.pkl'), classes=('thing', ), filter_empty_gt=False)
    proposals = dataset[0]['proposals'].data
    torch.testing.assert_close(proposals, torch.tensor([[8., 8., 40., 40.], [0., 0., 20., 20.]]))


def test_single_gpu_test_with_the_configs_proposal_test_pipeline(tiny_fast_rcnn, tmp_path):
    images = [dict(id=i + 1, file_name=f'{i}.jpg', width=80, height=64) for i in range(2)]
    annotations = [dict(id=i + 1, image_id=i + 1, category_id=1, bbox=[4 + i, 4, 30, 20], area=600, iscrowd=0)
                   for i in range(2)]
    ann = write_coco(tmp_path, 'ann.json', 'imgs', images, annotations,
                     [dict(id=1, name='a'), dict(id=2, name='b'), dict(id=3, name='c')])
    mmcv.dump([np.array([[4., 4., 34., 24., .9], [10., 10., 60., 50., .5]], np.float32)] * 2,
              str(tmp_path / 'proposals.pkl'))
    pipeline = Config.fromfile(str(CONFIG)).data.test.pipeline
    pipeline[2].img_scale = (64, 48)
    dataset = build_dataset(dict(type='CocoDataset', ann_file=str(ann), img_prefix=str(tmp_path / 'imgs'),
                                 classes=('a', 'b', 'c'), pipeline=pipeline, test_mode=True,
                                 proposal_file=str(tmp_path / 'proposals.pkl')))
    loader = build_dataloader(dataset, 1, 0, dist=False, shuffle=False)
    results = single_gpu_test(MMDataParallel(tiny_fast_rcnn), loader)
    assert len(results) == 2 and all(len(r) == 3 for r in results)
