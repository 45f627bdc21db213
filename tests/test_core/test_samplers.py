import pytest
import torch

from mmdet_lite.core.bbox import (AssignResult, MaxIoUAssigner, PseudoSampler, RandomSampler,
                                  SamplingResult, build_sampler)


def make_assign_result(num_pos, num_neg, num_ignored, num_gts=2):
    """Assignment with positives first (alternating GTs), then negatives, then ignored boxes."""
    gt_inds = torch.cat([torch.arange(num_pos) % num_gts + 1,
                         torch.zeros(num_neg, dtype=torch.long),
                         torch.full((num_ignored, ), -1, dtype=torch.long)])
    labels = torch.where(gt_inds > 0, gt_inds + 10, torch.full_like(gt_inds, -1))
    return AssignResult(num_gts, gt_inds, torch.rand(len(gt_inds)), labels=labels)


def boxes_for(num, seed=0):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=gen) * 20
    return torch.cat([xy, xy + 5, torch.rand(num, 1, generator=gen)], dim=1)  # (num, 5)


GTS = torch.tensor([[0., 0., 5., 5.], [10., 10., 20., 20.]])


def test_counts_follow_num_and_pos_fraction():
    torch.manual_seed(0)
    sampler = build_sampler(dict(type='RandomSampler', num=10, pos_fraction=0.5, neg_pos_ub=-1,
                                 add_gt_as_proposals=False), context=object())
    result = sampler.sample(make_assign_result(8, 20, 5), boxes_for(33), GTS)
    assert len(result.pos_inds) == 5 and len(result.neg_inds) == 5
    assert (result.pos_inds < 8).all()
    assert ((result.neg_inds >= 8) & (result.neg_inds < 28)).all()  # ignored never sampled
    assert torch.equal(result.pos_inds, result.pos_inds.sort().values)
    assert torch.equal(result.neg_inds, result.neg_inds.unique())
    assert result.pos_bboxes.shape == (5, 4) and result.bboxes.shape == (10, 4)
    assert torch.equal(result.bboxes, torch.cat([result.pos_bboxes, result.neg_bboxes]))
    assert result.pos_is_gt.sum() == 0


def test_few_positives_are_topped_up_with_negatives():
    sampler = RandomSampler(num=10, pos_fraction=0.5, add_gt_as_proposals=False)
    result = sampler.sample(make_assign_result(2, 20, 0), boxes_for(22), GTS)
    assert result.pos_inds.tolist() == [0, 1]
    assert len(result.neg_inds) == 8


def test_neg_pos_upper_bound():
    sampler = RandomSampler(num=10, pos_fraction=0.5, neg_pos_ub=1.5, add_gt_as_proposals=False)
    result = sampler.sample(make_assign_result(2, 20, 0), boxes_for(22), GTS)
    assert len(result.neg_inds) == 3  # int(1.5 * 2)
    no_pos = sampler.sample(make_assign_result(0, 20, 0), boxes_for(20), GTS)
    assert len(no_pos.pos_inds) == 0 and len(no_pos.neg_inds) == 1  # int(1.5 * max(1, 0))


def test_gt_as_proposals_are_prepended():
    torch.manual_seed(0)
    sampler = RandomSampler(num=512, pos_fraction=0.25)
    assign = make_assign_result(3, 4, 1)
    result = sampler.sample(assign, boxes_for(8), GTS, gt_labels=torch.tensor([7, 8]))
    # GTs become candidates 0 and 1, assigned to themselves
    assert result.pos_inds.tolist() == [0, 1, 2, 3, 4]
    assert result.pos_is_gt.tolist() == [1, 1, 0, 0, 0]
    assert result.pos_assigned_gt_inds.tolist() == [0, 1, 0, 1, 0]
    assert torch.equal(result.pos_gt_bboxes, GTS[[0, 1, 0, 1, 0]])
    assert torch.equal(result.pos_bboxes[:2], GTS)
    assert result.pos_gt_labels.tolist() == [7, 8, 11, 12, 11]
    assert result.neg_inds.tolist() == [5, 6, 7, 8]
    assert result.num_gts == 2
    assert assign.num_preds == 10


