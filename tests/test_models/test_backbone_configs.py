"""The ResNeXt / RegNet / Res2Net / ResNeSt / HRNet configs resolve to 2.28's values and agree with their necks."""
import re
from pathlib import Path

import pytest
from mmcv import Config

from mmdet_lite.models.backbones import RegNet

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'


def _load(relative):
    return Config.fromfile(str(CONFIGS / relative))


@pytest.mark.parametrize('relative', sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.glob('*/*_x101_*.py')))
def test_x101_configs_name_their_groups_and_width(relative):
    groups, width = map(int, re.search(r'x101_(\d+)x(\d+)d', relative).groups())
    backbone = _load(relative).model.backbone
    assert (backbone.type, backbone.depth, backbone.groups, backbone.base_width) == ('ResNeXt', 101, groups, width)
    suffix = '_gn_ws' if 'gn_ws' in relative else ''  # gn+ws/ starts from JHU's weight-standardised ResNeXt
    assert backbone.init_cfg.checkpoint.endswith(f'resnext101_{groups}x{width}d{suffix}')


@pytest.mark.parametrize('relative', sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.glob('regnet/*.py')))
def test_regnet_fpn_in_channels_are_the_stage_widths(relative):
    cfg = _load(relative)
    arch = RegNet.arch_settings[cfg.model.backbone.arch]
    regnet = RegNet.__new__(RegNet)  # only the width helpers are used; they need no built layers
    widths, _ = regnet.generate_regnet(arch['w0'], arch['wa'], arch['wm'], arch['depth'])
    stage_widths, _ = regnet.get_stages_from_blocks(widths)
    stage_widths, _ = regnet.adjust_width_group(stage_widths, [arch['bot_mul']] * 4, [arch['group_w']] * 4)
    assert cfg.model.neck.in_channels == stage_widths
    assert cfg.model.backbone.init_cfg.checkpoint == f'open-mmlab://{cfg.model.backbone.arch}'
    assert cfg.optimizer.weight_decay == 0.00005
    assert cfg.img_norm_cfg == dict(mean=[103.53, 116.28, 123.675], std=[57.375, 57.12, 58.395], to_rgb=False)


@pytest.mark.parametrize('relative', sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.glob('hrnet/*.py')))
def test_hrnet_neck_takes_stage4_channels(relative):
    model = _load(relative).model
    width = int(re.search(r'_w(\d+)_', relative).group(1))
    assert model.backbone.extra.stage4.num_channels == (width, 2 * width, 4 * width, 8 * width)
    assert model.neck == dict(type='HRFPN', in_channels=[width, 2 * width, 4 * width, 8 * width], out_channels=256)
    assert model.backbone.init_cfg.checkpoint == f'open-mmlab://msra/hrnetv2_w{width}'


def test_res2net_and_resnest_configs():
    res2net = _load('res2net/faster_rcnn_r2_101_fpn_2x_coco.py')
    assert res2net.model.backbone.type == 'Res2Net' and res2net.runner.max_epochs == 24
    s101 = _load('resnest/faster_rcnn_s101_fpn_syncbn-backbone+head_mstrain-range_1x_coco.py').model
    assert (s101.backbone.type, s101.backbone.depth, s101.backbone.stem_channels) == ('ResNeSt', 101, 128)
    assert s101.backbone.norm_cfg == dict(type='SyncBN', requires_grad=True) and not s101.backbone.norm_eval
    assert s101.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'


def test_rsb_config_loads_the_backbone_prefix_with_adamw():
    cfg = _load('resnet_strikes_back/faster_rcnn_r50_fpn_rsb-pretrain_1x_coco.py')
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    assert cfg.optimizer == dict(type='AdamW', lr=0.0002, weight_decay=0.05,
                                 paramwise_cfg=dict(norm_decay_mult=0., bypass_duplicate=True))
