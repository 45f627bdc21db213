"""Libra R-CNN's samplers: eligibility, per-bin / per-instance counts by hand, and seeded statistics."""
import pytest
import torch

from mmdet_lite.core.bbox import (AssignResult, CombinedSampler, InstanceBalancedPosSampler, IoUBalancedNegSampler,
                                  RandomSampler, build_sampler)


def _assign(gt_inds, max_overlaps):
    gt_inds = torch.tensor(gt_inds)
    labels = torch.where(gt_inds > 0, gt_inds, torch.full_like(gt_inds, -1))
    return AssignResult(int(gt_inds.max().clamp(min=0)), gt_inds, torch.tensor(max_overlaps), labels=labels)


def test_random_choice_per_group_keeps_at_most_the_cap_of_each_group():
    torch.manual_seed(0)
    sampler = RandomSampler(num=8, pos_fraction=0.5)
    gallery = torch.arange(100, 112)
    groups = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    picked = sampler.random_choice_per_group(gallery, groups, 3)
    assert picked.unique().numel() == picked.numel() == 3 + 2 + 3
    counts = torch.bincount(groups[picked - 100], minlength=3)
    assert counts.tolist() == [3, 2, 3]


def test_random_choice_per_group_is_uniform_inside_a_group():
    torch.manual_seed(0)
    sampler = RandomSampler(num=8, pos_fraction=0.5)
    groups = torch.tensor([0] * 4 + [1] * 2)
    hits = torch.zeros(6)
    for _ in range(400):
        hits[sampler.random_choice_per_group(torch.arange(6), groups, 1)] += 1
    assert hits[:4].sum() == 400 and hits[4:].sum() == 400  # exactly one of each group every time
    torch.testing.assert_close(hits / 400, torch.tensor([0.25] * 4 + [0.5] * 2), atol=0.07, rtol=0)


# ------------------------------------------------------------------------------ IoUBalancedNegSampler
def test_iou_bins_are_equal_intervals_up_to_the_largest_iou_excluded():
    sampler = IoUBalancedNegSampler(num=4, pos_fraction=0.25, floor_thr=0.1, num_bins=3)
    max_overlaps = torch.tensor([0.05, 0.1, 0.29, 0.3, 0.49, 0.5, 0.69, 0.7])  # M = 0.7, w = 0.2
    assert sampler.iou_bins(max_overlaps, 0.1).tolist() == [-1, 0, 0, 1, 1, 2, 2, 3]


def test_floor_thr_splits_negatives_into_a_floor_set_and_balanced_bins():
    # 6 floor negatives (IoU < 0.1), 3 bins of [0.1, 0.3), [0.3, 0.5), [0.5, 0.7) with 10, 2, 10 negatives,
    # a positive at 0.7 and 3 ignored boxes that are never sampled
    ious = [0.05] * 6 + [0.2] * 10 + [0.4] * 2 + [0.6] * 10 + [0.7] + [0.45] * 3
    gt_inds = [0] * 28 + [1] + [-1] * 3
    sampler = IoUBalancedNegSampler(num=16, pos_fraction=0.25, floor_thr=0.1, floor_fraction=0.25, num_bins=3)
    torch.manual_seed(0)
    neg = sampler._sample_neg(_assign(gt_inds, ious), num_expected=16)
    assert neg.unique().numel() == 16
    assert (torch.tensor(gt_inds)[neg] == 0).all()
    bins = sampler.iou_bins(torch.tensor(ious), 0.1)[neg]
    # 12 balanced: int(12 / 3) = 4 per bin, the middle bin has 2, 2 more at random from bins 0 and 2;
    # then 16 - 12 = 4 floor negatives
    assert (bins == -1).sum() == 4
    assert (bins == 1).sum() == 2
    assert (bins == 0).sum() >= 4 and (bins == 2).sum() >= 4 and ((bins == 0) | (bins == 2)).sum() == 10


def test_floor_thr_minus_one_bins_only_positive_iou_and_fills_with_zero_iou():
    ious = [0.0] * 20 + [0.1] * 2 + [0.3] * 2 + [0.5] * 5 + [0.9]
    gt_inds = [0] * 29 + [1]
    sampler = IoUBalancedNegSampler(num=12, pos_fraction=0.25, floor_thr=-1, floor_fraction=0, num_bins=3)
    torch.manual_seed(0)
    neg = sampler._sample_neg(_assign(gt_inds, ious), num_expected=12)
    # 9 negatives have IoU > 0 (<= 12 wanted): all taken, then 3 of the 20 zero-IoU ones
    assert neg.unique().numel() == 12
    assert set(range(20, 29)) <= set(neg.tolist())
    assert sampler.floor_thr == -1  # not overwritten (MMDetection 2.28 sets it to 0)


def test_few_negatives_are_all_returned():
    sampler = IoUBalancedNegSampler(num=12, pos_fraction=0.25)
    neg = sampler._sample_neg(_assign([0, 0, 1, -1], [0.1, 0.2, 0.8, 0.3]), num_expected=5)
    assert neg.tolist() == [0, 1]


