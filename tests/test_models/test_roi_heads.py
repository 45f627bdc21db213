"""RoI extractor level mapping and RCNN loss normalisation with hand-computed numbers."""
import math

import numpy as np
import torch
from mmcv import ConfigDict

from mmdet_lite.models import build_head, build_roi_extractor
from mmdet_lite.models.builder import LOSSES


def _extractor_cfg(finest_scale=56):
    return dict(type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                out_channels=2, featmap_strides=[4, 8, 16, 32], finest_scale=finest_scale)


def _extractor(finest_scale=56):
    return build_roi_extractor(_extractor_cfg(finest_scale))


def _square_rois(sides):
    sides = torch.tensor(sides, dtype=torch.float32)
    zeros = torch.zeros_like(sides)
    return torch.stack([zeros, zeros, zeros, sides, sides], dim=1)


def test_roi_levels_switch_at_112_224_448_for_finest_scale_56():
    rois = _square_rois([8, 111.9, 112, 223.9, 224, 447.9, 448, 2000])
    assert _extractor().map_roi_levels(rois, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_each_roi_is_pooled_from_its_level():
    feats = [torch.full((1, 2, 512 // s, 512 // s), float(level)) for level, s in enumerate([4, 8, 16, 32])]
    rois = _square_rois([50, 150, 300, 500])
    out = _extractor()(feats, rois)
    assert tuple(out.shape) == (4, 2, 7, 7)
    for level in range(4):  # bilinear weights sum to 1 up to float32 rounding
        torch.testing.assert_close(out[level], torch.full_like(out[level], float(level)))


def test_empty_levels_still_give_gradient_to_all_levels():
    feats = [torch.ones(1, 2, 16 // 2**i, 16 // 2**i, requires_grad=True) for i in range(4)]
    out = _extractor()(feats, _square_rois([20]))
    out.sum().backward()
    assert all(f.grad is not None for f in feats)


def _bbox_head_cfg(num_classes=3):
    return dict(type='Shared2FCBBoxHead', in_channels=2, fc_out_channels=8, roi_feat_size=7, num_classes=num_classes,
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                                target_stds=[0.1, 0.1, 0.2, 0.2]),
                reg_class_agnostic=False,
                loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                loss_bbox=dict(type='L1Loss', loss_weight=1.0))


def _bbox_head(num_classes=3):
    return build_head(_bbox_head_cfg(num_classes))


def test_rcnn_losses_are_normalised_by_all_sampled_rois():
    head = _bbox_head(num_classes=3)
    rois = torch.zeros(4, 5)
    labels = torch.tensor([2, 3, 3, 3])  # one positive of class 2, three background RoIs
    label_weights = torch.ones(4)
    bbox_targets = torch.zeros(4, 4)
    bbox_targets[0] = torch.tensor([1., 2., 3., 4.])
    bbox_weights = torch.zeros(4, 4)
    bbox_weights[0] = 1.0
    cls_score = torch.zeros(4, 4)
    cls_score[:, 0] = 0.5  # rows 0, 2, 3 predict class 0 (wrong)
    cls_score[1] = torch.tensor([0., 0., 0., 5.])  # one background RoI classified correctly
    bbox_pred = torch.full((4, 12), 100.0)  # other classes' slots must be ignored
    bbox_pred[0, 8:12] = 1.0
    losses = head.loss(cls_score, bbox_pred, rois, labels, label_weights, bbox_targets, bbox_weights)
    ce_wrong = math.log(math.exp(0.5) + 3)
    ce_confident = -math.log(math.exp(5) / (math.exp(5) + 3))
    assert torch.isclose(losses['loss_cls'], torch.tensor((3 * ce_wrong + ce_confident) / 4))
    assert torch.isclose(losses['loss_bbox'], torch.tensor((0 + 1 + 2 + 3) / 4.0))  # / R, not / positives
    assert torch.isclose(losses['acc'].reshape(()), torch.tensor(25.0))


def test_rcnn_bbox_loss_is_zero_without_positives():
    head = _bbox_head()
    bbox_pred = torch.randn(2, 12, requires_grad=True)
    losses = head.loss(torch.randn(2, 4), bbox_pred, torch.zeros(2, 5), torch.tensor([3, 3]), torch.ones(2),
                       torch.zeros(2, 4), torch.zeros(2, 4))
    assert losses['loss_bbox'].item() == 0.0
    losses['loss_bbox'].backward()
    assert torch.count_nonzero(bbox_pred.grad) == 0


def test_bbox_head_init_matches_mmdetection():
    torch.manual_seed(0)
    head = build_head(dict(type='Shared2FCBBoxHead', in_channels=256, fc_out_channels=1024, num_classes=80))
    head.init_weights()
    assert abs(head.fc_cls.weight.std().item() - 0.01) < 0.001
    assert abs(head.fc_reg.weight.std().item() - 0.001) < 0.0001
    xavier_normal_std = math.sqrt(2.0 / (12544 + 1024))
    assert abs(head.shared_fcs[0].weight.std().item() - xavier_normal_std) < 0.05 * xavier_normal_std
    assert torch.count_nonzero(head.shared_fcs[0].bias) == 0


def test_get_bboxes_rescales_to_original_image_and_applies_score_threshold():
    head = _bbox_head(num_classes=2)
    rois = torch.tensor([[0., 10., 10., 50., 50.]])
    cls_score = torch.tensor([[4.0, 0.0, 0.0]])  # class 0 wins
    bbox_pred = torch.zeros(1, 8)
    cfg = ConfigDict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)
    dets, labels = head.get_bboxes(rois, cls_score, bbox_pred, (100, 100, 3), [2.0, 2.0, 2.0, 2.0],
                                   rescale=True, cfg=cfg)
    assert labels.tolist() == [0]  # class 1 scores exp(0)/(e^4+2) = 0.018 < 0.05
    assert torch.allclose(dets[0, :4], torch.tensor([5., 5., 25., 25.]))
    assert torch.isclose(dets[0, 4], torch.tensor(math.exp(4) / (math.exp(4) + 2)))


def test_get_bboxes_with_rcnn_soft_nms_config_decays_overlapping_scores():
    head = _bbox_head(num_classes=1)
    # IoU 1/3 between the two RoIs; both class 0 with softmax scores e^2/(e^2+1) and 1/2
    rois = torch.tensor([[0., 0., 0., 30., 30.], [0., 15., 0., 45., 30.]])
    cls_score = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    cfg = ConfigDict(score_thr=0.05, nms=dict(type='soft_nms', iou_threshold=0.3, min_score=0.05),
                     max_per_img=100)
    dets, labels = head.get_bboxes(rois, cls_score, torch.zeros(2, 4), (100, 100, 3), None,
                                   rescale=False, cfg=cfg)
    top = math.exp(2) / (math.exp(2) + 1)
    assert labels.tolist() == [0, 0]
    torch.testing.assert_close(dets[:, 4], torch.tensor([top, 0.5 * 2 / 3]))




def _standard_roi_head(num_classes=3):
    torch.manual_seed(0)
    return build_head(dict(type='StandardRoIHead', bbox_roi_extractor=_extractor_cfg(),
                           bbox_head=_bbox_head_cfg(num_classes),
                           test_cfg=ConfigDict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
                                               max_per_img=100))).eval()


def _feats(num_imgs=1):
    return [torch.rand(num_imgs, 2, 64 // s, 64 // s) for s in (4, 8, 16, 32)]


def _meta(flip=False):
    return dict(img_shape=(64, 64, 3), ori_shape=(64, 64, 3), scale_factor=np.array([1., 1., 1., 1.]),
                flip=flip, flip_direction='horizontal')


def test_aug_test_without_proposals_gives_empty_per_class_arrays():
    head = _standard_roi_head(num_classes=3)
    with torch.no_grad():
        (result, ) = head.aug_test([_feats(), _feats()], [torch.zeros(0, 5)], [[_meta()], [_meta(flip=True)]])
    assert [r.shape for r in result] == [(0, 5)] * 3
    assert all(r.dtype == np.float32 for r in result)


def test_simple_test_without_proposals_gives_empty_per_class_arrays():
    head = _standard_roi_head(num_classes=3)
    with torch.no_grad():
        results = head.simple_test(_feats(2), [torch.zeros(0, 5), torch.zeros(0, 5)], [_meta(), _meta()])
    assert [[r.shape for r in result] for result in results] == [[(0, 5)] * 3] * 2


@LOSSES.register_module(force=True)
class _TwoLogitsPerClassLoss(torch.nn.Module):
    """A loss with 2.28's custom-head hooks: 2 logits per class + background, sigmoid scores, own accuracy."""
    custom_cls_channels = True
    custom_activation = True
    custom_accuracy = True

    def get_cls_channels(self, num_classes):
        return 2 * num_classes + 1

    def get_activation(self, cls_score):
        return cls_score.sigmoid()

    def get_accuracy(self, cls_score, labels):
        return dict(acc_objectness=cls_score.new_tensor(50.), acc_classes=cls_score.new_tensor(25.))

    def forward(self, cls_score, labels, weight=None, avg_factor=None, reduction_override=None):
        return dict(loss_cls_objectness=cls_score.sum() * 0, loss_cls_classes=cls_score.sum() * 0)


def test_bbox_head_custom_flags_default_to_false():
    head = _bbox_head(num_classes=3)
    assert (head.custom_cls_channels, head.custom_activation, head.custom_accuracy) == (False, False, False)
    assert head.fc_cls.out_features == 4


def test_bbox_head_defers_channels_scores_and_accuracy_to_a_custom_loss():
    head = build_head(dict(_bbox_head_cfg(num_classes=3), loss_cls=dict(type='_TwoLogitsPerClassLoss')))
    assert head.fc_cls.out_features == 7 and head.custom_accuracy
    cls_score = torch.zeros(2, 7)
    losses = head.loss(cls_score, None, torch.zeros(2, 5), torch.tensor([0, 3]), torch.ones(2), torch.zeros(2, 4),
                       torch.zeros(2, 4))
    assert list(losses) == ['loss_cls_objectness', 'loss_cls_classes', 'acc_objectness', 'acc_classes']
    _, scores = head.get_bboxes(torch.tensor([[0., 0., 0., 4., 4.]]), torch.zeros(1, 7), None, None, 1.0)
    assert scores.tolist() == [[0.5] * 7]  # sigmoid(0), not softmax's 1/7


# ---------------------------------------------------------------- batched targets, losses and level pooling
def _sampling_results(seed):
    """Three images: random ones with positives and negatives, one without ground truths (no positives) and
    one whose candidates are all assigned (no negatives)."""
    from mmdet_lite.core.bbox import SamplingResult
    torch.manual_seed(seed)
    kwargs = dict(p_ignore=0.0, p_use_label=True)
    return [SamplingResult.random(rng=seed, num_preds=20, num_gts=4, p_assigned=0.5, **kwargs),
            SamplingResult.random(rng=seed + 1, num_preds=6, num_gts=0, **kwargs),
            SamplingResult.random(rng=seed + 2, num_preds=5, num_gts=8, p_assigned=1.0, **kwargs)]


def _reference_targets(head, sampling_results, pos_weight):
    """MMDetection's per-image targets, concatenated: P positives then Q negatives per image."""
    labels, label_weights, bbox_targets, bbox_weights = [], [], [], []
    for res in sampling_results:
        num_pos, num_neg = len(res.pos_bboxes), len(res.neg_bboxes)
        img_labels = torch.full((num_pos + num_neg, ), head.num_classes, dtype=torch.long)
        img_label_weights = torch.zeros(num_pos + num_neg)
        img_targets = torch.zeros(num_pos + num_neg, 4)
        img_weights = torch.zeros(num_pos + num_neg, 4)
        if num_pos > 0:
            img_labels[:num_pos] = res.pos_gt_labels
            img_label_weights[:num_pos] = 1.0 if pos_weight <= 0 else pos_weight
            img_targets[:num_pos] = (res.pos_gt_bboxes if head.reg_decoded_bbox else
                                     head.bbox_coder.encode(res.pos_bboxes, res.pos_gt_bboxes))
            img_weights[:num_pos] = 1
        if num_neg > 0:
            img_label_weights[-num_neg:] = 1.0
        for out, value in zip((labels, label_weights, bbox_targets, bbox_weights),
                              (img_labels, img_label_weights, img_targets, img_weights)):
            out.append(value)
    return labels, label_weights, bbox_targets, bbox_weights


def test_batched_targets_equal_the_per_image_reference():
    for seed, pos_weight, decoded in [(0, -1, False), (3, 2.0, False), (5, -1, True)]:
        head = build_head(dict(_bbox_head_cfg(), reg_decoded_bbox=decoded))
        results = _sampling_results(seed)
        assert results[1].pos_bboxes.numel() == 0 and results[2].neg_bboxes.numel() == 0
        assert len(results[0].pos_bboxes) > 0 and len(results[0].neg_bboxes) > 0
        cfg = dict(pos_weight=pos_weight)
        expected = _reference_targets(head, results, pos_weight)
        for got, want in zip(head.get_targets(results, None, None, cfg), expected):
            assert torch.equal(got, torch.cat(want))
        for got, want in zip(head.get_targets(results, None, None, cfg, concat=False), expected):
            assert len(got) == 3 and all(torch.equal(g, w) for g, w in zip(got, want))


def _reference_loss(head, cls_score, bbox_pred, rois, labels, label_weights, bbox_targets, bbox_weights,
                    reduction_override=None):
    """MMDetection's BBoxHead.loss: boolean indexing of the positives and a host avg_factor."""
    avg_factor = max(torch.sum(label_weights > 0).float().item(), 1.)
    losses = dict(loss_cls=head.loss_cls(cls_score, labels, label_weights, avg_factor=avg_factor,
                                         reduction_override=reduction_override))
    pos = (labels >= 0) & (labels < head.num_classes)
    if not pos.any():
        losses['loss_bbox'] = bbox_pred[pos].sum()
        return losses
    if head.reg_decoded_bbox:
        bbox_pred = head.bbox_coder.decode(rois[:, 1:], bbox_pred)
    if head.reg_class_agnostic:
        pos_pred = bbox_pred.view(bbox_pred.size(0), 4)[pos]
    else:
        pos_pred = bbox_pred.view(bbox_pred.size(0), -1, 4)[pos, labels[pos]]
    losses['loss_bbox'] = head.loss_bbox(pos_pred, bbox_targets[pos], bbox_weights[pos],
                                         avg_factor=bbox_targets.size(0), reduction_override=reduction_override)
    return losses


def test_masked_loss_equals_the_boolean_indexed_reference():
    torch.manual_seed(0)
    num_rois, num_classes = 40, 3
    configs = [dict(), dict(reg_class_agnostic=True), dict(loss_bbox=dict(type='SmoothL1Loss', beta=0.5)),
               dict(reg_decoded_bbox=True, loss_bbox=dict(type='GIoULoss', loss_weight=2.0))]
    label_sets = {'mixed': torch.randint(0, num_classes + 1, (num_rois, )),
                  'no positives': torch.full((num_rois, ), num_classes),
                  'all positives': torch.randint(0, num_classes, (num_rois, ))}
    centres = torch.rand(num_rois, 2) * 50
    rois = torch.cat([torch.zeros(num_rois, 1), centres - 5, centres + 5 + torch.rand(num_rois, 2) * 20], 1)
    for extra in configs:
        head = build_head(dict(_bbox_head_cfg(num_classes), **extra))
        for name, labels in label_sets.items():
            # non-zero targets and weights on background rows too: only the labels make a row positive
            bbox_targets = (rois[:, 1:] + torch.rand(num_rois, 4) if head.reg_decoded_bbox else
                            torch.randn(num_rois, 4))
            inputs = (torch.randn(num_rois, num_classes + 1), rois, labels, torch.rand(num_rois).round(),
                      bbox_targets, torch.rand(num_rois, 4))
            outs = []
            for loss_fn in (head.loss, lambda *args: _reference_loss(head, *args)):
                cls_score = inputs[0].clone().requires_grad_()
                bbox_pred = torch.randn(num_rois, head.fc_reg.out_features, generator=torch.Generator().manual_seed(1))
                bbox_pred.requires_grad_()
                losses = loss_fn(cls_score, bbox_pred, *inputs[1:])
                (losses['loss_cls'] + losses['loss_bbox']).backward()
                outs.append((losses['loss_cls'], losses['loss_bbox'], cls_score.grad, bbox_pred.grad))
            (cls_loss, box_loss, cls_grad, box_grad), (ref_cls, ref_box, ref_cls_grad, ref_box_grad) = outs
            assert torch.equal(cls_loss, ref_cls) and torch.equal(cls_grad, ref_cls_grad), (extra, name)
            # the same terms summed over R rows instead of P: equal up to float32 summation order
            torch.testing.assert_close(box_loss, ref_box, rtol=1e-6, atol=0, msg=f'{extra} {name}')
            torch.testing.assert_close(box_grad, ref_box_grad, rtol=1e-6, atol=0, msg=f'{extra} {name}')


def test_masked_loss_without_reduction_gives_the_positive_rows():
    head = _bbox_head(num_classes=3)
    torch.manual_seed(0)
    labels = torch.tensor([0, 3, 2, 3, 1])
    inputs = (torch.randn(5, 4), torch.randn(5, 12), torch.zeros(5, 5), labels, torch.ones(5), torch.randn(5, 4),
              torch.ones(5, 4))
    got = head.loss(*inputs, reduction_override='none')['loss_bbox']
    want = _reference_loss(head, *inputs[:2], *inputs[2:], reduction_override='none')['loss_bbox']
    assert got.shape == (3, 4) and torch.equal(got, want)


def _reference_level_pooling(extractor, feats, rois, roi_scale_factor=None):
    """MMDetection's SingleRoIExtractor.forward: one boolean mask per level."""
    roi_feats = feats[0].new_zeros(rois.size(0), extractor.out_channels, 7, 7)
    target_lvls = extractor.map_roi_levels(rois, len(feats))
    if roi_scale_factor is not None:
        rois = extractor.roi_rescale(rois, roi_scale_factor)
    for level in range(len(feats)):
        inds = (target_lvls == level).nonzero(as_tuple=False).squeeze(1)
        if inds.numel() > 0:
            roi_feats[inds] = extractor.roi_layers[level](feats[level], rois[inds])
        else:
            roi_feats = roi_feats + feats[level].sum() * 0.
    return roi_feats


def test_level_sorted_pooling_equals_the_per_level_masked_reference():
    extractor = _extractor()
    torch.manual_seed(0)
    # sides 10-400: levels 0-2 only (level 3 starts at 448), RoIs of two images in mixed level order
    sides = torch.rand(30) * 390 + 10
    corners = torch.rand(30, 2) * 100
    rois = torch.cat([torch.randint(0, 2, (30, 1)).float(), corners, corners + sides[:, None]], 1)
    for roi_scale_factor in (None, 1.3):
        outs = []
        for pool in (extractor, lambda *args: _reference_level_pooling(extractor, *args)):
            feats = [torch.randn(2, 2, 128 // s, 128 // s, generator=torch.Generator().manual_seed(s)).requires_grad_()
                     for s in (1, 2, 4, 8)]
            out = pool(feats, rois, roi_scale_factor)
            (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
            outs.append((out, [f.grad for f in feats]))
        (out, grads), (ref_out, ref_grads) = outs
        assert torch.equal(out, ref_out)
        assert all(torch.equal(g, r) for g, r in zip(grads, ref_grads))
        assert torch.count_nonzero(grads[3]) == 0
    assert torch.equal(extractor(feats, rois[:0]), torch.zeros(0, 2, 7, 7))


def test_rois_of_negative_area_get_zero_features_and_the_others_their_level():
    # forward_dummy (get_flops.py) pools random RoIs, some with x2 < x1: no level, zero features
    feats = [torch.full((1, 2, 512 // s, 512 // s), float(level + 1)) for level, s in enumerate([4, 8, 16, 32])]
    rois = torch.cat([_square_rois([50, 300]), torch.tensor([[0., 40., 0., 10., 30.]])])
    assert _extractor().map_roi_levels(rois, 4).tolist() == [0, 2, 4]
    out = _extractor()(feats, rois)
    torch.testing.assert_close(out[:2], torch.stack([torch.full((2, 7, 7), 1.), torch.full((2, 7, 7), 3.)]))
    assert torch.equal(out[2], torch.zeros(2, 7, 7))


def test_sampled_rois_are_bbox2roi_of_each_images_sampled_boxes():
    from mmdet_lite.core.bbox import bbox2roi
    from mmdet_lite.models.roi_heads import StandardRoIHead
    results = _sampling_results(0)
    assert torch.equal(StandardRoIHead._sampled_rois(results), bbox2roi([res.bboxes for res in results]))


def test_valid_gts_drop_degenerate_boxes_only_when_there_are_some():
    from mmdet_lite.models.roi_heads import StandardRoIHead
    gts = [torch.tensor([[0., 0., 4., 4.], [5., 5., 5., 9.]]), torch.tensor([[1., 1., 2., 2.]])]
    labels = [torch.tensor([1, 2]), torch.tensor([0])]
    valid_gts, valid_labels = StandardRoIHead._valid_gts(gts, labels)
    assert [g.tolist() for g in valid_gts] == [[[0., 0., 4., 4.]], [[1., 1., 2., 2.]]]
    assert [lbl.tolist() for lbl in valid_labels] == [[1], [0]]
    kept_gts, kept_labels = StandardRoIHead._valid_gts(gts[1:] + [torch.zeros(0, 4)],
                                                         labels[1:] + [torch.zeros(0, dtype=torch.long)])
    assert kept_gts[0] is gts[1] and kept_labels[0] is labels[1]
