"""GenericRoIExtractor (GRoIE): aggregation against a per-RoI, per-level RoIAlign loop; 2.28 state-dict keys."""
import pytest
import torch
from torchvision.ops import roi_align

from mmdet_lite.models import build_roi_extractor

STRIDES = [4, 8]


def _cfg(**kwargs):
    cfg = dict(type='GenericRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=3, sampling_ratio=2),
               out_channels=2, featmap_strides=STRIDES)
    cfg.update(kwargs)
    return cfg


def _inputs():
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 2, 32 // s, 32 // s, generator=gen, dtype=torch.float64, requires_grad=True)
             for s in STRIDES]
    rois = torch.tensor([[0, 1., 2, 20, 25], [1, 4, 4, 12, 30], [0, 10, 0, 31, 9]], dtype=torch.float64)
    return feats, rois


def _naive_levels(feats, rois):
    """One torchvision RoIAlign call per RoI and level (plain loops)."""
    out = []
    for feat, stride in zip(feats, STRIDES):
        per_roi = [roi_align(feat, roi[None], (3, 3), 1. / stride, 2, True) for roi in rois]
        out.append(torch.cat(per_roi))
    return out


def test_sum_equals_sum_of_per_level_roi_aligns_values_and_gradients():
    extractor = build_roi_extractor(_cfg(aggregation='sum'))
    feats, rois = _inputs()
    out = extractor(feats, rois)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grads = torch.autograd.grad((out * weights).sum(), feats)
    naive = sum(_naive_levels(feats, rois))
    naive_grads = torch.autograd.grad((naive * weights).sum(), feats)
    torch.testing.assert_close(out, naive)
    for grad, naive_grad in zip(grads, naive_grads):
        torch.testing.assert_close(grad, naive_grad)


def test_concat_stacks_levels_along_channels():
    extractor = build_roi_extractor(_cfg(aggregation='concat', out_channels=4))
    feats, rois = _inputs()
    torch.testing.assert_close(extractor(feats, rois), torch.cat(_naive_levels(feats, rois), dim=1))


def test_concat_with_wrong_out_channels_raises():
    extractor = build_roi_extractor(_cfg(aggregation='concat', out_channels=3))
    feats, rois = _inputs()
    with pytest.raises(ValueError, match='out_channels=3'):
        extractor(feats, rois)


def test_unknown_aggregation_raises():
    with pytest.raises(ValueError, match="'mean'"):
        build_roi_extractor(_cfg(aggregation='mean'))


def test_pre_module_is_applied_to_each_level_before_summing():
    pre_cfg = dict(type='ConvModule', in_channels=2, out_channels=2, kernel_size=1, act_cfg=None)
    extractor = build_roi_extractor(_cfg(pre_cfg=pre_cfg)).double()
    feats, rois = _inputs()
    expected = sum(extractor.pre_module(level) for level in _naive_levels(feats, rois))
    torch.testing.assert_close(extractor(feats, rois), expected)


def test_groie_state_dict_keys_follow_2_28_names():
    """2.28 builds ``post_module`` (GeneralizedAttention '0100': query conv + appearance-geometry fcs) and then
    ``pre_module`` (ConvModule, bias since no norm) as plugin layers; RoIAlign has no parameters."""
    c = 8
    extractor = build_roi_extractor(_cfg(
        out_channels=c,
        pre_cfg=dict(type='ConvModule', in_channels=c, out_channels=c, kernel_size=5, padding=2, inplace=False),
        post_cfg=dict(type='GeneralizedAttention', in_channels=c, spatial_range=-1, num_heads=2,
                      attention_type='0100', kv_stride=2)))
    pos_dim = c // 2  # mmcv: position_embedding_dim (= in_channels) / 2 per direction
    expected = [('post_module.gamma', (1, )), ('post_module.query_conv.weight', (c, c, 1, 1)),
                ('post_module.value_conv.weight', (c, c, 1, 1)),
                ('post_module.appr_geom_fc_x.weight', (c, pos_dim)),
                ('post_module.appr_geom_fc_y.weight', (c, pos_dim)),
                ('post_module.proj_conv.weight', (c, c, 1, 1)), ('post_module.proj_conv.bias', (c, )),
                ('pre_module.conv.weight', (c, c, 5, 5)), ('pre_module.conv.bias', (c, ))]
    assert [(k, tuple(v.shape)) for k, v in extractor.state_dict().items()] == expected
