"""nms_match groups and PISA's ScoreHLRSampler (ISR-N) on hand-computed cases."""
import math
from types import SimpleNamespace

import torch

from mmdet_lite.core.bbox import AssignResult, build_sampler
from mmdet_lite.core.post_processing import nms_match
from mmdet_lite.models import build_head


def test_nms_match_groups_by_descending_score():
    dets = torch.tensor([[0., 0, 10, 10, .9], [1, 1, 11, 11, .8], [50, 50, 60, 60, .7], [0, 0, 10, 10, .95]])
    groups = nms_match(dets, 0.5)  # IoU(box 0, box 1) = 81 / 119
    assert [g.tolist() for g in groups] == [[3, 0, 1], [2]]


def test_nms_match_threshold_is_inclusive_and_empty_input_gives_no_groups():
    dets = torch.tensor([[0., 0, 2, 1, .9], [0, 0, 1, 1, .8]])  # IoU exactly 0.5
    assert [g.tolist() for g in nms_match(dets, 0.5)] == [[0, 1]]
    assert [g.tolist() for g in nms_match(dets, 0.51)] == [[0], [1]]
    assert nms_match(torch.zeros(0, 5), 0.5) == []


def test_score_hlr_picks_negatives_by_importance_and_weights_them():
    """5 negatives; foreground scores 0.6, 0.5, 0.4 (valid) and 0.01, 0.02 (below score_thr 0.05). Boxes 0 and 1
    overlap (one nms_match group), box 2 is alone: importance = 3 - rank in group + score = 3.6, 2.5, 3.4, so
    the picks are 0, 2, 1 with importance ranks 0, 1, 2 -> weights sqrt((3 - rank) / 3), rescaled so the
    weighted background loss equals the unweighted one."""
    probs = torch.tensor([[.6, .1, .3], [.5, .1, .4], [.1, .4, .5], [.01, .01, .98], [.02, .01, .97]])
    head = build_head(dict(type='BBoxHead', in_channels=1, roi_feat_size=1, num_classes=2))
    context = SimpleNamespace(
        bbox_head=head, _bbox_forward=lambda feats, rois: dict(cls_score=probs.log(), bbox_pred=torch.zeros(5, 8)))
    sampler = build_sampler(dict(type='ScoreHLRSampler', num=3, pos_fraction=0.25, add_gt_as_proposals=False,
                                 k=0.5, bias=0.), context=context)
    boxes = torch.tensor([[0., 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [20, 0, 30, 10], [0, 20, 10, 30]])
    assign_result = AssignResult(1, torch.zeros(5, dtype=torch.long), torch.zeros(5), labels=None)
    result, neg_label_weights = sampler.sample(assign_result, boxes, torch.zeros(0, 4), feats=None)
    assert result.neg_inds.tolist() == [0, 2, 1] and result.pos_inds.numel() == 0
    weights = [math.sqrt(1.), math.sqrt(2 / 3), math.sqrt(1 / 3)]
    bg_loss = [-math.log(.3), -math.log(.5), -math.log(.4)]
    ratio = sum(bg_loss) / sum(w * l for w, l in zip(weights, bg_loss))
    torch.testing.assert_close(neg_label_weights, torch.tensor([w * ratio for w in weights]))


def test_score_hlr_without_valid_negatives_samples_at_random_with_unit_weights():
    probs = torch.tensor([[.01, .01, .98]]).repeat(6, 1)
    head = build_head(dict(type='BBoxHead', in_channels=1, roi_feat_size=1, num_classes=2))
    context = SimpleNamespace(
        bbox_head=head, _bbox_forward=lambda feats, rois: dict(cls_score=probs[:len(rois)].log(), bbox_pred=torch.zeros(len(rois), 8)))
    sampler = build_sampler(dict(type='ScoreHLRSampler', num=4, pos_fraction=0.25, add_gt_as_proposals=False),
                            context=context)
    boxes = torch.arange(24, dtype=torch.float32).view(6, 4).cumsum(1)
    assign_result = AssignResult(1, torch.tensor([1, 0, 0, 0, 0, 0]), torch.zeros(6), labels=torch.tensor([0] * 6))
    torch.manual_seed(0)
    result, neg_label_weights = sampler.sample(assign_result, boxes, boxes[:1])
    assert result.pos_inds.tolist() == [0] and len(result.neg_inds) == 3
    assert torch.equal(neg_label_weights, torch.ones(3))
