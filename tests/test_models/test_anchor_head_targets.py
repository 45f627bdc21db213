"""AnchorHead's batched targets (MaxIoUAssigner + RandomSampler/PseudoSampler) against its per-image path."""
import pytest
import torch
from mmcv import ConfigDict

from mmdet_lite.models import build_head

RPN_TRAIN_CFG = dict(
    assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, match_low_quality=True,
                  ignore_iof_thr=-1),
    sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
    allowed_border=-1, pos_weight=-1)
ANCHORS = dict(type='AnchorGenerator', scales=[2, 4], ratios=[0.5, 1.0], strides=[8, 16])
FEATMAP_SIZES = [(8, 10), (4, 5)]


def _head(train_cfg_updates=(), **head_kwargs):
    train_cfg = ConfigDict(RPN_TRAIN_CFG)
    for key, value in dict(train_cfg_updates).items():
        train_cfg[key] = ConfigDict(value) if isinstance(value, dict) else value
    kwargs = dict(type='RPNHead', in_channels=4, feat_channels=4, anchor_generator=ANCHORS, train_cfg=train_cfg)
    kwargs.update(head_kwargs)
    return build_head(kwargs)


def _metas():
    shapes = [((64, 80), (64, 80)), ((40, 72), (48, 72)), ((56, 30), (56, 32))]  # (img_shape, pad_shape)
    return [dict(img_shape=img + (3, ), pad_shape=pad + (3, )) for img, pad in shapes]


def _gts(seed=0):
    gen = torch.Generator().manual_seed(seed)
    boxes = []
    for num in (4, 0, 2):
        xy = torch.rand(num, 2, generator=gen) * 40
        boxes.append(torch.cat([xy, xy + 8 + torch.rand(num, 2, generator=gen) * 30], 1))
    return boxes


def _both_paths(head, gt_labels=None, gt_bboxes_ignore=None):
    """(batched, per-image) get_targets outputs; the per-image path runs when sampling results are asked."""
    anchor_list, valid_flag_list = head.get_anchors(FEATMAP_SIZES, _metas(), device='cpu')
    args = (anchor_list, valid_flag_list, _gts(), _metas(), gt_bboxes_ignore, gt_labels)
    batched = head.get_targets(*args)
    per_image = head.get_targets(*args, return_sampling_results=True)[:6]
    return batched, per_image


def _assert_targets_equal(batched, per_image):
    for batched_levels, per_image_levels in zip(batched[:4], per_image[:4]):
        for batched_level, per_image_level in zip(batched_levels, per_image_levels):
            assert batched_level.dtype == per_image_level.dtype
            assert torch.equal(batched_level, per_image_level)
    assert (int(batched[4]), int(batched[5])) == per_image[4:6]


HEAD_CASES = [  # (train_cfg updates, head kwargs)
    (dict(sampler=dict(type='RandomSampler', num=10**6, pos_fraction=0.5, add_gt_as_proposals=False)), {}),
    (dict(sampler=dict(type='PseudoSampler'), allowed_border=0, pos_weight=2.0), {}),
    (dict(sampler=dict(type='RandomSampler', num=10**6, pos_fraction=1.0, add_gt_as_proposals=False),
          assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=(0.1, 0.4), min_pos_iou=0.2,
                        gt_max_assign_all=False, ignore_iof_thr=0.5)), dict(reg_decoded_bbox=True)),
]


@pytest.mark.parametrize('train_cfg,head_kwargs', HEAD_CASES)
def test_batched_targets_equal_per_image_targets_when_nothing_is_dropped(train_cfg, head_kwargs):
    head = _head(train_cfg, **head_kwargs)
    ignores = [torch.tensor([[0., 0., 30., 30.]]), None, torch.zeros(0, 4)]
    batched, per_image = _both_paths(head, gt_bboxes_ignore=ignores)
    assert isinstance(batched[4], torch.Tensor) and batched[4].dim() == 0
    assert 0 < int(batched[4]) < int(batched[5])
    _assert_targets_equal(batched, per_image)


