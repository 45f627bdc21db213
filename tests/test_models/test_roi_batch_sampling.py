"""StandardRoIHead's batched assignment and sampling against its per-image path."""
import numpy as np
import pytest
import torch
from mmcv import ConfigDict

from mmdet_lite.models import build_head

from .test_roi_heads import _bbox_head_cfg, _extractor_cfg


def _roi_head(num=2000, pos_fraction=0.25, neg_pos_ub=-1, add_gt=True, ignore_iof_thr=-1, match_low_quality=False):
    torch.manual_seed(0)
    train_cfg = ConfigDict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                      match_low_quality=match_low_quality, ignore_iof_thr=ignore_iof_thr),
        sampler=dict(type='RandomSampler', num=num, pos_fraction=pos_fraction, neg_pos_ub=neg_pos_ub,
                     add_gt_as_proposals=add_gt),
        pos_weight=-1, debug=False)
    return build_head(dict(type='StandardRoIHead', bbox_roi_extractor=_extractor_cfg(),
                           bbox_head=_bbox_head_cfg(3), train_cfg=train_cfg))


def _per_image(head):
    """The same head forced onto the per-image loop."""
    head._batched_sampling_applies = lambda gt_bboxes: False
    return head


def _boxes(gen, num, size=64.):
    xy = torch.rand(num, 2, generator=gen) * size * 0.7
    wh = 4 + torch.rand(num, 2, generator=gen) * size * 0.3
    return torch.cat([xy, xy + wh], dim=1)


def _batch(seed=0, num_props=(30, 12, 21), num_gts=(3, 0, 5)):
    """Proposals (Pi, 5) (jittered ground truths, so that some are positive, and random boxes), ground truths,
    labels and ignore regions (image 1 has none) of images with different counts."""
    gen = torch.Generator().manual_seed(seed)
    gts = [_boxes(gen, num) for num in num_gts]
    proposals = []
    for gt, num in zip(gts, num_props):
        near = gt.repeat(3, 1)[:num] + torch.randn(min(num, 3 * len(gt)), 4, generator=gen) * 3
        boxes = torch.cat([near, _boxes(gen, num - len(near))])
        proposals.append(torch.cat([boxes, torch.rand(num, 1, generator=gen)], dim=1))
    labels = [torch.randint(0, 3, (num, ), generator=gen) for num in num_gts]
    # the last random proposals of images 0 and 2 lie inside ignore regions
    ignores = [proposals[0][-2:, :4] + torch.tensor([-1., -1., 1., 1.]), None, proposals[-1][-1:, :4]][:len(gts)]
    return proposals, gts, labels, ignores


def _assert_same_results(batched, per_image):
    for res, ref in zip(batched[0], per_image[0]):
        assert res.num_gts == ref.num_gts
        for key in ('gt_inds', 'max_overlaps', 'labels'):
            torch.testing.assert_close(getattr(res, key), getattr(ref, key), rtol=0, atol=0)
    for res, ref in zip(batched[1], per_image[1]):
        assert res.num_gts == ref.num_gts
        for key in ('pos_inds', 'neg_inds', 'pos_bboxes', 'neg_bboxes', 'pos_is_gt', 'pos_assigned_gt_inds',
                    'pos_gt_bboxes', 'pos_gt_labels'):
            torch.testing.assert_close(getattr(res, key), getattr(ref, key), rtol=0, atol=0)
    assert len(batched[0]) == len(per_image[0]) and len(batched[1]) == len(per_image[1])


@pytest.mark.parametrize('add_gt', [True, False])
@pytest.mark.parametrize('with_ignore', [True, False])
def test_batched_results_equal_the_per_image_path_when_nothing_is_dropped(add_gt, with_ignore):
    proposals, gts, labels, ignores = _batch()
    if not with_ignore:
        ignores = [None] * len(gts)
    head = _roi_head(add_gt=add_gt, ignore_iof_thr=0.5 if with_ignore else -1)
    batched = head._assign_and_sample(proposals, gts, labels, ignores)
    per_image = _per_image(head)._assign_and_sample(proposals, gts, labels, ignores)
    _assert_same_results(batched, per_image)
    assert sum(len(res.pos_inds) for res in batched[1]) > 3  # the case tests positives, negatives, ignored
    assert any((res.gt_inds == -1).any() for res in batched[0]) == with_ignore


def test_batched_low_quality_matches_equal_the_per_image_path():
    proposals, gts, labels, ignores = _batch(seed=1)
    head = _roi_head(match_low_quality=True)
    _assert_same_results(head._assign_and_sample(proposals, gts, labels, ignores),
                         _per_image(head)._assign_and_sample(proposals, gts, labels, ignores))


def test_batched_path_takes_proposals_with_and_without_scores():
    proposals, gts, labels, ignores = _batch()
    proposals[1] = proposals[1][:, :4]  # given proposals may come without the score column
    head = _roi_head()
    _assert_same_results(head._assign_and_sample(proposals, gts, labels, ignores),
                         _per_image(head)._assign_and_sample(proposals, gts, labels, ignores))


def test_batched_path_without_any_ground_truth_gives_only_negatives():
    proposals, gts, labels, _ = _batch(num_gts=(0, 0, 0))
    head = _roi_head()
    batched = head._assign_and_sample(proposals, gts, labels, [None] * 3)
    _assert_same_results(batched, _per_image(head)._assign_and_sample(proposals, gts, labels, [None] * 3))
    assert [len(res.neg_inds) for res in batched[1]] == [30, 12, 21]


