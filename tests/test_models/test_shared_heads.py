"""C4: the ResLayer shared head (2.28 keys ``roi_head.shared_head.layer4.*``) and the pooled -> shared head ->
average-pooled BBoxHead shape path."""
import pytest
import torch
from mmcv import Config
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_lite.models import build_head, build_shared_head

BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def _bn(prefix, channels):
    return [(f'{prefix}.{name}', () if name == 'num_batches_tracked' else (channels, )) for name in BN]


def _bottleneck_stage(prefix, num_blocks, in_channels, planes):
    """2.28 Bottleneck names: conv1/bn1 (1x1), conv2/bn2 (3x3), conv3/bn3 (1x1, 4x), downsample.{0,1} in block 0."""
    entries = []
    for block in range(num_blocks):
        p = f'{prefix}.{block}'
        block_in = in_channels if block == 0 else 4 * planes
        entries += [(f'{p}.conv1.weight', (planes, block_in, 1, 1))] + _bn(f'{p}.bn1', planes)
        entries += [(f'{p}.conv2.weight', (planes, planes, 3, 3))] + _bn(f'{p}.bn2', planes)
        entries += [(f'{p}.conv3.weight', (4 * planes, planes, 1, 1))] + _bn(f'{p}.bn3', 4 * planes)
        if block == 0:
            entries += [(f'{p}.downsample.0.weight', (4 * planes, in_channels, 1, 1))]
            entries += _bn(f'{p}.downsample.1', 4 * planes)
    return entries


def test_c4_roi_head_keys_and_shapes_follow_2_28():
    """The C4 config's roi_head as the detector holds it (keys here without the ``roi_head.`` prefix)."""
    cfg = Config.fromfile('configs/faster_rcnn/faster_rcnn_r50_caffe_c4_1x_coco.py')
    roi_head = build_head(dict(cfg.model.roi_head, train_cfg=cfg.model.train_cfg.rcnn,
                               test_cfg=cfg.model.test_cfg.rcnn))
    actual = [(k, tuple(v.shape)) for k, v in roi_head.state_dict().items()]
    expected = _bottleneck_stage('shared_head.layer4', 3, 1024, 512)
    expected += [('bbox_head.fc_cls.weight', (81, 2048)), ('bbox_head.fc_cls.bias', (81, )),
                 ('bbox_head.fc_reg.weight', (320, 2048)), ('bbox_head.fc_reg.bias', (320, ))]
    assert actual == expected


def test_c4_path_pools_14x14_runs_layer4_and_average_pools():
    torch.manual_seed(0)
    shared_head = build_shared_head(dict(type='ResLayer', depth=18, stage=3, stride=2, style='caffe',
                                         norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True))
    bbox_head = build_head(dict(type='BBoxHead', with_avg_pool=True, roi_feat_size=7, in_channels=512,
                                num_classes=3))
    pooled = torch.randn(2, 256, 14, 14)  # (R, C4 channels of ResNet-18, 14, 14) from the RoI extractor
    feats = shared_head(pooled)
    cls_score, bbox_pred = bbox_head(feats)
    assert tuple(feats.shape) == (2, 512, 7, 7)
    assert tuple(cls_score.shape) == (2, 4) and tuple(bbox_pred.shape) == (2, 12)
    torch.testing.assert_close(cls_score, bbox_head.fc_cls(feats.mean(dim=(2, 3))))


def test_norm_eval_keeps_batchnorm_in_eval_mode_while_training():
    shared_head = build_shared_head(dict(type='ResLayer', depth=18, stage=3, norm_eval=True))
    shared_head.train()
    assert all(not m.training for m in shared_head.modules() if isinstance(m, _BatchNorm))
    assert shared_head.layer4.training


@pytest.mark.parametrize('bad, error, message', [(dict(stage=4), ValueError, 'stage=4'),
                                                  (dict(depth=42), KeyError, 'depth=42'),
                                                  (dict(dcn=dict(type='DCN')), ValueError, 'dcn=')])
def test_bad_res_layer_config_raises(bad, error, message):
    cfg = dict(type='ResLayer', depth=18)
    cfg.update(bad)
    with pytest.raises(error, match=message):
        build_shared_head(cfg)
