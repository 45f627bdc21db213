"""OHEM sampling, Double-Head R-CNN and Dynamic R-CNN RoI heads: state-dict keys from MMDetection 2.28's
rules, hard-example choice against a sort, the two RoI scales, and the dynamic threshold / beta updates."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmcv import Config, ConfigDict

from mmdet_lite.core.bbox import AssignResult, OHEMSampler, bbox2roi
from mmdet_lite.models import build_detector, build_head

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def _extractor_cfg():
    return dict(type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                out_channels=2, featmap_strides=[4])


def _shared2fc_cfg(loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)):
    return dict(type='Shared2FCBBoxHead', in_channels=2, fc_out_channels=8, roi_feat_size=7, num_classes=3,
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                                target_stds=[0.1, 0.1, 0.2, 0.2]),
                loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0), loss_bbox=loss_bbox)


def _train_cfg(sampler, **extra):
    return ConfigDict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.4, neg_iou_thr=0.4, min_pos_iou=0.4,
                                    ignore_iof_thr=-1),
                      sampler=sampler, pos_weight=-1, debug=False, **extra)


def _random_boxes(num, seed):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=gen) * 40
    return torch.cat([xy, xy + 8 + torch.rand(num, 2, generator=gen) * 16], dim=1)


# ------------------------------------------------------------------------------------------------ OHEM
@pytest.fixture(scope='module')
def ohem_head():
    torch.manual_seed(0)
    head = build_head(dict(type='StandardRoIHead', bbox_roi_extractor=_extractor_cfg(), bbox_head=_shared2fc_cfg(),
                           train_cfg=_train_cfg(dict(type='OHEMSampler', num=8, pos_fraction=0.25))))
    head.init_weights()
    for fc in head.bbox_head.shared_fcs:  # larger weights spread the losses apart
        torch.nn.init.normal_(fc.weight, std=0.3)
    torch.nn.init.normal_(head.bbox_head.fc_cls.weight, std=1.0)
    return head


def _per_roi_loss(head, feats, bboxes, labels):
    cls_score = head._bbox_forward(feats, bbox2roi([bboxes]))['cls_score']
    return F.cross_entropy(cls_score, labels, reduction='none')


def test_ohem_sampler_is_built_with_the_roi_head_as_context(ohem_head):
    assert isinstance(ohem_head.bbox_sampler, OHEMSampler)
    assert ohem_head.bbox_sampler.bbox_head is ohem_head.bbox_head


def test_ohem_keeps_the_negatives_with_the_highest_background_loss(ohem_head):
    torch.manual_seed(1)
    feats = [torch.randn(1, 2, 16, 16)]
    bboxes = _random_boxes(20, seed=2)
    gt_inds = torch.tensor([0] * 15 + [1] * 3 + [-1] * 2)
    assign = AssignResult(1, gt_inds, torch.rand(20), labels=torch.where(gt_inds > 0, 2, -1))
    chosen = ohem_head.bbox_sampler._sample_neg(assign, 5, bboxes=bboxes, feats=feats)
    with torch.no_grad():
        loss = _per_roi_loss(ohem_head, feats, bboxes[:15], torch.full((15, ), 3))
    assert sorted(chosen.tolist()) == sorted(loss.argsort(descending=True)[:5].tolist())


def test_ohem_keeps_the_positives_with_the_highest_loss_for_their_labels(ohem_head):
    torch.manual_seed(3)
    feats = [torch.randn(1, 2, 16, 16)]
    bboxes = _random_boxes(12, seed=4)
    gt_inds = torch.tensor([1, 2, 1, 2, 1, 2, 1, 2, 0, 0, 0, 0])
    labels = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1, -1, -1, -1, -1])
    assign = AssignResult(2, gt_inds, torch.rand(12), labels=labels)
    chosen = ohem_head.bbox_sampler._sample_pos(assign, 3, bboxes=bboxes, feats=feats)
    with torch.no_grad():
        loss = _per_roi_loss(ohem_head, feats, bboxes[:8], labels[:8])
    assert sorted(chosen.tolist()) == sorted(loss.argsort(descending=True)[:3].tolist())


def test_ohem_without_feats_names_them(ohem_head):
    assign = AssignResult(0, torch.zeros(10, dtype=torch.long), torch.zeros(10), labels=torch.full((10, ), -1))
    with pytest.raises(ValueError, match='feats'):
        ohem_head.bbox_sampler._sample_neg(assign, 2, bboxes=_random_boxes(10, seed=0))


def test_ohem_head_trains_on_a_batch(ohem_head):
    torch.manual_seed(5)
    x = [torch.randn(2, 2, 16, 16)]
    proposals = [torch.cat([_random_boxes(30, seed=s), torch.rand(30, 1)], dim=1) for s in (6, 7)]
    gt_bboxes = [torch.tensor([[4., 4., 30., 30.]]), torch.tensor([[10., 8., 40., 36.], [30., 30., 60., 60.]])]
    losses = ohem_head.forward_train(x, [dict()] * 2, proposals, gt_bboxes, [torch.tensor([0]), torch.tensor([1, 2])])
    assert torch.isfinite(losses['loss_cls']) and torch.isfinite(losses['loss_bbox'])


# ------------------------------------------------------------------------------------------ Double head
def _double_head_cfg(**kwargs):
    cfg = dict(type='DoubleConvFCBBoxHead', num_convs=1, num_fcs=2, in_channels=4, conv_out_channels=8,
               fc_out_channels=16, roi_feat_size=7, num_classes=3)
    cfg.update(kwargs)
    return cfg


def test_double_conv_fc_bbox_head_state_dict_keys_follow_mmdetection_2_28():
    head = build_head(_double_head_cfg())

    def conv_bn(prefix, cout, cin, k, bias=False):
        entries = [(f'{prefix}.conv.weight', (cout, cin, k, k))]
        entries += [(f'{prefix}.conv.bias', (cout, ))] if bias else []
        return entries + [(f'{prefix}.bn.{n}', () if n == 'num_batches_tracked' else (cout, )) for n in BN]

    def bottleneck(prefix, channels):
        entries = []
        for i, (cout, cin, k) in enumerate([(channels // 4, channels, 1), (channels // 4, channels // 4, 3),
                                            (channels, channels // 4, 1)], start=1):
            entries += [(f'{prefix}.conv{i}.weight', (cout, cin, k, k))]
            entries += [(f'{prefix}.bn{i}.{n}', () if n == 'num_batches_tracked' else (cout, )) for n in BN]
        return entries

    expected = [('fc_cls.weight', (4, 16)), ('fc_cls.bias', (4, )), ('fc_reg.weight', (12, 8)), ('fc_reg.bias', (12, ))]
    expected += conv_bn('res_block.conv1', 4, 4, 3) + conv_bn('res_block.conv2', 8, 4, 1)
    expected += conv_bn('res_block.conv_identity', 8, 4, 1)
    expected += bottleneck('conv_branch.0', 8)
    expected += [('fc_branch.0.weight', (16, 4 * 49)), ('fc_branch.0.bias', (16, )), ('fc_branch.1.weight', (16, 16)),
                 ('fc_branch.1.bias', (16, ))]
    assert [(k, tuple(v.shape)) for k, v in head.state_dict().items()] == expected


def test_double_head_classifies_with_fcs_and_regresses_with_convs():
    torch.manual_seed(0)
    head = build_head(_double_head_cfg())
    head.init_weights()
    head.eval()
    x_cls, x_reg = torch.randn(5, 4, 7, 7), torch.randn(5, 4, 7, 7)
    cls_score, bbox_pred = head(x_cls, x_reg)
    assert cls_score.shape == (5, 4) and bbox_pred.shape == (5, 12)
    cls_other, pred_other = head(x_cls, torch.randn(5, 4, 7, 7))
    assert torch.equal(cls_score, cls_other) and not torch.allclose(bbox_pred, pred_other)
    cls_other, pred_other = head(torch.randn(5, 4, 7, 7), x_reg)
    assert torch.equal(bbox_pred, pred_other) and not torch.allclose(cls_score, cls_other)


@pytest.mark.parametrize('kwargs, match', [(dict(num_convs=0), 'num_convs=0'), (dict(with_avg_pool=False), 'avg_pool')])
def test_double_head_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_head(_double_head_cfg(**kwargs))


def test_double_head_roi_head_pools_regression_features_from_scaled_rois():
    # two levels: with one, SingleRoIExtractor ignores roi_scale_factor (as MMDetection 2.28's does)
    extractor = dict(_extractor_cfg(), out_channels=4, featmap_strides=[4, 8])
    head = build_head(dict(type='DoubleHeadRoIHead', reg_roi_scale_factor=1.3, bbox_roi_extractor=extractor,
                           bbox_head=_double_head_cfg()))
    seen = {}
    head.bbox_head.forward = lambda x_cls, x_reg: seen.update(cls=x_cls, reg=x_reg) or (None, None)
    torch.manual_seed(0)
    x = [torch.randn(1, 4, 16, 16), torch.randn(1, 4, 8, 8)]
    rois = torch.tensor([[0., 8., 8., 40., 32.], [0., 20., 4., 50., 60.]])  # both map to level 0
    head._bbox_forward(x, rois)
    torch.testing.assert_close(seen['cls'], head.bbox_roi_extractor.roi_layers[0](x[0], rois))
    scaled = torch.tensor([[0., 3.2, 4.4, 44.8, 35.6], [0., 15.5, -4.4, 54.5, 68.4]])  # 1.3x about the centres
    torch.testing.assert_close(seen['reg'], head.bbox_roi_extractor.roi_layers[0](x[0], scaled))


# ---------------------------------------------------------------------------------------- Dynamic R-CNN
def _dynamic_head(initial_beta=10.0, update_iter_interval=1, loss_bbox=dict(type='SmoothL1Loss', beta=1.0)):
    dynamic = dict(iou_topk=3, beta_topk=3, update_iter_interval=update_iter_interval, initial_iou=0.4,
                   initial_beta=initial_beta)
    return build_head(dict(type='DynamicRoIHead', bbox_roi_extractor=_extractor_cfg(),
                           bbox_head=_shared2fc_cfg(loss_bbox),
                           train_cfg=_train_cfg(dict(type='RandomSampler', num=8, pos_fraction=0.5),
                                                dynamic_rcnn=dynamic)))


def test_update_sets_iou_thresholds_to_the_mean_and_beta_to_the_median():
    head = _dynamic_head(initial_beta=1.0)
    head.iou_history = [0.3, 0.5, 0.6]
    head.beta_history = [0.2, 0.05, 0.5]
    new_iou, new_beta = head.update_hyperparameters()
    assert new_iou == pytest.approx(1.4 / 3) and new_beta == pytest.approx(0.2)
    assigner = head.bbox_assigner
    assert assigner.pos_iou_thr == assigner.neg_iou_thr == assigner.min_pos_iou == new_iou
    assert head.bbox_head.loss_bbox.beta == new_beta
    assert head.iou_history == [] and head.beta_history == []


def test_update_never_goes_below_initial_iou_or_above_initial_beta():
    head = _dynamic_head(initial_beta=1.0)
    head.iou_history, head.beta_history = [0.1, 0.2], [3.0, 5.0]
    assert head.update_hyperparameters() == (0.4, 1.0)


def test_update_keeps_beta_when_the_median_target_is_zero():
    head = _dynamic_head(initial_beta=1.0)
    head.bbox_head.loss_bbox.beta = 0.3
    head.iou_history, head.beta_history = [0.5], [0.0, 0.0, 0.7]
    assert head.update_hyperparameters() == (0.5, 0.3)


def test_dynamic_step_records_topk_iou_and_kth_smallest_target_then_updates():
    # one ground truth [0, 0, 10, 10]; proposals with IoU 1, 0.5 (half height), 0.25 and 0; the ground truth
    # added as a proposal makes max IoUs [1, 1, 0.5, 0.25, 0]: the 3rd largest is 0.5. Positives: the gt, the
    # identical box (targets 0) and the half-height box (dy = (5 - 2.5) / 5 / 0.1 = 5, mean(|dx|, |dy|) = 2.5);
    # beta_topk * 2 images = 6th smallest of [0, 0, 2.5] * 2 is 2.5.
    head = _dynamic_head()
    proposals = torch.tensor([[0., 0., 10., 10., 1.], [0., 0., 10., 5., 1.], [0., 0., 5., 5., 1.],
                              [20., 20., 30., 30., 1.]])
    gt = torch.tensor([[0., 0., 10., 10.]])
    x = [torch.randn(2, 2, 16, 16)]
    losses = head.forward_train(x, [dict()] * 2, [proposals] * 2, [gt] * 2, [torch.tensor([1])] * 2)
    assert torch.isfinite(losses['loss_bbox'])
    assert head.bbox_assigner.pos_iou_thr == pytest.approx(0.5)
    assert head.bbox_head.loss_bbox.beta == pytest.approx(2.5)
    assert head.iou_history == [] and head.beta_history == []


def test_dynamic_histories_grow_until_the_interval():
    head = _dynamic_head(update_iter_interval=100)
    proposals = torch.tensor([[0., 0., 10., 10., 1.], [0., 0., 10., 5., 1.]])
    x = [torch.randn(1, 2, 16, 16)]
    for _ in range(2):
        head.forward_train(x, [dict()], [proposals], [torch.tensor([[0., 0., 10., 10.]])], [torch.tensor([0])])
    assert head.iou_history == [0.5, 0.5]  # max IoUs [1 (gt), 1, 0.5]: the 3rd largest
    assert len(head.beta_history) == 2 and head.bbox_assigner.pos_iou_thr == 0.4


def test_dynamic_head_needs_smooth_l1():
    with pytest.raises(TypeError, match='L1Loss'):
        _dynamic_head(loss_bbox=dict(type='L1Loss'))


# ------------------------------------------------------------------------------ Libra R-CNN's neck keys
def test_libra_neck_is_a_sequential_of_fpn_and_bfp_with_mmdetection_keys():
    cfg = Config.fromfile(str(CONFIGS / 'libra_rcnn' / 'libra_faster_rcnn_r50_fpn_1x_coco.py'))
    cfg.model.backbone.update(depth=18, init_cfg=None)
    cfg.model.neck[0].in_channels = [64, 128, 256, 512]
    model = build_detector(cfg.model)
    neck_keys = [(k, tuple(v.shape)) for k, v in model.state_dict().items() if k.startswith('neck.')]
    expected = []
    for i, cin in enumerate([64, 128, 256, 512]):
        expected += [(f'neck.0.lateral_convs.{i}.conv.weight', (256, cin, 1, 1)),
                     (f'neck.0.lateral_convs.{i}.conv.bias', (256, ))]
    for i in range(4):
        expected += [(f'neck.0.fpn_convs.{i}.conv.weight', (256, 256, 3, 3)),
                     (f'neck.0.fpn_convs.{i}.conv.bias', (256, ))]
    for name in ['g', 'conv_out', 'theta', 'phi']:
        expected += [(f'neck.1.refine.{name}.conv.weight', (256, 256, 1, 1)),
                     (f'neck.1.refine.{name}.conv.bias', (256, ))]
    assert neck_keys == expected
    assert type(model.roi_head.bbox_head.loss_bbox).__name__ == 'BalancedL1Loss'
    assert type(model.roi_head.bbox_sampler.neg_sampler).__name__ == 'IoUBalancedNegSampler'