def test_iou_balanced_sampling_prefers_rare_high_iou_negatives():
    # 90 negatives at IoU 0.05, 10 at IoU 0.45 (M = 0.6 from a positive: w = 0.2): random sampling would
    # take ~10% of the picks from the high-IoU ones, balanced sampling takes all of them
    ious = [0.05] * 90 + [0.45] * 10 + [0.6]
    gt_inds = [0] * 100 + [1]
    sampler = IoUBalancedNegSampler(num=40, pos_fraction=0.25, floor_thr=-1, num_bins=3)
    torch.manual_seed(0)
    hits = torch.zeros(101)
    for _ in range(100):
        hits[sampler._sample_neg(_assign(gt_inds, ious), num_expected=30)] += 1
    assert hits[90:100].tolist() == [100] * 10
    torch.testing.assert_close(hits[:90].mean() / 100, torch.tensor(20 / 90), atol=1e-6, rtol=0)
    assert hits[:90].min() > 5 and hits[:90].max() < 45  # every low-IoU negative is drawn, none always


@pytest.mark.parametrize('kwargs, match', [(dict(floor_thr=-0.5), 'floor_thr'), (dict(floor_fraction=1.5), 'floor_'),
                                           (dict(num_bins=0), 'num_bins')])
def test_iou_balanced_sampler_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IoUBalancedNegSampler(num=8, pos_fraction=0.25, **kwargs)


# ------------------------------------------------------------------------------ InstanceBalancedPosSampler
def _instance_counts(sampler, gt_inds, num_expected, seed=0):
    torch.manual_seed(seed)
    gt_inds_t = torch.tensor(gt_inds)
    pos = sampler._sample_pos(_assign(gt_inds, [0.9] * len(gt_inds)), num_expected=num_expected)
    assert pos.unique().numel() == pos.numel()
    assert (gt_inds_t[pos] > 0).all()
    return torch.bincount(gt_inds_t[pos], minlength=int(gt_inds_t.max()) + 1)[1:].tolist()


def test_instance_balanced_takes_round_n_over_g_plus_one_per_instance():
    sampler = InstanceBalancedPosSampler(num=24, pos_fraction=0.25)
    # 2 instances, 6 wanted: round(6 / 2) + 1 = 4 from the first, all 2 of the second
    assert _instance_counts(sampler, [1] * 10 + [2] * 2 + [0] * 5, 6) == [4, 2]


def test_instance_balanced_tops_up_a_shortfall_from_unpicked_positives():
    sampler = InstanceBalancedPosSampler(num=24, pos_fraction=0.25)
    # 3 instances, 9 wanted: 4 + 1 + 1 = 6 balanced, 3 more from the first instance's other positives
    assert _instance_counts(sampler, [1] * 10 + [2] + [3], 9) == [7, 1, 1]


def test_instance_balanced_cuts_an_excess_at_random():
    sampler = InstanceBalancedPosSampler(num=24, pos_fraction=0.25)
    # 3 instances, 6 wanted: round(2) + 1 = 3 per instance gives 7, one is dropped at random
    counts = _instance_counts(sampler, [1] * 10 + [2] * 10 + [3], 6)
    assert sum(counts) == 6 and max(counts) <= 3 and counts[2] <= 1


def test_instance_balanced_returns_all_positives_when_few():
    sampler = InstanceBalancedPosSampler(num=24, pos_fraction=0.25)
    pos = sampler._sample_pos(_assign([0, 1, 2, 0, 2], [0.] * 5), num_expected=3)
    assert pos.tolist() == [1, 2, 4]


# ------------------------------------------------------------------------------ CombinedSampler
def test_combined_sampler_builds_its_parts_with_the_shared_arguments():
    sampler = build_sampler(
        dict(type='CombinedSampler', num=16, pos_fraction=0.25, add_gt_as_proposals=True,
             pos_sampler=dict(type='InstanceBalancedPosSampler'),
             neg_sampler=dict(type='IoUBalancedNegSampler', floor_thr=-1, floor_fraction=0, num_bins=3)),
        context=object())
    assert isinstance(sampler, CombinedSampler)
    assert isinstance(sampler.pos_sampler, InstanceBalancedPosSampler)
    assert isinstance(sampler.neg_sampler, IoUBalancedNegSampler)
    assert sampler.neg_sampler.num == 16 and sampler.neg_sampler.pos_fraction == 0.25
    torch.manual_seed(0)
    ious = torch.rand(40) * 0.4
    gt_inds = torch.zeros(40, dtype=torch.long)
    gt_inds[:10] = 1
    result = sampler.sample(AssignResult(1, gt_inds, ious, labels=torch.where(gt_inds > 0, 0, -1)),
                            torch.rand(40, 4) * 10 + torch.tensor([0., 0., 10., 10.]),
                            torch.tensor([[0., 0., 10., 10.]]), gt_labels=torch.tensor([0]))
    assert len(result.pos_inds) == 4 and len(result.neg_inds) == 12  # int(16 * 0.25) positives, gt first
    assert result.pos_is_gt.sum() <= 1
