"""The RPN detector and its R50-FPN config on tiny CPU inputs: losses, proposals, aug test, config."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmcv import Config
from mmcv.parallel import MMDataParallel

from mmdet_lite.apis import single_gpu_test
from mmdet_lite.datasets import build_dataloader, build_dataset
from mmdet_lite.models import build_detector
from tests.test_datasets.helpers import TEST_PIPELINE, write_coco

CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'rpn' / 'rpn_r50_fpn_1x_coco.py'


def _tiny_rpn(seed: int = 0):
    """ResNet-18 with 8 base channels, a 16-channel FPN: the R50 config's RPN at a fraction of the cost."""
    torch.manual_seed(seed)
    cfg = Config.fromfile(str(CONFIG)).model
    cfg.backbone.update(depth=18, base_channels=8, init_cfg=None, frozen_stages=-1, norm_eval=False)
    cfg.neck.update(in_channels=[8, 16, 32, 64], out_channels=16)
    cfg.rpn_head.update(in_channels=16, feat_channels=16)
    model = build_detector(cfg)
    model.init_weights()
    return model


def _metas(num_imgs: int, scale: float = 1.0, flip: bool = False):
    ori = (int(64 / scale), int(64 / scale), 3)
    return [dict(img_shape=(64, 64, 3), pad_shape=(64, 64, 3), ori_shape=ori, flip=flip,
                 flip_direction='horizontal' if flip else None,
                 scale_factor=np.array([scale] * 4, dtype=np.float32)) for _ in range(num_imgs)]


@pytest.fixture(scope='module')
def tiny_rpn():
    return _tiny_rpn()


def test_train_step_gives_finite_rpn_losses_with_mmdetection_keys(tiny_rpn):
    tiny_rpn.train()
    torch.manual_seed(1)
    data = dict(img=torch.randn(2, 3, 64, 64), img_metas=_metas(2),
                gt_bboxes=[torch.tensor([[8., 10., 40., 50.]]), torch.tensor([[20., 4., 60., 30.], [0., 0., 16., 16.]])])
    losses = tiny_rpn(**data)
    assert list(losses) == ['loss_rpn_cls', 'loss_rpn_bbox']
    assert len(losses['loss_rpn_cls']) == 5
    out = tiny_rpn.train_step(data, None)
    assert set(out['log_vars']) == {'loss_rpn_cls', 'loss_rpn_bbox', 'loss'}
    assert all(np.isfinite(v) for v in out['log_vars'].values()) and out['log_vars']['loss_rpn_bbox'] > 0
    out['loss'].backward()
    assert torch.isfinite(tiny_rpn.rpn_head.rpn_reg.weight.grad).all()


def test_simple_test_gives_per_image_float32_proposals_rescaled_to_the_original_image(tiny_rpn):
    tiny_rpn.eval()
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        resized = tiny_rpn(img=[img], img_metas=[_metas(2)], return_loss=False)
        original = tiny_rpn(img=[img], img_metas=[_metas(2, scale=0.5)], return_loss=False, rescale=True)
    assert len(resized) == 2
    for proposals in resized:
        assert isinstance(proposals, np.ndarray) and proposals.dtype == np.float32
        assert proposals.ndim == 2 and proposals.shape[1] == 5 and 0 < len(proposals) <= 1000
        assert (np.diff(proposals[:, 4]) <= 0).all()
        assert proposals[:, :4].min() >= 0 and proposals[:, :4].max() <= 64
    np.testing.assert_allclose(original[0][:, :4], resized[0][:, :4] * 2, rtol=1e-6)


def test_aug_test_with_one_flipped_view_merges_into_one_array_per_image(tiny_rpn):
    tiny_rpn.eval()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        result = tiny_rpn(img=[img, img.flip(-1)], img_metas=[_metas(1), _metas(1, flip=True)], return_loss=False,
                          rescale=True)
    assert len(result) == 1 and result[0].shape[1] == 5 and result[0].dtype == np.float32


def test_rpn_config_has_mmdetection_pipeline_and_proposal_evaluation():
    cfg = Config.fromfile(str(CONFIG))
    assert cfg.model.type == 'RPN' and 'roi_head' not in cfg.model
    assert cfg.data.train.pipeline[1] == dict(type='LoadAnnotations', with_bbox=True, with_label=False)
    assert cfg.data.train.pipeline[-1] == dict(type='Collect', keys=['img', 'gt_bboxes'])
    assert cfg.evaluation == dict(interval=1, metric='proposal_fast')
    assert cfg.model.train_cfg.rpn.allowed_border == 0
    assert cfg.model.test_cfg.rpn == dict(nms_pre=2000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
                                          min_bbox_size=0)


def test_rpn_proposals_through_single_gpu_test_evaluate_as_ar_at_100_300_1000(tiny_rpn, tmp_path):
    images = [dict(id=i + 1, file_name=f'{i}.jpg', width=80, height=64) for i in range(2)]
    annotations = [dict(id=i + 1, image_id=i + 1, category_id=1, bbox=[4 + i, 4, 30, 20], area=600, iscrowd=0)
                   for i in range(2)]
    ann = write_coco(tmp_path, 'ann.json', 'imgs', images, annotations, [dict(id=1, name='a')])
    dataset = build_dataset(dict(type='CocoDataset', ann_file=str(ann), img_prefix=str(tmp_path / 'imgs'),
                                 classes=('a', ), pipeline=TEST_PIPELINE, test_mode=True))
    loader = build_dataloader(dataset, 1, 0, dist=False, shuffle=False)
    results = single_gpu_test(MMDataParallel(tiny_rpn), loader)
    assert len(results) == 2 and all(r.ndim == 2 and r.shape[1] == 5 for r in results)
    # rescale=True: boxes in the 80x64 original image, not the 64x51 resized one
    assert all(r[:, [0, 2]].max() <= 80 and r[:, [1, 3]].max() <= 64 for r in results)
    metrics = dataset.evaluate(results, metric='proposal_fast')
    assert list(metrics) == ['AR@100', 'AR@300', 'AR@1000']
    assert all(0 <= v <= 1 for v in metrics.values())