def test_gt_as_proposals_requires_labels():
    with pytest.raises(ValueError, match='gt_labels'):
        RandomSampler(num=4, pos_fraction=0.5).sample(make_assign_result(1, 1, 0), boxes_for(2), GTS)


def test_sampling_is_reproducible_with_torch_seed():
    sampler = RandomSampler(num=16, pos_fraction=0.25, add_gt_as_proposals=False)
    draws = []
    for _ in range(2):
        torch.manual_seed(123)
        result = sampler.sample(make_assign_result(30, 50, 0), boxes_for(80), GTS)
        draws.append((result.pos_inds.tolist(), result.neg_inds.tolist()))
    assert draws[0] == draws[1]
    assert len(draws[0][0]) == 4 and len(draws[0][1]) == 12


def test_positive_fraction_is_uniform_over_many_draws():
    torch.manual_seed(0)
    sampler = RandomSampler(num=4, pos_fraction=0.5, add_gt_as_proposals=False)
    counts = torch.zeros(10)
    for _ in range(400):
        counts[sampler.sample(make_assign_result(10, 10, 0), boxes_for(20), GTS).pos_inds] += 1
    # 2 of 10 positives drawn each time -> each expected 80 times
    assert counts.sum() == 800 and counts.min() > 50 and counts.max() < 110


def test_empty_gt_samples_only_negatives():
    assigner = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=0.3)
    boxes = boxes_for(6)
    empty_gt = torch.zeros(0, 4)
    assign = assigner.assign(boxes, empty_gt, gt_labels=torch.zeros(0, dtype=torch.long))
    result = RandomSampler(num=4, pos_fraction=0.5).sample(
        assign, boxes, empty_gt, gt_labels=torch.zeros(0, dtype=torch.long))
    assert len(result.pos_inds) == 0 and len(result.neg_inds) == 4
    assert result.pos_gt_bboxes.shape == (0, 4)


def test_pseudo_sampler_keeps_everything():
    sampler = build_sampler(dict(type='PseudoSampler'), context=object())
    result = sampler.sample(make_assign_result(3, 2, 2), boxes_for(7)[:, :4], GTS)
    assert isinstance(result, SamplingResult)
    assert result.pos_inds.tolist() == [0, 1, 2] and result.neg_inds.tolist() == [3, 4]
    assert result.pos_assigned_gt_inds.tolist() == [0, 1, 0]
    assert 'pos_inds.shape' in repr(result)


@pytest.mark.parametrize('cfg', [dict(type='RandomSampler', num=4, pos_fraction=0.5),
                                 dict(type='PseudoSampler')])
def test_a_misspelt_sampler_option_is_refused_naming_it(cfg):
    # add_gt_as_proposal (no s) used to be swallowed, leaving add_gt_as_proposals at True
    with pytest.raises(TypeError, match=f"{cfg['type']}.*unexpected keyword argument 'add_gt_as_proposal'"):
        build_sampler(dict(cfg, add_gt_as_proposal=False), context=object())


def test_assign_result_random_respects_its_probabilities_and_seed():
    first = AssignResult.random(num_preds=10, num_gts=3, rng=0)
    again = AssignResult.random(num_preds=10, num_gts=3, rng=0)
    assert torch.equal(first.gt_inds, again.gt_inds) and torch.equal(first.max_overlaps, again.max_overlaps)
    assert first.num_preds == 10 and first.num_gts == 3
    assert ((first.gt_inds >= -1) & (first.gt_inds <= 3)).all() and (first.gt_inds != 0).sum() <= 3
    assert (first.max_overlaps[first.gt_inds == 0] == 0).all()
    # every box assigned, none ignored, but at most G = 2 of the 5 can be: exactly 2 positives
    full = AssignResult.random(num_preds=5, num_gts=2, p_assigned=1., p_ignore=0., p_use_label=True, rng=1)
    assert (full.gt_inds > 0).sum() == 2 and (full.labels[full.gt_inds > 0] >= 0).all()
    assert (full.labels[full.gt_inds == 0] == -1).all()
    assert AssignResult.random(num_preds=4, num_gts=3, p_assigned=0., p_use_label=0., rng=2).labels is None
    assert AssignResult.random(num_preds=4, num_gts=0, rng=3).gt_inds.tolist() == [0, 0, 0, 0]


