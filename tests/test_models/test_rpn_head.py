"""RPN losses: normalised by the batch's sampled anchors (MMDetection counts max(#, 1) per image)."""
import math

import pytest
import torch
from mmcv import ConfigDict

from mmdet_lite.models import build_head

from .tiny_faster_rcnn import img_metas, tiny_model_cfg


def _rpn_head():
    cfg = tiny_model_cfg()
    head_cfg = dict(cfg.rpn_head)
    head_cfg.update(train_cfg=cfg.train_cfg.rpn, test_cfg=cfg.test_cfg.rpn)
    return build_head(head_cfg)


def _zero_outputs(num_imgs, height=128, width=160):
    sizes = [(height // s, width // s) for s in (4, 8, 16, 32)] + [(height // 64 + 1, width // 64 + 1)]
    return ([torch.zeros(num_imgs, 3, h, w) for h, w in sizes], [torch.zeros(num_imgs, 12, h, w) for h, w in sizes])


def test_rpn_cls_loss_is_mean_bce_over_sampled_anchors():
    head = _rpn_head()
    cls_scores, bbox_preds = _zero_outputs(1)
    torch.manual_seed(0)
    losses = head.loss(cls_scores, bbox_preds, [torch.tensor([[20., 20., 90., 100.]])], img_metas(1))
    assert len(losses['loss_rpn_cls']) == 5
    # every sampled anchor has logit 0 -> BCE ln 2; sum / number sampled = ln 2
    assert math.isclose(sum(losses['loss_rpn_cls']).item(), math.log(2), rel_tol=1e-5)


def test_rpn_bbox_loss_divides_by_sampled_anchors_not_positives():
    head = _rpn_head()
    cls_scores, bbox_preds = _zero_outputs(1)
    gt = [torch.tensor([[20., 20., 90., 100.]])]
    anchor_list, valid_flags = head.get_anchors([c.shape[-2:] for c in cls_scores], img_metas(1), device='cpu')
    torch.manual_seed(0)
    _, label_weights, bbox_targets, bbox_weights, num_pos, num_neg = head.get_targets(
        anchor_list, valid_flags, gt, img_metas(1))
    expected = sum((t.abs() * w).sum() for t, w in zip(bbox_targets, bbox_weights)) / (num_pos + num_neg)
    assert num_pos + num_neg == 256 and num_pos < 128
    torch.manual_seed(0)
    losses = head.loss(cls_scores, bbox_preds, gt, img_metas(1))
    assert torch.isclose(sum(losses['loss_rpn_bbox']), expected)


def test_image_without_gt_counts_one_positive_in_normaliser():
    head = _rpn_head()
    cls_scores, bbox_preds = _zero_outputs(2)
    torch.manual_seed(0)
    losses = head.loss(cls_scores, bbox_preds, [torch.tensor([[20., 20., 90., 100.]]), torch.zeros(0, 4)],
                       img_metas(2))
    # 256 sampled anchors in each image; the empty image adds max(0, 1) = 1 to the positive count
    assert math.isclose(sum(losses['loss_rpn_cls']).item(), math.log(2) * 512 / 513, rel_tol=1e-5)


def test_anchors_outside_own_padded_shape_are_not_sampled():
    head = _rpn_head()
    cls_scores, bbox_preds = _zero_outputs(2)
    metas = img_metas(2)
    metas[1].update(img_shape=(64, 160, 3), pad_shape=(64, 160, 3))  # second image only fills the top half
    anchor_list, valid_flags = head.get_anchors([c.shape[-2:] for c in cls_scores], metas, device='cpu')
    _, label_weights, _, _, _, _ = head.get_targets(anchor_list, valid_flags, [torch.zeros(0, 4)] * 2, metas)
    level0 = label_weights[0][1].view(32, 40, 3)
    assert level0[16:].sum() == 0 and level0[:16].sum() > 0


def test_proposals_are_sorted_clipped_and_capped():
    head = _rpn_head()
    torch.manual_seed(0)
    cls_scores = [torch.randn(1, 3, h, w) for h, w in [(32, 40), (16, 20), (8, 10), (4, 5), (2, 3)]]
    bbox_preds = [torch.randn(1, 12, h, w) for h, w in [(32, 40), (16, 20), (8, 10), (4, 5), (2, 3)]]
    cfg = ConfigDict(nms_pre=50, max_per_img=30, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)
    (proposals, ) = head.get_bboxes(cls_scores, bbox_preds, img_metas=img_metas(1, 100, 150), cfg=cfg)
    assert proposals.shape == (30, 5)
    assert torch.all(proposals[:-1, 4] >= proposals[1:, 4])
    assert proposals[:, [0, 2]].max() <= 150 and proposals[:, [1, 3]].max() <= 100 and proposals[:, :4].min() >= 0
    assert torch.all(proposals[:, 2] > proposals[:, 0]) and torch.all(proposals[:, 3] > proposals[:, 1])


def test_anchor_head_get_bboxes_runs_multiclass_nms_per_image():
    head = build_head(dict(type='AnchorHead', num_classes=2, in_channels=4,
                           anchor_generator=dict(type='AnchorGenerator', scales=[4], ratios=[1.0], strides=[8]),
                           test_cfg=dict(nms_pre=10, score_thr=0.5, nms=dict(type='nms', iou_threshold=0.5),
                                         max_per_img=5)))
    cls_score = torch.full((2, 2, 4, 4), -10.0)
    cls_score[0, 1, 1, 2] = 10.0  # image 0: class 1 at location (y=1, x=2) -> anchor centred at (16, 8)
    bbox_pred = torch.zeros(2, 4, 4, 4)
    metas = img_metas(2, 32, 32)
    (dets0, labels0), (dets1, labels1) = head.get_bboxes([cls_score], [bbox_pred], img_metas=metas)
    assert labels0.tolist() == [1] and dets1.shape == (0, 5) and labels1.shape == (0, )
    assert torch.allclose(dets0[0, :4], torch.tensor([0., -8., 32., 24.]).clamp(min=0))


def _random_outputs(num_imgs, channels, seed, height=128, width=160):
    generator = torch.Generator().manual_seed(seed)
    sizes = [(height // s, width // s) for s in (4, 8, 16, 32)] + [(height // 64 + 1, width // 64 + 1)]
    cls_scores = [torch.randn(num_imgs, 3 * channels, h, w, generator=generator).requires_grad_() for h, w in sizes]
    bbox_preds = [(torch.randn(num_imgs, 12, h, w, generator=generator) * 0.3).requires_grad_() for h, w in sizes]
    return cls_scores, bbox_preds


@pytest.mark.parametrize('head_changes', [
    dict(),  # the R50-FPN config's: sigmoid cross entropy and L1
    dict(loss_bbox=dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=2.0),
         loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=0.5)),
    dict(reg_decoded_bbox=True),
    dict(loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False), sampler=dict(type='PseudoSampler')),
])
def test_all_levels_loss_equals_a_loss_per_level(monkeypatch, head_changes):
    cfg = tiny_model_cfg()
    head_cfg = dict(cfg.rpn_head)
    train_cfg = ConfigDict(cfg.train_cfg.rpn)
    if 'sampler' in head_changes:
        train_cfg.sampler = head_changes.pop('sampler')
    head_cfg.update(head_changes, train_cfg=train_cfg, test_cfg=cfg.test_cfg.rpn)
    head = build_head(head_cfg)
    gts = [torch.tensor([[20., 20., 90., 100.], [5., 60., 50., 120.]]), torch.zeros(0, 4),
           torch.tensor([[100., 10., 150., 70.]])]
    results = []
    for all_levels in (True, False):
        monkeypatch.setattr(type(head), '_loss_all_levels_applies', lambda self, value=all_levels: value)
        cls_scores, bbox_preds = _random_outputs(3, head.cls_out_channels, seed=0)
        torch.manual_seed(0)
        losses = head.loss(cls_scores, bbox_preds, gts, img_metas(3))
        sum(sum(level) for level in losses.values()).backward()
        results.append((losses, [x.grad for x in cls_scores + bbox_preds]))
    (losses, grads), (expected, expected_grads) = results
    for name in ('loss_rpn_cls', 'loss_rpn_bbox'):
        assert len(losses[name]) == 5
        torch.testing.assert_close(torch.stack(losses[name]), torch.stack(expected[name]), rtol=1e-5, atol=1e-7)
    assert sum(expected['loss_rpn_bbox']) > 0
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-8)