def test_batched_losses_equal_the_per_image_losses():
    proposals, gts, labels, ignores = _batch()
    head = _roi_head()
    feats = [torch.rand(3, 2, 64 // s, 64 // s) for s in (4, 8, 16, 32)]
    metas = [dict(img_shape=(64, 64, 3))] * 3
    losses = head.forward_train(feats, metas, proposals, gts, labels, ignores)
    ref_losses = _per_image(head).forward_train(feats, metas, proposals, gts, labels, ignores)
    assert losses.keys() == ref_losses.keys()
    for key in losses:
        torch.testing.assert_close(losses[key], ref_losses[key])


@pytest.mark.parametrize('neg_pos_ub', [-1, 1.5])
def test_batched_subsampling_draws_the_per_image_sizes_from_the_candidates(neg_pos_ub):
    proposals, gts, labels, ignores = _batch(seed=2, num_props=(40, 25, 33), num_gts=(4, 0, 6))
    head = _roi_head(num=16, pos_fraction=0.25, neg_pos_ub=neg_pos_ub)
    torch.manual_seed(3)
    assign_results, sampling_results = head._assign_and_sample(proposals, gts, labels, ignores)
    for assign_result, res in zip(assign_results, sampling_results):
        num_pos_cands = int((assign_result.gt_inds > 0).sum())
        num_neg_cands = int((assign_result.gt_inds == 0).sum())
        num_pos = min(num_pos_cands, 4)
        num_expected_neg = 16 - num_pos
        if neg_pos_ub >= 0:
            num_expected_neg = min(num_expected_neg, int(neg_pos_ub * max(1, num_pos)))
        assert len(res.pos_inds) == num_pos
        assert len(res.neg_inds) == min(num_neg_cands, num_expected_neg)
        assert (assign_result.gt_inds[res.pos_inds] > 0).all() and (assign_result.gt_inds[res.neg_inds] == 0).all()
        for inds in (res.pos_inds, res.neg_inds):  # distinct and ascending, as after ``unique``
            assert (inds[1:] > inds[:-1]).all()
        assert torch.equal(res.pos_is_gt, (res.pos_inds < assign_result.num_gts).to(torch.uint8))
    assert [res.num_gts for res in sampling_results] == [4, 0, 6]


def test_batched_subsampling_picks_every_candidate_alike():
    """Image 0 has more negatives than the sampler keeps: each is picked about equally often."""
    proposals, gts, labels, _ = _batch(seed=2, num_props=(40, 25), num_gts=(4, 2))
    head = _roi_head(num=8, pos_fraction=0.25, add_gt=False)
    torch.manual_seed(0)
    counts = np.zeros(40)
    for _ in range(200):
        assign_results, sampling_results = head._assign_and_sample(proposals, gts, labels, [None, None])
        counts[sampling_results[0].neg_inds.numpy()] += 1
    neg_cands = (assign_results[0].gt_inds == 0).numpy()
    expected = counts[neg_cands].sum() / neg_cands.sum()
    assert counts[~neg_cands].sum() == 0
    assert np.abs(counts[neg_cands] - expected).max() < 0.5 * expected


def test_other_samplers_keep_the_per_image_path():
    head = _roi_head()
    head.bbox_sampler = type('SubSampler', (type(head.bbox_sampler), ), {})(num=16, pos_fraction=0.25)
    assert not head._batched_sampling_applies([torch.zeros(2, 4)])
    head = _roi_head()
    head.bbox_assigner.gpu_assign_thr = 1
    assert not head._batched_sampling_applies([torch.zeros(2, 4)])
    assert head._batched_sampling_applies([torch.zeros(1, 4)])


def test_dynamic_rcnn_reads_the_same_assignments_on_the_batched_path():
    from .test_roi_head_variants import _dynamic_head
    proposals, gts, labels, ignores = _batch()
    feats = [torch.rand(3, 2, 64 // s, 64 // s) for s in (4, 8, 16, 32)]
    metas = [dict(img_shape=(64, 64, 3))] * 3
    head = _dynamic_head()
    head.bbox_sampler.num = 2000  # nothing dropped: both paths pick the same boxes
    head.forward_train(feats, metas, proposals, gts, labels, ignores)
    ref_head = _per_image(_dynamic_head())
    ref_head.bbox_sampler.num = 2000
    ref_head.forward_train(feats, metas, proposals, gts, labels, ignores)
    assert head.iou_history == ref_head.iou_history and head.beta_history == ref_head.beta_history


def test_two_sgd_steps_of_a_tiny_faster_rcnn_lower_the_loss_on_the_batched_path():
    from .tiny_faster_rcnn import build_tiny, img_metas, sgd_steps
    model = build_tiny(seed=0, base_channels=32)
    assert model.roi_head._batched_sampling_applies([torch.zeros(2, 4)])
    torch.manual_seed(1)
    img = torch.randn(2, 3, 64, 80) * 0.1
    img[0, :, 15:50, 20:55] += 1.0
    img[1, :, 5:30, 40:75] += 1.0
    data = dict(img=img, img_metas=img_metas(2, 64, 80),
                gt_bboxes=[torch.tensor([[20., 15., 55., 50.]]),
                           torch.tensor([[40., 5., 75., 30.], [2., 2., 20., 30.]])],
                gt_labels=[torch.tensor([1]), torch.tensor([2, 0])])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    losses = sgd_steps(model, data, optimizer, 2)
    assert losses[1] < losses[0], losses
