"""LegacyDeltaXYWHBBoxCoder: +1-width deltas of MMDetection 1.x."""
import math

import pytest
import torch

from mmdet_lite.core.bbox import LegacyDeltaXYWHBBoxCoder, build_bbox_coder

from .test_bbox_coder import RCNN_STDS, random_boxes


def test_legacy_encode_hand_numbers_use_plus_one_widths():
    coder = build_bbox_coder(dict(type='LegacyDeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                                  target_stds=list(RCNN_STDS)))
    proposals = torch.tensor([[0., 0., 9., 9.]])  # 10 x 10, centre (4.5, 4.5)
    gt = torch.tensor([[5., 5., 14., 24.]])  # 10 x 20, centre (9.5, 14.5)
    expected = torch.tensor([[0.5 / 0.1, 1.0 / 0.1, 0., math.log(2) / 0.2]])
    torch.testing.assert_close(coder.encode(proposals, gt), expected)


def test_legacy_decode_hand_numbers_and_clip_to_last_pixel():
    coder = LegacyDeltaXYWHBBoxCoder()
    rois = torch.tensor([[0., 0., 9., 9.]])
    shifted = torch.tensor([[1., 0., 0., 0.]])  # one width to the right
    torch.testing.assert_close(coder.decode(rois, shifted), torch.tensor([[10., 0., 19., 9.]]))
    torch.testing.assert_close(coder.decode(rois, shifted, max_shape=(20, 15, 3)),
                               torch.tensor([[10., 0., 14., 9.]]))


def test_legacy_encode_decode_round_trip_class_specific():
    coder = LegacyDeltaXYWHBBoxCoder(target_means=(0.1, -0.2, 0.05, 0.), target_stds=RCNN_STDS)
    proposals, gt_a, gt_b = random_boxes(32, 0), random_boxes(32, 1), random_boxes(32, 2)
    deltas = torch.cat([coder.encode(proposals, gt_a), coder.encode(proposals, gt_b)], dim=1)
    decoded = coder.decode(proposals, deltas, wh_ratio_clip=1e-6)
    torch.testing.assert_close(decoded, torch.cat([gt_a, gt_b], dim=1), rtol=1e-5, atol=1e-3)


def test_legacy_coder_rejects_mismatched_shapes():
    coder = LegacyDeltaXYWHBBoxCoder()
    with pytest.raises(ValueError, match='rows'):
        coder.encode(torch.zeros(2, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match='deltas'):
        coder.decode(torch.zeros(2, 4), torch.zeros(2, 6))
