"""CascadeRPNHead: 2.28 state-dict names, AdaptiveConv's anchor-derived offsets by hand, losses and proposals."""
import torch
from mmcv import ConfigDict

from mmdet_lite.models import build_head
from mmdet_lite.models.dense_heads.cascade_rpn_head import AdaptiveConv, anchor_offset

CHANNELS = 8
STRIDES = [4, 8]


def _head():
    stage = dict(type='StageCascadeRPNHead', in_channels=CHANNELS, feat_channels=CHANNELS, reg_decoded_bbox=True,
                 loss_bbox=dict(type='IoULoss', linear=True, loss_weight=10.0))
    stages = [
        dict(stage, anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[1.0], strides=STRIDES),
             adapt_cfg=dict(type='dilation', dilation=3), bridged_feature=True, sampling=False, with_cls=False,
             bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=(.0, ) * 4, target_stds=(0.1, 0.1, 0.5, 0.5))),
        dict(stage, anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[1.0], strides=STRIDES),
             adapt_cfg=dict(type='offset'), bridged_feature=False, sampling=True, with_cls=True,
             bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=(.0, ) * 4,
                             target_stds=(0.05, 0.05, 0.1, 0.1)),
             loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    ]
    train_cfg = [
        ConfigDict(assigner=dict(type='RegionAssigner', center_ratio=0.2, ignore_ratio=0.5), allowed_border=-1,
                   pos_weight=-1, debug=False),
        ConfigDict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.7, min_pos_iou=0.3,
                                 ignore_iof_thr=-1),
                   sampler=dict(type='RandomSampler', num=64, pos_fraction=0.5, neg_pos_ub=-1,
                                add_gt_as_proposals=False), allowed_border=-1, pos_weight=-1, debug=False)
    ]
    test_cfg = ConfigDict(nms_pre=100, max_per_img=30, nms=dict(type='nms', iou_threshold=0.8), min_bbox_size=0)
    return build_head(dict(type='CascadeRPNHead', num_stages=2, stages=stages, train_cfg=train_cfg,
                           test_cfg=test_cfg))


def test_cascade_rpn_head_state_dict_follows_228_names():
    # stage 0: AdaptiveConv 'dilation' = nn.Conv2d with bias, no rpn_cls (with_cls=False);
    # stage 1: AdaptiveConv 'offset' = DeformConv2d without bias, rpn_cls (1 class) and rpn_reg (4).
    c = CHANNELS
    expected = [('stages.0.rpn_conv.conv.weight', (c, c, 3, 3)), ('stages.0.rpn_conv.conv.bias', (c, )),
                ('stages.0.rpn_reg.weight', (4, c, 1, 1)), ('stages.0.rpn_reg.bias', (4, )),
                ('stages.1.rpn_conv.conv.weight', (c, c, 3, 3)), ('stages.1.rpn_cls.weight', (1, c, 1, 1)),
                ('stages.1.rpn_cls.bias', (1, )), ('stages.1.rpn_reg.weight', (4, c, 1, 1)),
                ('stages.1.rpn_reg.bias', (4, ))]
    state = _head().state_dict()
    assert [(name, tuple(value.shape)) for name, value in state.items()] == expected


def test_anchor_offset_by_hand():
    # 3x4 map, stride 4; location (y=1, x=2) holds a 16x8 box centred at (10, 4):
    # centre offset x = 10 / 4 - 2 = 0.5, y = 4 / 4 - 1 = 0; shape offsets (16 / 4) / 2 - 1 = 1 per tap column,
    # (8 / 4) / 2 - 1 = 0 per tap row. Tap (i, j): offset y = 0, x = j + 0.5.
    anchors = torch.zeros(12, 4)
    anchors[1 * 4 + 2] = torch.tensor([2., 0., 18., 8.])
    offsets = anchor_offset(anchors, 4, (3, 4))
    expected = torch.tensor([[0., j + 0.5] for i in (-1, 0, 1) for j in (-1, 0, 1)]).reshape(-1)
    assert offsets.shape == (12, 18)
    assert torch.allclose(offsets[1 * 4 + 2], expected)


def test_adaptive_conv_samples_the_anchor_grid():
    # A box covering exactly 3x3 cells around each location gives zero offsets: a plain 3x3 convolution.
    torch.manual_seed(0)
    conv = AdaptiveConv(2, 3, type='offset')
    x = torch.rand(1, 2, 5, 6)
    ys, xs = torch.meshgrid(torch.arange(5.), torch.arange(6.), indexing='ij')
    centers = torch.stack([xs, ys], dim=-1).reshape(-1, 2) * 4
    anchors = torch.cat([centers - 4, centers + 4], dim=1)  # 8 px = 2 cells: taps one cell apart
    offsets = anchor_offset(anchors[None], 4, (5, 6))
    assert torch.allclose(offsets, torch.zeros_like(offsets))
    out = conv(x, offsets)
    assert torch.allclose(out, torch.nn.functional.conv2d(x, conv.conv.weight, padding=1), atol=1e-6)


def test_cascade_rpn_losses_and_proposals():
    torch.manual_seed(0)
    head = _head()
    head.init_weights()
    feats = [torch.rand(2, CHANNELS, 16, 16), torch.rand(2, CHANNELS, 8, 8)]
    img_metas = [dict(img_shape=(64, 64, 3), pad_shape=(64, 64, 3), scale_factor=1.0)] * 2
    gts = [torch.tensor([[0., 0., 32., 32.]]), torch.tensor([[10., 20., 60., 50.]])]
    losses, proposals = head.forward_train(feats, img_metas, gts, proposal_cfg=ConfigDict())
    assert sorted(losses) == ['s0.loss_rpn_reg', 's1.loss_rpn_cls', 's1.loss_rpn_reg']
    total = sum(sum(values) for values in losses.values())
    total.backward()
    assert torch.isfinite(total) and head.stages[1].rpn_conv.conv.weight.grad.abs().sum() > 0
    assert len(proposals) == 2 and all(p.shape[1] == 5 and p.shape[0] <= 30 for p in proposals)
    head.eval()
    with torch.no_grad():
        test_proposals = head.simple_test_rpn(feats, img_metas)
    assert all(p.shape[1] == 5 for p in test_proposals)
