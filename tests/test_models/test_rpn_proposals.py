"""RPNHead.get_bboxes (all images and levels at once) against a per-image, per-level loop reference."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv import Config, ConfigDict

from mmdet_lite.core.bbox import LegacyDeltaXYWHBBoxCoder
from mmdet_lite.core.post_processing import batched_nms
from mmdet_lite.models import build_head

BASE_MODEL = osp.join(osp.dirname(__file__), '..', '..', 'configs', '_base_', 'models', 'faster_rcnn_r50_fpn.py')
# levels of a 64 x 96 padded batch: strides 4..64, 3 anchors per location -> 1152, 288, 72, 18, 6 anchors
FEATMAP_SIZES = [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]
IMG_SHAPES = [(64, 96, 3), (50, 81, 3), (37, 64, 3)]


def _reference_proposals(head, cls_scores, bbox_preds, img_metas, cfg, rescale=False):
    """The previous per-image algorithm, written as plain loops over images and levels."""
    mlvl_priors = head.prior_generator.grid_priors([c.shape[-2:] for c in cls_scores], device='cpu')
    # the sigmoid of a whole level (as before): a vectorised kernel may differ from the scalar one by an ulp
    mlvl_scores = [c.permute(0, 2, 3, 1).reshape(len(img_metas), -1).sigmoid() for c in cls_scores]
    results = []
    for img_id, img_meta in enumerate(img_metas):
        scores, deltas, anchors, level_ids = [], [], [], []
        for level, priors in enumerate(mlvl_priors):
            level_scores = mlvl_scores[level][img_id]
            level_deltas = bbox_preds[level][img_id].permute(1, 2, 0).reshape(-1, 4)
            level_anchors = priors
            if 0 < cfg['nms_pre'] < level_scores.numel():
                level_scores, inds = level_scores.topk(cfg['nms_pre'])
                level_deltas, level_anchors = level_deltas[inds], level_anchors[inds]
            scores.append(level_scores)
            deltas.append(level_deltas)
            anchors.append(level_anchors)
            level_ids.append(torch.full((level_scores.numel(), ), level))
        scores, level_ids = torch.cat(scores), torch.cat(level_ids)
        proposals = head.bbox_coder.decode(torch.cat(anchors), torch.cat(deltas), max_shape=img_meta['img_shape'])
        if cfg['min_bbox_size'] >= 0:
            valid = ((proposals[:, 2] - proposals[:, 0] > cfg['min_bbox_size'])
                     & (proposals[:, 3] - proposals[:, 1] > cfg['min_bbox_size']))
            proposals, scores, level_ids = proposals[valid], scores[valid], level_ids[valid]
        if proposals.numel() == 0:
            results.append(torch.zeros(0, 5))
            continue
        dets = batched_nms(proposals, scores, level_ids, cfg['nms'])[0][:cfg['max_per_img']]
        if rescale:
            dets[:, :4] = dets[:, :4] / torch.tensor(img_meta['scale_factor'])
        results.append(dets)
    return results


def _head(**kwargs):
    return build_head(dict(type='RPNHead', in_channels=1, feat_channels=1, **kwargs))


def _inputs(seed=0, img_shapes=IMG_SHAPES):
    generator = torch.Generator().manual_seed(seed)
    num_imgs = len(img_shapes)
    cls_scores = [torch.randn(num_imgs, 3, h, w, generator=generator) * 2 for h, w in FEATMAP_SIZES]
    bbox_preds = [torch.randn(num_imgs, 12, h, w, generator=generator) * 0.5 for h, w in FEATMAP_SIZES]
    img_metas = [dict(img_shape=shape, pad_shape=(64, 96, 3), scale_factor=np.array([1.5, 1.25, 1.5, 1.25]) * (i + 1),
                      flip=False) for i, shape in enumerate(img_shapes)]
    return cls_scores, bbox_preds, img_metas


def _assert_same(results, expected):
    assert len(results) == len(expected)
    for dets, expected_dets in zip(results, expected):
        assert dets.shape == expected_dets.shape
        assert torch.equal(dets, expected_dets)


def _base_rpn_cfgs():
    model = Config.fromfile(BASE_MODEL).model
    return model.train_cfg.rpn_proposal, model.test_cfg.rpn


@pytest.mark.parametrize('images_at_once', [True, False])
@pytest.mark.parametrize('cfg_name', ['rpn_proposal', 'test'])
def test_base_config_proposals_match_per_image_reference(images_at_once, cfg_name):
    # train: nms_pre=2000 above every level; test: nms_pre=1000 cuts only level 0 (1152 anchors)
    cfg = dict(zip(['rpn_proposal', 'test'], _base_rpn_cfgs()))[cfg_name]
    head = _head()
    head.nms_images_at_once = images_at_once
    cls_scores, bbox_preds, img_metas = _inputs()
    results = head.get_bboxes(cls_scores, bbox_preds, img_metas=img_metas, cfg=cfg)
    expected = _reference_proposals(head, cls_scores, bbox_preds, img_metas, cfg)
    _assert_same(results, expected)
    # NMS removed boxes, and the three clip shapes differ
    assert all(0 < len(dets) < 1536 for dets in results)
    assert [dets[:, 2].max() <= shape[1] for dets, shape in zip(results, IMG_SHAPES)] == [True] * 3


@pytest.mark.parametrize('images_at_once', [True, False])
@pytest.mark.parametrize('cfg', [
    dict(nms_pre=100, max_per_img=40, nms=dict(type='nms', iou_threshold=0.6), min_bbox_size=6),
    dict(nms_pre=50, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=-1),
    dict(nms_pre=-1, max_per_img=300, nms=dict(type='nms', iou_threshold=0.5, max_num=70), min_bbox_size=0),
    dict(nms_pre=80, max_per_img=200, nms=dict(type='nms', iou_threshold=0.7, class_agnostic=True), min_bbox_size=2),
])
def test_proposals_match_reference_with_size_filter_caps_and_rescale(images_at_once, cfg):
    head = _head()
    head.nms_images_at_once = images_at_once
    cls_scores, bbox_preds, img_metas = _inputs(seed=1)
    results = head.get_bboxes(cls_scores, bbox_preds, img_metas=img_metas, cfg=ConfigDict(cfg), rescale=True)
    _assert_same(results, _reference_proposals(head, cls_scores, bbox_preds, img_metas, cfg, rescale=True))


@pytest.mark.parametrize('images_at_once', [True, False])
def test_image_whose_boxes_are_all_too_small_gets_no_proposals(images_at_once):
    head = _head()
    head.nms_images_at_once = images_at_once
    cls_scores, bbox_preds, img_metas = _inputs(seed=2, img_shapes=[(64, 96, 3), (5, 96, 3), (64, 96, 3)])
    cfg = dict(nms_pre=100, max_per_img=60, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=5)
    results = head.get_bboxes(cls_scores, bbox_preds, img_metas=img_metas, cfg=cfg)
    assert results[1].shape == (0, 5) and len(results[0]) == len(results[2]) == 60
    _assert_same(results, _reference_proposals(head, cls_scores, bbox_preds, img_metas, cfg))


def test_legacy_coder_proposals_match_reference():
    head = _head(bbox_coder=dict(type='LegacyDeltaXYWHBBoxCoder'))
    cls_scores, bbox_preds, img_metas = _inputs(seed=3)
    cfg = dict(nms_pre=100, max_per_img=50, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)
    results = head.get_bboxes(cls_scores, bbox_preds, img_metas=img_metas, cfg=cfg)
    _assert_same(results, _reference_proposals(head, cls_scores, bbox_preds, img_metas, cfg))


def test_legacy_decode_batched_with_per_image_shapes_equals_per_image_decode():
    coder = LegacyDeltaXYWHBBoxCoder(target_stds=(0.1, 0.1, 0.2, 0.2))
    generator = torch.Generator().manual_seed(4)
    xy = torch.rand(2, 30, 2, generator=generator) * 60
    rois = torch.cat([xy, xy + torch.rand(2, 30, 2, generator=generator) * 40], dim=-1)
    deltas = torch.randn(2, 30, 8, generator=generator)
    shapes = [(50, 70, 3), (64, 40, 3)]
    batched = coder.decode(rois, deltas, max_shape=torch.tensor([s[:2] for s in shapes]))
    for img_id, shape in enumerate(shapes):
        assert torch.equal(batched[img_id], coder.decode(rois[img_id], deltas[img_id], max_shape=shape))
    with pytest.raises(ValueError, match='per-image max_shape'):
        coder.decode(rois, deltas, max_shape=torch.tensor([[50, 70]] * 3))


@pytest.mark.parametrize('images_at_once', [True, False])
def test_no_valid_box_in_any_image_gives_empty_proposals(images_at_once):
    head = _head()
    head.nms_images_at_once = images_at_once
    cls_scores, bbox_preds, img_metas = _inputs(seed=5)
    cfg = dict(nms_pre=20, max_per_img=10, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=100)
    results = head.get_bboxes(cls_scores, bbox_preds, img_metas=img_metas, cfg=cfg)
    assert [dets.shape for dets in results] == [(0, 5)] * 3
