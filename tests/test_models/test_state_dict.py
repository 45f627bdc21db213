"""Faster R-CNN R50-FPN built from the 1x config has MMDetection 2.18's 348 state-dict entries (spec §6.16)."""
import pytest
from mmcv import Config

from mmdet_lite.models import build_detector

from .tiny_faster_rcnn import CONFIG

BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def _bn(prefix, channels):
    return [(f'{prefix}.{name}', () if name == 'num_batches_tracked' else (channels, )) for name in BN]


def expected_entries():
    """Names and shapes from the rules of spec §6.16, in MMDetection's order."""
    entries = [('backbone.conv1.weight', (64, 3, 7, 7))] + _bn('backbone.bn1', 64)
    in_channels = 64
    for layer, (num_blocks, planes) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], start=1):
        for block in range(num_blocks):
            prefix = f'backbone.layer{layer}.{block}'
            block_in = in_channels if block == 0 else 4 * planes
            entries += [(f'{prefix}.conv1.weight', (planes, block_in, 1, 1))] + _bn(f'{prefix}.bn1', planes)
            entries += [(f'{prefix}.conv2.weight', (planes, planes, 3, 3))] + _bn(f'{prefix}.bn2', planes)
            entries += [(f'{prefix}.conv3.weight', (4 * planes, planes, 1, 1))] + _bn(f'{prefix}.bn3', 4 * planes)
            if block == 0:
                entries += [(f'{prefix}.downsample.0.weight', (4 * planes, in_channels, 1, 1))]
                entries += _bn(f'{prefix}.downsample.1', 4 * planes)
        in_channels = 4 * planes
    for i, cin in enumerate([256, 512, 1024, 2048]):
        entries += [(f'neck.lateral_convs.{i}.conv.weight', (256, cin, 1, 1)), (f'neck.lateral_convs.{i}.conv.bias', (256, ))]
    for i in range(4):
        entries += [(f'neck.fpn_convs.{i}.conv.weight', (256, 256, 3, 3)), (f'neck.fpn_convs.{i}.conv.bias', (256, ))]
    entries += [('rpn_head.rpn_conv.weight', (256, 256, 3, 3)), ('rpn_head.rpn_conv.bias', (256, )),
                ('rpn_head.rpn_cls.weight', (3, 256, 1, 1)), ('rpn_head.rpn_cls.bias', (3, )),
                ('rpn_head.rpn_reg.weight', (12, 256, 1, 1)), ('rpn_head.rpn_reg.bias', (12, ))]
    entries += [('roi_head.bbox_head.fc_cls.weight', (81, 1024)), ('roi_head.bbox_head.fc_cls.bias', (81, )),
                ('roi_head.bbox_head.fc_reg.weight', (320, 1024)), ('roi_head.bbox_head.fc_reg.bias', (320, )),
                ('roi_head.bbox_head.shared_fcs.0.weight', (1024, 12544)),
                ('roi_head.bbox_head.shared_fcs.0.bias', (1024, )),
                ('roi_head.bbox_head.shared_fcs.1.weight', (1024, 1024)),
                ('roi_head.bbox_head.shared_fcs.1.bias', (1024, ))]
    return entries


@pytest.fixture(scope='module')
def r50_model():
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.backbone.init_cfg = None
    return build_detector(cfg.model)


def test_state_dict_has_mmdetection_2_18s_348_entries(r50_model):
    assert len(r50_model.state_dict()) == 348


def test_state_dict_names_shapes_and_order_match_mmdetection(r50_model):
    actual = [(name, tuple(t.shape)) for name, t in r50_model.state_dict().items()]
    assert actual == expected_entries()


def test_parameter_counts_match_mmdetection(r50_model):
    params = list(r50_model.parameters())
    assert len(params) == 189
    assert sum(p.numel() for p in params) == 41_753_056
    # frozen_stages=1 freezes conv1, bn1 and layer1
    assert sum(p.numel() for p in params if p.requires_grad) == 41_527_712


def test_rpn_r50_fpn_state_dict_is_faster_rcnns_without_the_roi_head():
    cfg = Config.fromfile(str(CONFIG.parents[1] / 'rpn' / 'rpn_r50_fpn_1x_coco.py'))
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model)
    actual = [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
    assert actual == [entry for entry in expected_entries() if not entry[0].startswith('roi_head.')]
    assert len(actual) == 340
    params = list(model.parameters())
    assert len(params) == 181 and sum(p.numel() for p in params) == 27_446_351
    assert sum(p.numel() for p in params if p.requires_grad) == 27_221_007
