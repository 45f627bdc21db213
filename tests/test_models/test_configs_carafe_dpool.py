"""The CARAFE and deformable-RoI-pooling configs resolve to MMDetection 2.28's values."""
from pathlib import Path

import pytest
from mmcv import Config

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'


def test_carafe_config_swaps_the_neck_and_pads_to_64():
    cfg = Config.fromfile(str(CONFIGS / 'carafe' / 'faster_rcnn_r50_fpn_carafe_1x_coco.py'))
    assert cfg.model.neck == dict(type='FPN_CARAFE', in_channels=[256, 512, 1024, 2048], out_channels=256,
                                  num_outs=5, start_level=0, end_level=-1, norm_cfg=None, act_cfg=None,
                                  order=('conv', 'norm', 'act'),
                                  upsample_cfg=dict(type='carafe', up_kernel=5, up_group=1, encoder_kernel=3,
                                                    encoder_dilation=1, compressed_channels=64))
    assert [t.size_divisor for t in cfg.data.train.pipeline if t.type == 'Pad'] == [64]
    test_transforms = cfg.data.test.pipeline[1].transforms
    assert [t.size_divisor for t in test_transforms if t.type == 'Pad'] == [64]
    assert cfg.data.val.pipeline == cfg.data.test.pipeline


@pytest.mark.parametrize('path, layer', [('dcn/faster_rcnn_r50_fpn_dpool_1x_coco.py', 'DeformRoIPoolPack'),
                                         ('dcnv2/faster_rcnn_r50_fpn_mdpool_1x_coco.py', 'ModulatedDeformRoIPoolPack')])
def test_dpool_configs_replace_the_roi_layer(path, layer):
    cfg = Config.fromfile(str(CONFIGS / path))
    extractor = cfg.model.roi_head.bbox_roi_extractor
    assert extractor.roi_layer == dict(type=layer, output_size=7, output_channels=256)  # _delete_ drops RoIAlign's
    assert extractor.featmap_strides == [4, 8, 16, 32] and extractor.out_channels == 256
