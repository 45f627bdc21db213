import numpy as np
import pytest
import torch

from mmdet_lite.core.bbox import (bbox2result, bbox2roi, bbox_cxcywh_to_xyxy, bbox_flip, boxes2roi,
                                  bbox_mapping, bbox_mapping_back, bbox_xyxy_to_cxcywh, roi2bbox)
from mmdet_lite.core.post_processing import (merge_aug_bboxes, merge_aug_proposals,
                                             merge_aug_scores)

BOXES = torch.tensor([[1., 2., 5., 8.], [0., 0., 10., 4.]])


def test_bbox_flip_hand_numbers_and_involution():
    img_shape = (20, 30, 3)
    torch.testing.assert_close(bbox_flip(BOXES, img_shape),
                               torch.tensor([[25., 2., 29., 8.], [20., 0., 30., 4.]]))
    torch.testing.assert_close(bbox_flip(BOXES, img_shape, 'vertical'),
                               torch.tensor([[1., 12., 5., 18.], [0., 16., 10., 20.]]))
    torch.testing.assert_close(bbox_flip(BOXES, img_shape, 'diagonal'),
                               torch.tensor([[25., 12., 29., 18.], [20., 16., 30., 20.]]))
    class_specific = BOXES.repeat(1, 2)
    torch.testing.assert_close(bbox_flip(bbox_flip(class_specific, img_shape), img_shape),
                               class_specific)
    with pytest.raises(ValueError, match='direction'):
        bbox_flip(BOXES, img_shape, 'sideways')


def test_bbox_mapping_round_trip():
    scale = np.array([2., 1.5, 2., 1.5], dtype=np.float32)
    mapped = bbox_mapping(BOXES, (30, 60, 3), scale, flip=True)
    torch.testing.assert_close(mapped[0], torch.tensor([50., 3., 58., 12.]))
    torch.testing.assert_close(bbox_mapping_back(mapped, (30, 60, 3), scale, flip=True), BOXES)


def test_bbox2roi_and_roi2bbox_round_trip():
    second = torch.tensor([[3., 3., 4., 4., 0.9]])  # score column dropped
    rois = bbox2roi([BOXES, torch.zeros(0, 4), second])
    assert rois.shape == (3, 5)
    assert rois[:, 0].tolist() == [0., 0., 2.]
    torch.testing.assert_close(rois[2], torch.tensor([2., 3., 3., 4., 4.]))
    back = roi2bbox(rois)
    assert len(back) == 2
    torch.testing.assert_close(back[0], BOXES)
    torch.testing.assert_close(back[1], second[:, :4])
    assert bbox2roi([torch.zeros(0, 4)]).shape == (0, 5)


def test_boxes2roi_numbers_images_by_their_counts():
    rois = boxes2roi(torch.arange(24.).view(6, 4), [2, 0, 3, 1])
    assert rois[:, 0].tolist() == [0., 0., 2., 2., 2., 3.]
    assert torch.equal(rois[:, 1:], torch.arange(24.).view(6, 4))
    with pytest.raises(ValueError, match='must sum to the 6 boxes'):
        boxes2roi(torch.zeros(6, 4), [2, 3])


def test_bbox2result_splits_per_class():
    dets = torch.tensor([[0., 0., 1., 1., 0.9], [1., 1., 2., 2., 0.8], [2., 2., 3., 3., 0.7]])
    labels = torch.tensor([2, 0, 2])
    result = bbox2result(dets, labels, 4)
    assert len(result) == 4 and all(r.dtype == np.float32 for r in result)
    assert [r.shape for r in result] == [(1, 5), (0, 5), (2, 5), (0, 5)]
    np.testing.assert_allclose(result[2][:, 4], [0.9, 0.7])
    empty = bbox2result(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long), 3)
    assert [r.shape for r in empty] == [(0, 5)] * 3
    with pytest.raises(ValueError, match='labels'):
        bbox2result(dets, torch.tensor([0, 4, 1]), 4)


def test_cxcywh_conversions_round_trip():
    torch.testing.assert_close(bbox_xyxy_to_cxcywh(BOXES),
                               torch.tensor([[3., 5., 4., 6.], [5., 2., 10., 4.]]))
    torch.testing.assert_close(bbox_cxcywh_to_xyxy(bbox_xyxy_to_cxcywh(BOXES)), BOXES)


def test_merge_aug_bboxes_undoes_flip_and_scale():
    meta_plain = [dict(img_shape=(20, 30, 3), scale_factor=1.0, flip=False,
                       flip_direction=None)]
    meta_flip = [dict(img_shape=(40, 60, 3), scale_factor=2.0, flip=True,
                      flip_direction='horizontal')]
    flipped = bbox_mapping(BOXES, (40, 60, 3), 2.0, flip=True)
    scores = [torch.tensor([[0.2, 0.8]]).repeat(2, 1), torch.tensor([[0.4, 0.6]]).repeat(2, 1)]
    bboxes, merged_scores = merge_aug_bboxes([BOXES, flipped], scores, [meta_plain, meta_flip],
                                             None)
    torch.testing.assert_close(bboxes, BOXES)
    torch.testing.assert_close(merged_scores, torch.tensor([[0.3, 0.7]]).repeat(2, 1))
    torch.testing.assert_close(merge_aug_bboxes([BOXES, flipped], None, [meta_plain, meta_flip]),
                               BOXES)
    np.testing.assert_allclose(merge_aug_scores([np.ones(2), np.zeros(2)]), [0.5, 0.5])


def test_merge_aug_proposals_nms_and_limit():
    meta = dict(img_shape=(20, 30, 3), scale_factor=1.0, flip=False, flip_direction=None)
    props = torch.tensor([[0., 0., 10., 10., 0.9], [0., 0., 10., 9., 0.8], [15., 15., 20., 20., 0.5]])
    cfg = dict(nms=dict(type='nms', iou_threshold=0.7), max_per_img=5)
    merged = merge_aug_proposals([props, props[2:]], [meta, meta], cfg)
    # the second box overlaps the first (IoU 0.9), the duplicate of the third is removed
    torch.testing.assert_close(merged, props[[0, 2]])
    assert merge_aug_proposals([props], [meta], dict(cfg, max_per_img=1)).shape == (1, 5)
