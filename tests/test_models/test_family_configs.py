"""PAFPN, Libra R-CNN, Double-Head, Dynamic R-CNN and OHEM configs resolve to MMDetection 2.28's values."""
from pathlib import Path

from mmcv import Config

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'


def _load(path):
    return Config.fromfile(str(CONFIGS / path))


def test_pafpn_config_swaps_the_neck():
    cfg = _load('pafpn/faster_rcnn_r50_pafpn_1x_coco.py')
    assert cfg.model.neck == dict(type='PAFPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5)


def test_libra_configs_use_bfp_balanced_l1_and_balanced_sampling():
    faster = _load('libra_rcnn/libra_faster_rcnn_r50_fpn_1x_coco.py')
    fast = _load('libra_rcnn/libra_fast_rcnn_r50_fpn_1x_coco.py')
    for cfg in (faster, fast):
        assert [n.type for n in cfg.model.neck] == ['FPN', 'BFP']
        assert cfg.model.neck[1] == dict(type='BFP', in_channels=256, num_levels=5, refine_level=2,
                                         refine_type='non_local')
        assert cfg.model.roi_head.bbox_head.loss_bbox == dict(type='BalancedL1Loss', alpha=0.5, gamma=1.5, beta=1.0,
                                                              loss_weight=1.0)
        assert cfg.model.train_cfg.rcnn.sampler == dict(
            type='CombinedSampler', num=512, pos_fraction=0.25, add_gt_as_proposals=True,
            pos_sampler=dict(type='InstanceBalancedPosSampler'),
            neg_sampler=dict(type='IoUBalancedNegSampler', floor_thr=-1, floor_fraction=0, num_bins=3))
    assert faster.model.train_cfg.rpn.sampler.neg_pos_ub == 5 and faster.model.train_cfg.rpn.allowed_border == -1
    assert fast.data.train.proposal_file == 'data/coco/libra_proposals/rpn_r50_fpn_1x_train2017.pkl'
    r101 = _load('libra_rcnn/libra_faster_rcnn_r101_fpn_1x_coco.py')
    assert r101.model.backbone.depth == 101 and r101.model.neck[1].type == 'BFP'
    x101 = _load('libra_rcnn/libra_faster_rcnn_x101_64x4d_fpn_1x_coco.py')
    assert (x101.model.backbone.type, x101.model.backbone.groups, x101.model.backbone.base_width) == ('ResNeXt', 64, 4)


def test_double_heads_config():
    cfg = _load('double_heads/dh_faster_rcnn_r50_fpn_1x_coco.py')
    roi_head = cfg.model.roi_head
    assert roi_head.type == 'DoubleHeadRoIHead' and roi_head.reg_roi_scale_factor == 1.3
    assert roi_head.bbox_head.type == 'DoubleConvFCBBoxHead' and 'num_shared_fcs' not in roi_head.bbox_head
    bbox_head = roi_head.bbox_head
    assert (bbox_head.num_convs, bbox_head.num_fcs, bbox_head.conv_out_channels) == (4, 2, 1024)
    assert roi_head.bbox_head.loss_cls.loss_weight == 2.0 and roi_head.bbox_head.loss_bbox.loss_weight == 2.0


def test_dynamic_rcnn_config():
    cfg = _load('dynamic_rcnn/dynamic_rcnn_r50_fpn_1x_coco.py')
    assert cfg.model.roi_head.type == 'DynamicRoIHead'
    assert cfg.model.train_cfg.rcnn.dynamic_rcnn == dict(iou_topk=75, beta_topk=10, update_iter_interval=100,
                                                         initial_iou=0.4, initial_beta=1.0)
    assert cfg.model.train_cfg.rpn_proposal.nms.iou_threshold == 0.85
    assert cfg.model.test_cfg.rpn.nms.iou_threshold == 0.85


def test_ohem_config_only_changes_the_rcnn_sampler_type():
    cfg = _load('faster_rcnn/faster_rcnn_r50_fpn_ohem_1x_coco.py')
    assert cfg.model.train_cfg.rcnn.sampler == dict(type='OHEMSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1,
                                                    add_gt_as_proposals=True)