def test_sampling_result_random_samples_its_random_assignment():
    torch.manual_seed(0)
    result = SamplingResult.random(rng=0, num_preds=10, num_gts=3, p_assigned=1., p_ignore=0.)
    # 3 positives (at most G are assigned), the other 7 boxes are negatives; 32 slots leave room for all
    assert (len(result.pos_inds), len(result.neg_inds)) == (3, 7)
    assert result.pos_gt_bboxes.shape == (3, 4) and result.num_gts == 3
    boxes = result.bboxes
    assert ((boxes >= 0) & (boxes < 1)).all() and (boxes[:, 2:] >= boxes[:, :2]).all()
    with pytest.raises(TypeError, match='rng must be None, an int or a numpy RandomState'):
        SamplingResult.random(rng='seed')


BATCH_GT_INDS = torch.stack([  # image 0: 6 pos, 12 neg; image 1: 1 pos, 14 neg; image 2: only negatives
    torch.tensor([1, 2, 0, 0, -1, 3, 0, 0, 1, 0, 0, 2, 0, 0, 1, 0, -1, 0, 0, 0]),
    torch.tensor([0, 0, -1, 0, 0, 0, 2, -1, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, -1]),
    torch.zeros(20, dtype=torch.long)])


@pytest.mark.parametrize('num,pos_fraction,neg_pos_ub', [(8, 0.5, -1), (8, 0.25, 2), (6, 0.5, 1.5), (100, 0.5, -1)])
def test_batch_sample_masks_draw_samples_sizes_from_candidates(num, pos_fraction, neg_pos_ub):
    torch.manual_seed(0)
    sampler = RandomSampler(num=num, pos_fraction=pos_fraction, neg_pos_ub=neg_pos_ub, add_gt_as_proposals=False)
    pos_mask, neg_mask = sampler.batch_sample_masks(BATCH_GT_INDS)
    for gt_inds, pos, neg in zip(BATCH_GT_INDS, pos_mask, neg_mask):
        num_pos = min(int((gt_inds > 0).sum()), int(num * pos_fraction))
        num_neg = num - num_pos
        if neg_pos_ub >= 0:
            num_neg = min(num_neg, int(neg_pos_ub * max(1, num_pos)))
        assert int(pos.sum()) == num_pos and int(neg.sum()) == min(num_neg, int((gt_inds == 0).sum()))
        assert (gt_inds[pos] > 0).all() and (gt_inds[neg] == 0).all()
        # the same sizes as the per-image sampler
        result = sampler.sample(AssignResult(3, gt_inds, torch.zeros(20)), boxes_for(20), torch.zeros(3, 4))
        assert (len(result.pos_inds), len(result.neg_inds)) == (int(pos.sum()), int(neg.sum()))
    if num == 100:  # nothing dropped: every candidate is taken
        assert torch.equal(pos_mask, BATCH_GT_INDS > 0) and torch.equal(neg_mask, BATCH_GT_INDS == 0)


def test_batch_sample_masks_pick_each_candidate_equally_often():
    torch.manual_seed(0)
    sampler = RandomSampler(num=6, pos_fraction=0.5, add_gt_as_proposals=False)
    gt_inds = BATCH_GT_INDS[:2].repeat(500, 1)
    pos_mask, neg_mask = sampler.batch_sample_masks(gt_inds)
    pos_counts, neg_counts = pos_mask.view(500, 2, 20).sum(0), neg_mask.view(500, 2, 20).sum(0)
    # image 0: 3 of 6 positives (expected 250 each), 3 of 12 negatives (125); image 1: 5 of 14 negatives (~179)
    assert pos_counts[0][BATCH_GT_INDS[0] > 0].sub(250).abs().max() < 45
    assert neg_counts[0][BATCH_GT_INDS[0] == 0].sub(125).abs().max() < 35
    assert neg_counts[1][BATCH_GT_INDS[1] == 0].sub(500 * 5 / 14).abs().max() < 40
    assert pos_counts[1].sum() == 500


def test_pseudo_sampler_batch_masks_keep_every_positive_and_negative():
    pos_mask, neg_mask = PseudoSampler().batch_sample_masks(BATCH_GT_INDS)
    assert torch.equal(pos_mask, BATCH_GT_INDS > 0) and torch.equal(neg_mask, BATCH_GT_INDS == 0)
