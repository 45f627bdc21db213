"""SABLHead: 2.28 state-dict names/shapes, output shapes, side-aware split order, losses and test boxes."""
from types import SimpleNamespace

import torch
from mmcv import ConfigDict

from mmdet_lite.models import build_head

C = 8


def _head(**kwargs):
    cfg = dict(type='SABLHead', num_classes=3, cls_in_channels=C, reg_in_channels=C, cls_out_channels=16,
               reg_offset_out_channels=C, reg_cls_out_channels=C)
    cfg.update(kwargs)
    torch.manual_seed(0)
    head = build_head(cfg)
    head.init_weights()
    return head


def test_state_dict_keys_and_shapes_follow_2_28():
    """Creation order of 2.28: cls_fcs, upsample_x/y (ConvTranspose1d, ratio 2), reg_pre_convs (2 x 3x3),
    reg_post_conv_xs (1x3) / ys (3x1), attention convs, fc_cls, (no reg fcs), fc_reg_cls, fc_reg_offset."""
    expected = [('cls_fcs.0.weight', (16, C * 49)), ('cls_fcs.0.bias', (16, )),
                ('upsample_x.weight', (C, C, 2)), ('upsample_x.bias', (C, )),
                ('upsample_y.weight', (C, C, 2)), ('upsample_y.bias', (C, ))]
    for i in range(2):
        expected += [(f'reg_pre_convs.{i}.conv.weight', (C, C, 3, 3)), (f'reg_pre_convs.{i}.conv.bias', (C, ))]
    expected += [('reg_post_conv_xs.0.conv.weight', (C, C, 1, 3)), ('reg_post_conv_xs.0.conv.bias', (C, )),
                 ('reg_post_conv_ys.0.conv.weight', (C, C, 3, 1)), ('reg_post_conv_ys.0.conv.bias', (C, )),
                 ('reg_conv_att_x.weight', (1, C, 1, 1)), ('reg_conv_att_x.bias', (1, )),
                 ('reg_conv_att_y.weight', (1, C, 1, 1)), ('reg_conv_att_y.bias', (1, )),
                 ('fc_cls.weight', (4, 16)), ('fc_cls.bias', (4, )),
                 ('fc_reg_cls.weight', (1, C)), ('fc_reg_cls.bias', (1, )),
                 ('fc_reg_offset.weight', (1, C)), ('fc_reg_offset.bias', (1, ))]
    assert [(k, tuple(v.shape)) for k, v in _head().state_dict().items()] == expected


def test_forward_shapes_and_side_aware_split_order():
    head = _head()
    cls_score, (bucket_cls, bucket_offset) = head(torch.randn(5, C, 7, 7))
    assert tuple(cls_score.shape) == (5, 4)
    assert tuple(bucket_cls.shape) == (5, 28) and tuple(bucket_offset.shape) == (5, 28)
    positions = torch.arange(14.)[None]
    # left side: positions 0..6; right side: 13..7 (counted inwards from the right edge)
    assert head.side_aware_split(positions).tolist() == [list(range(7)) + list(range(13, 6, -1))]


def _sampling_result():
    pos = torch.tensor([[10., 10., 40., 50.], [0., 5., 30., 30.]])
    return SimpleNamespace(pos_bboxes=pos, neg_bboxes=torch.tensor([[60., 60., 70., 70.]]),
                           pos_gt_bboxes=pos + torch.tensor([2., -1., 3., 4.]), pos_gt_labels=torch.tensor([0, 2]))


def test_targets_and_losses_are_finite_and_only_positives_regress():
    head = _head()
    labels, label_weights, bbox_targets, bbox_weights = head.get_targets([_sampling_result()], None, None, None)
    assert labels.tolist() == [0, 2, 3] and label_weights.tolist() == [1., 1., 1.]
    assert bbox_weights[0][2].sum() == 0 and bbox_weights[1][2].sum() == 0
    assert bbox_targets[0][:2].view(2, 4, 7).sum(2).tolist() == [[1.] * 4] * 2  # one bucket label per side
    assert (bbox_weights[1][:2].view(2, 4, 7).sum(2) >= 1).all()  # the nearest bucket always regresses
    cls_score, bbox_pred = head(torch.randn(3, C, 7, 7))
    losses = head.loss(cls_score, bbox_pred, None, labels, label_weights, bbox_targets, bbox_weights)
    assert set(losses) == {'loss_cls', 'acc', 'loss_bbox_cls', 'loss_bbox_reg'}
    assert all(torch.isfinite(v).all() for v in losses.values())


def test_get_bboxes_runs_nms_with_localisation_confidence():
    head = _head()
    rois = torch.tensor([[0., 10., 10., 40., 50.], [0., 0., 5., 30., 30.]])
    cls_score, bbox_pred = head(torch.randn(2, C, 7, 7))
    bboxes, scores = head.get_bboxes(rois, cls_score, bbox_pred, (64, 64, 3), 1.0)
    assert tuple(bboxes.shape) == (2, 4) and tuple(scores.shape) == (2, 4)
    cfg = ConfigDict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10)
    det_bboxes, det_labels = head.get_bboxes(rois, cls_score, bbox_pred, (64, 64, 3), [2., 2., 2., 2.],
                                             rescale=True, cfg=cfg)
    assert det_bboxes.shape[1] == 5 and det_bboxes[:, :4].max() <= 63 / 2
    _, confidence = head.bbox_coder.decode(rois[:, 1:], bbox_pred)
    assert det_bboxes[:, 4].max() <= scores[:, :3].max() * confidence.max() + 1e-6
