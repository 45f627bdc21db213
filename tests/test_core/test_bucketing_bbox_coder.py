"""SABL's BucketingBBoxCoder: hand-computed buckets and targets, encode -> decode round trip, rescoring."""
import math

import torch

from mmdet_lite.core.bbox import BucketingBBoxCoder, bbox_rescale
from mmdet_lite.core.bbox.coder.bucketing_bbox_coder import generate_buckets


def test_buckets_of_a_10x10_box_by_hand():
    """4 buckets of 2.5 px; 2 per side, centres 1.25 and 3.75 px in from each side."""
    centers, sizes = generate_buckets(torch.tensor([[0., 0., 10., 10.]]), num_buckets=4)
    assert centers.tolist() == [[[1.25, 3.75], [8.75, 6.25], [1.25, 3.75], [8.75, 6.25]]]
    assert sizes.tolist() == [[2.5] * 4]


def test_encode_targets_by_hand():
    """gt (2, 1, 7, 9) in (0, 0, 10, 10): offsets (centre - side) / 2.5 per side (left, right, top, down)."""
    coder = BucketingBBoxCoder(num_buckets=4, scale_factor=1.0)
    offsets, offset_weights, labels, cls_weights = coder.encode(torch.tensor([[0., 0., 10., 10.]]),
                                                                torch.tensor([[2., 1., 7., 9.]]))
    torch.testing.assert_close(offsets, torch.tensor([[-.3, .7, .7, -.3, .1, 1.1, -.1, -1.1]]))
    # nearest bucket always; the second nearest only if |offset| < offset_upperbound = 1
    assert offset_weights.tolist() == [[1, 1, 1, 1, 1, 0, 1, 0]]
    assert labels.tolist() == [[1, 0, 0, 1, 1, 0, 1, 0]]
    # the non-nearest bucket within one bucket of the side is ignored by the bucket classifier
    assert cls_weights.tolist() == [[1, 0, 0, 1, 1, 1, 1, 1]]


def test_encode_decode_round_trip_with_rescaled_proposals():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(20, 2, generator=gen) * 50
    proposals = torch.cat([xy, xy + 20 + torch.rand(20, 2, generator=gen) * 30], dim=1)
    gt = proposals + (torch.rand(20, 4, generator=gen) - 0.5) * 8
    coder = BucketingBBoxCoder(num_buckets=14, scale_factor=1.7)
    offsets, _, labels, _ = coder.encode(proposals, gt)
    bboxes, confidence = coder.decode(proposals, (labels * 30, offsets))
    torch.testing.assert_close(bboxes, gt, rtol=0, atol=1e-4)
    torch.testing.assert_close(confidence, torch.ones(20), rtol=0, atol=1e-5)


def test_decode_confidence_adds_the_second_bucket_only_when_it_neighbours_the_first():
    coder = BucketingBBoxCoder(num_buckets=6, scale_factor=1.0)
    far = [math.log(5), 0., math.log(4)]  # p = .5, .1, .4: top-2 buckets 0 and 2 -> .5
    near = [0., math.log(4), math.log(5)]  # p = .1, .4, .5: top-2 buckets 2 and 1 -> .9
    cls_preds = torch.tensor([far + near + far + near])
    bboxes, confidence = coder.decode(torch.tensor([[0., 0., 30., 60.]]), (cls_preds, torch.zeros(1, 12)))
    torch.testing.assert_close(confidence, torch.tensor([0.7]))
    # bucket centres: left #0 at 2.5, right #2 at 30 - 12.5, top #0 at 5, down #2 at 60 - 25
    torch.testing.assert_close(bboxes, torch.tensor([[2.5, 5., 17.5, 35.]]))


def test_decode_clamps_to_image_minus_one():
    coder = BucketingBBoxCoder(num_buckets=4, scale_factor=1.0)
    cls_preds = torch.tensor([[5., 0.] * 4])
    bboxes, _ = coder.decode(torch.tensor([[0., 0., 10., 10.]]), (cls_preds, torch.tensor([[3., 0, -3, 0, 3, 0, -3, 0]])),
                             max_shape=(8, 9, 3))
    # unclamped: 1.25 - 3 * 2.5 = -6.25 for x1/y1 and 8.75 + 3 * 2.5 = 16.25 for x2/y2
    assert bboxes.tolist() == [[0., 0., 8., 7.]]


def test_bbox_rescale_keeps_centre_and_batch_index():
    rois = torch.tensor([[3., 10., 20., 30., 40.]])
    assert bbox_rescale(rois, 2.).tolist() == [[3., 0., 10., 40., 50.]]
    assert bbox_rescale(rois[:, 1:], 0.5).tolist() == [[15., 25., 25., 35.]]
