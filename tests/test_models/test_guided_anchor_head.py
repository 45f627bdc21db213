"""GARPNHead: 2.28 state-dict names, location / shape targets on a hand-made one-box case, losses, proposals."""
import torch
from mmcv import ConfigDict

from mmdet_lite.models import build_head

STRIDES = [4, 8]
CHANNELS = 8


def _head(ga_sampler=False):
    train_cfg = dict(
        ga_assigner=dict(type='ApproxMaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                         ignore_iof_thr=-1),
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler', num=64, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
        allowed_border=-1, pos_weight=-1, center_ratio=0.2, ignore_ratio=0.5, debug=False)
    test_cfg = dict(nms_pre=100, nms_post=50, max_per_img=20, nms=dict(type='nms', iou_threshold=0.7),
                    min_bbox_size=0)
    return build_head(dict(
        type='GARPNHead', in_channels=CHANNELS, feat_channels=CHANNELS,
        approx_anchor_generator=dict(type='AnchorGenerator', octave_base_scale=8, scales_per_octave=3,
                                     ratios=[0.5, 1.0, 2.0], strides=STRIDES),
        square_anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], scales=[8], strides=STRIDES),
        anchor_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4, target_stds=[0.07, 0.07, 0.14, 0.14]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4, target_stds=[0.07, 0.07, 0.11, 0.11]),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
        train_cfg=ConfigDict(train_cfg), test_cfg=ConfigDict(test_cfg)))


def test_garpn_head_state_dict_follows_228_names():
    # GARPNHead: rpn_conv (3x3) + GuidedAnchorHead's conv_loc (1), conv_shape (2 per anchor), FeatureAdaption
    # (conv_offset 1x1 from the 2 shape channels to deform_groups * 2 * 3 * 3 offsets, no bias; DeformConv2d
    # without bias), MaskedConv2d conv_cls (1 class) and conv_reg (4).
    c = CHANNELS
    expected = [('rpn_conv.weight', (c, c, 3, 3)), ('rpn_conv.bias', (c, )), ('conv_loc.weight', (1, c, 1, 1)),
                ('conv_loc.bias', (1, )), ('conv_shape.weight', (2, c, 1, 1)), ('conv_shape.bias', (2, )),
                ('feature_adaption.conv_offset.weight', (4 * 18, 2, 1, 1)),
                ('feature_adaption.conv_adaption.weight', (c, c, 3, 3)), ('conv_cls.weight', (1, c, 1, 1)),
                ('conv_cls.bias', (1, )), ('conv_reg.weight', (4, c, 1, 1)), ('conv_reg.bias', (4, ))]
    state = _head().state_dict()
    assert [(name, tuple(value.shape)) for name, value in state.items()] == expected


def test_ga_loc_targets_one_box_by_hand():
    head = _head()
    gt = [torch.tensor([[0., 0., 32., 32.]])]  # sqrt(area) 32 = octave_base_scale 8 * stride 4 -> level 0
    targets, weights, avg_factor = head.ga_loc_targets(gt, [(16, 16), (8, 8)])
    expected_target0 = torch.zeros(16, 16)
    expected_target0[3:6, 3:6] = 1  # centre: round(0.6 * 0 + 0.4 * 8) = 3 .. round(0.4 * 0 + 0.6 * 8) = 5
    expected_weight0 = torch.full((16, 16), 0.1)
    expected_weight0[2:7, 2:7] = 0  # ignore region 2 .. 6
    expected_weight0[3:6, 3:6] = 1
    expected_weight1 = torch.full((8, 8), 0.1)
    expected_weight1[1:4, 1:4] = 0  # the box's ignore region on the next level (box / 8 -> 1 .. 3)
    assert torch.equal(targets[0][0, 0], expected_target0)
    assert torch.equal(targets[1], torch.zeros(1, 1, 8, 8))
    assert torch.equal(weights[0][0, 0], expected_weight0)
    assert torch.equal(weights[1][0, 0], expected_weight1)
    assert avg_factor == (256 + 64) / 200


def test_ga_shape_targets_one_box_match_max_over_approxs():
    head = _head()
    featmap_sizes = [(16, 16), (8, 8)]
    img_metas = [dict(img_shape=(64, 64, 3), pad_shape=(64, 64, 3))]
    gt = torch.tensor([[4., 0., 36., 32.]])
    approxs, inside = head.get_sampled_approxs(featmap_sizes, img_metas, device='cpu')
    squares = head.square_anchor_generator.grid_priors(featmap_sizes, device='cpu')
    anchors, gts, weights, num_pos, _ = head.ga_shape_targets(approxs, inside, [squares], [gt], img_metas)
    flat_squares = torch.cat(squares)
    flat_approxs = torch.cat(approxs[0]).view(-1, 9, 4)
    best = torch.stack([head.ga_assigner.iou_calculator(gt, a).max() for a in flat_approxs])
    expected_pos = (best >= 0.7) | (best == best.max())
    pos = torch.cat([w[0, :, 0] for w in weights]) > 0
    assert torch.equal(pos, expected_pos) and num_pos == int(expected_pos.sum())
    assert torch.equal(torch.cat([a[0] for a in anchors])[pos], flat_squares[pos])
    assert torch.equal(torch.cat([g[0] for g in gts])[pos], gt.expand(int(pos.sum()), 4))
    # the square centred on the box (16 + 4, 16) at level 0 location (y=4, x=5)
    assert pos[4 * 16 + 5]


def test_garpn_losses_and_proposals():
    torch.manual_seed(0)
    head = _head()
    head.init_weights()
    feats = [torch.rand(2, CHANNELS, 16, 16), torch.rand(2, CHANNELS, 8, 8)]
    img_metas = [dict(img_shape=(64, 64, 3), pad_shape=(64, 64, 3), scale_factor=1.0)] * 2
    gts = [torch.tensor([[0., 0., 32., 32.]]), torch.tensor([[10., 20., 60., 50.], [2., 2., 14., 18.]])]
    losses = head.forward_train(feats, img_metas, gts)
    assert sorted(losses) == ['loss_anchor_loc', 'loss_anchor_shape', 'loss_rpn_bbox', 'loss_rpn_cls']
    total = sum(sum(values) for values in losses.values())
    total.backward()
    assert torch.isfinite(total) and head.conv_shape.weight.grad.abs().sum() > 0
    head.eval()
    with torch.no_grad():
        cls_score = head(feats)[0][0]
        proposals = head.simple_test_rpn(feats, img_metas)
    loc_kept = head.conv_loc(torch.relu(head.rpn_conv(feats[0]))).sigmoid() >= head.loc_filter_thr
    assert torch.all(cls_score[~loc_kept.expand_as(cls_score)] == 0)  # masked conv outside kept locations
    assert len(proposals) == 2 and all(p.shape[1] == 5 and p.shape[0] <= 20 for p in proposals)