def test_batched_targets_take_class_labels_of_a_multiclass_head():
    head = _head(dict(sampler=dict(type='PseudoSampler')), type='AnchorHead', num_classes=3,
                 loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True))
    labels = [torch.tensor([2, 0, 1, 2]), torch.zeros(0, dtype=torch.long), torch.tensor([1, 1])]
    batched, per_image = _both_paths(head, gt_labels=labels)
    assert set(torch.cat([level.flatten() for level in batched[0]]).tolist()) == {0, 1, 2, 3}
    _assert_targets_equal(batched, per_image)


def test_batched_random_sampling_keeps_the_per_image_sizes_and_candidates():
    head = _head(dict(sampler=dict(type='RandomSampler', num=24, pos_fraction=0.25, add_gt_as_proposals=False)))
    everything = _head(dict(sampler=dict(type='PseudoSampler')))
    torch.manual_seed(0)
    batched, per_image = _both_paths(head)
    all_labels, all_weights = _both_paths(everything)[1][:2]
    weights = torch.cat(batched[1], dim=1)
    labels = torch.cat(batched[0], dim=1)
    per_image_weights, per_image_labels = torch.cat(per_image[1], dim=1), torch.cat(per_image[0], dim=1)
    candidate_weights, candidate_labels = torch.cat(all_weights, dim=1), torch.cat(all_labels, dim=1)
    for img in range(3):
        picked = weights[img] > 0
        # same counts of positives and negatives as the per-image sampler, each picked anchor a candidate
        assert (labels[img][picked] == 0).sum() == (per_image_labels[img][per_image_weights[img] > 0] == 0).sum()
        assert picked.sum() == (per_image_weights[img] > 0).sum()
        assert (candidate_weights[img][picked] > 0).all()
        assert torch.equal(labels[img][picked], candidate_labels[img][picked])
    assert (int(batched[4]), int(batched[5])) == per_image[4:6]


def test_loss_of_batched_path_equals_per_image_path():
    head = _head(dict(sampler=dict(type='RandomSampler', num=10**6, pos_fraction=0.5, add_gt_as_proposals=False)))
    torch.manual_seed(0)
    cls_scores = [torch.randn(3, 4, h, w) for h, w in FEATMAP_SIZES]
    bbox_preds = [torch.randn(3, 16, h, w) for h, w in FEATMAP_SIZES]
    batched = head.loss(cls_scores, bbox_preds, _gts(), _metas())
    head._batched_targets_apply = lambda gt_bboxes_list: False
    per_image = head.loss(cls_scores, bbox_preds, _gts(), _metas())
    for key in ('loss_rpn_cls', 'loss_rpn_bbox'):
        for batched_level, per_image_level in zip(batched[key], per_image[key]):
            assert torch.equal(batched_level, per_image_level)


@pytest.mark.parametrize('num,pos_fraction', [(256, 0.5), (4, 0.5)])
def test_subsampled_positives_get_the_deltas_of_their_ground_truth_and_the_rest_zero(num, pos_fraction):
    # (256, 0.5): every positive kept (fewer than 128); (4, 0.5): at most 2 of them per image
    sampler = dict(type='RandomSampler', num=num, pos_fraction=pos_fraction, add_gt_as_proposals=False)
    torch.manual_seed(0)
    batched, _ = _both_paths(_head(dict(sampler=sampler)))
    every_positive, _ = _both_paths(_head(dict(sampler=dict(sampler, num=10**6, pos_fraction=1.0))))
    for targets, weights, all_targets, all_weights in zip(batched[2], batched[3], every_positive[2], every_positive[3]):
        picked = weights[..., 0] > 0
        assert bool((all_weights[..., 0][picked] > 0).all())  # sampled positives are positives
        assert torch.equal(targets[picked], all_targets[picked])
        assert torch.equal(targets[~picked], torch.zeros_like(targets[~picked]))
    num_pos = sum(int((weights[..., 0] > 0).sum()) for weights in batched[3])
    num_all = sum(int((weights[..., 0] > 0).sum()) for weights in every_positive[3])
    assert num_pos == (num_all if num == 256 else 2 + 0 + 2)  # the images hold 4, 0 and 2 ground truths
