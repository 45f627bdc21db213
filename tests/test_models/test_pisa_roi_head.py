"""PISARoIHead: same parameters as StandardRoIHead, ISR-N weights placed at the negatives, ISR-P/CARL losses."""
from types import SimpleNamespace

import torch
from mmcv import ConfigDict

from mmdet_lite.models import build_head
from mmdet_lite.models.roi_heads import PISARoIHead


def _roi_head_cfg(head_type):
    train_cfg = ConfigDict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                      match_low_quality=False, ignore_iof_thr=-1),
        sampler=dict(type='ScoreHLRSampler', num=16, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True,
                     k=0.5, bias=0., score_thr=0.0),
        pos_weight=-1, debug=False, isr=dict(k=2, bias=0), carl=dict(k=1, bias=0.2))
    return dict(type=head_type,
                bbox_roi_extractor=dict(type='SingleRoIExtractor',
                                        roi_layer=dict(type='RoIAlign', output_size=3, sampling_ratio=0),
                                        out_channels=4, featmap_strides=[8]),
                bbox_head=dict(type='Shared2FCBBoxHead', in_channels=4, fc_out_channels=8, roi_feat_size=3,
                               num_classes=2, loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)),
                train_cfg=train_cfg, test_cfg=None)


def test_pisa_roi_head_has_standard_roi_head_parameters():
    pisa = build_head(_roi_head_cfg('PISARoIHead'))
    standard = build_head(_roi_head_cfg('StandardRoIHead'))
    assert [(k, v.shape) for k, v in pisa.state_dict().items()] == \
        [(k, v.shape) for k, v in standard.state_dict().items()]


def test_forward_train_gives_finite_losses_with_carl():
    torch.manual_seed(0)
    head = build_head(_roi_head_cfg('PISARoIHead'))
    head.init_weights()
    x = [torch.randn(2, 4, 8, 8, requires_grad=True)]
    gt_bboxes = [torch.tensor([[4., 4., 30., 40.]]), torch.tensor([[10., 20., 50., 60.], [30., 0., 60., 30.]])]
    gt_labels = [torch.tensor([1]), torch.tensor([0, 1])]
    gen = torch.Generator().manual_seed(1)
    proposals = []
    for gts in gt_bboxes:
        jittered = gts.repeat(3, 1) + torch.randn(3 * len(gts), 4, generator=gen) * 3
        random = torch.rand(12, 2, generator=gen) * 40
        boxes = torch.cat([jittered, torch.cat([random, random + 20], dim=1)])
        proposals.append(torch.cat([boxes, torch.ones(len(boxes), 1)], dim=1))
    metas = [dict(img_shape=(64, 64, 3))] * 2
    losses = head.forward_train(x, metas, proposals, gt_bboxes, gt_labels)
    assert set(losses) == {'loss_cls', 'acc', 'loss_bbox', 'loss_carl'}
    total = losses['loss_cls'] + losses['loss_bbox'] + losses['loss_carl'].sum()
    assert torch.isfinite(total)
    total.backward()
    assert torch.isfinite(x[0].grad).all()


def test_negative_label_weights_go_to_each_images_negatives():
    results = [SimpleNamespace(pos_inds=torch.tensor([0, 1]), neg_inds=torch.tensor([4, 5, 6])),
               SimpleNamespace(pos_inds=torch.tensor([3]), neg_inds=torch.tensor([7, 8]))]
    targets = (torch.zeros(8, dtype=torch.long), torch.ones(8), torch.zeros(8, 4), torch.zeros(8, 4))
    weights = [torch.tensor([.1, .2, .3]), torch.tensor([.4, .5])]
    out = PISARoIHead._with_neg_label_weights(targets, results, weights)
    torch.testing.assert_close(out[1], torch.tensor([1., 1., .1, .2, .3, 1., .4, .5]))
