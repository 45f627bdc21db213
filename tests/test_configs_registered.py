"""Every config under configs/ loads and names only registered types.

Each ``type`` is looked up where MMDetection 2.x builds it, chosen by the nearest key naming the
dict (``assigner`` -> bbox assigners, ``norm_cfg`` -> mmcv's norm layers, ``pipeline`` -> pipelines,
...) or else by the top-level key (``model`` -> models, ``data`` -> datasets, ``runner`` ->
runners, ...); a type anywhere else must be in one of the registries. The build itself is
``tools/analysis_tools/check_configs.py``'s job (too slow for a unit test).
"""
from pathlib import Path

import pytest
from mmcv import Config
from mmcv.cnn import (ACTIVATION_LAYERS, CONV_LAYERS, INITIALIZERS, NORM_LAYERS, PADDING_LAYERS,
                      PLUGIN_LAYERS, UPSAMPLE_LAYERS)
from mmcv.runner import HOOKS, OPTIMIZERS, RUNNERS

import mmdet_lite.core  # noqa: F401  (registers hooks)
import mmdet_lite.datasets  # noqa: F401
import mmdet_lite.models  # noqa: F401
from mmdet_lite.core.anchor.builder import PRIOR_GENERATORS
from mmdet_lite.core.bbox.builder import BBOX_ASSIGNERS, BBOX_CODERS, BBOX_SAMPLERS
from mmdet_lite.core.bbox.iou_calculators.builder import IOU_CALCULATORS
from mmdet_lite.core.post_processing.bbox_nms import _NMS_OPS
from mmdet_lite.datasets.builder import DATASETS, PIPELINES
from mmdet_lite.models.builder import MODELS
from mmdet_lite.models.necks.fpg import FPG
from mmdet_lite.models.roi_heads.roi_extractors.single_level_roi_extractor import _ROI_LAYERS

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'

# What a dict under this key is built by (the nearest key naming a dict wins).
BY_KEY = {
    'assigner': [BBOX_ASSIGNERS], 'sampler': [BBOX_SAMPLERS], 'bbox_coder': [BBOX_CODERS],
    'anchor_generator': [PRIOR_GENERATORS], 'prior_generator': [PRIOR_GENERATORS],
    'iou_calculator': [IOU_CALCULATORS], 'roi_layer': [_ROI_LAYERS], 'nms': [_NMS_OPS],
    'init_cfg': [INITIALIZERS], 'conv_cfg': [CONV_LAYERS], 'dcn': [CONV_LAYERS],
    'norm_cfg': [NORM_LAYERS], 'act_cfg': [ACTIVATION_LAYERS], 'upsample_cfg': [UPSAMPLE_LAYERS],
    'pad_cfg': [PADDING_LAYERS], 'plugins': [PLUGIN_LAYERS], 'pipeline': [PIPELINES],
    'transforms': [PIPELINES], 'train_pipeline': [PIPELINES], 'test_pipeline': [PIPELINES],
    # guided anchoring's generators, coder, assigner and sampler
    'approx_anchor_generator': [PRIOR_GENERATORS], 'square_anchor_generator': [PRIOR_GENERATORS],
    'anchor_coder': [BBOX_CODERS], 'ga_assigner': [BBOX_ASSIGNERS], 'ga_sampler': [BBOX_SAMPLERS],
    # GRoIE's modules around the pooled features
    'pre_cfg': [PLUGIN_LAYERS], 'post_cfg': [PLUGIN_LAYERS],
    # Cascade RPN's AdaptiveConv: its ``type`` picks an offset rule, not a registered class
    'adapt_cfg': [{'dilation', 'offset'}],
    # FPG's transitions: built from its own table
    **{f'{name}_trans': [FPG.transition_types] for name in ('same_down', 'same_up', 'across_lateral', 'across_down',
                                                            'across_up', 'across_skip', 'output')},
}
# ... else what builds the top-level entry it is in.
BY_TOP_KEY = {'model': [MODELS], 'data': [DATASETS], 'optimizer': [OPTIMIZERS], 'runner': [RUNNERS],
              'optimizer_config': [HOOKS], 'log_config': [HOOKS], 'custom_hooks': [HOOKS]}
ALL = [registry for registries in (*BY_KEY.values(), *BY_TOP_KEY.values()) for registry in registries]


def registered(name: str, registries) -> bool:
    return any(name in registry if isinstance(registry, (dict, set)) else registry.get(name) is not None
               for registry in registries)


def registries_for(path: tuple):
    """The registries a ``type`` at ``path`` (keys and list indices from the top) is built from."""
    keys = [key for key in path if isinstance(key, str)]
    if 'plugins' in keys:  # plugins=[dict(cfg=dict(type=...), stages=...)]
        return BY_KEY['plugins']
    for key in reversed(keys):
        if key in BY_KEY:
            return BY_KEY[key]
    return BY_TOP_KEY.get(keys[0], ALL) if keys else ALL


def unknown_types(node, path=()):
    """``(path, type)`` of every dict under ``node`` whose ``type`` string is not registered
    where it would be built."""
    if isinstance(node, dict):
        found = []
        if isinstance(node.get('type'), str) and not registered(node['type'], registries_for(path)):
            found.append(('.'.join(map(str, path)), node['type']))
        for key, value in node.items():
            found += unknown_types(value, (*path, key))
        return found
    if isinstance(node, (list, tuple)):
        return [item for index, value in enumerate(node) for item in unknown_types(value, (*path, index))]
    return []


def test_every_config_loads_and_names_only_registered_types():
    # _base_ files are checked within the configs that inherit them (each load parses its chain)
    paths = sorted(path for path in CONFIGS.rglob('*.py') if '_base_' not in path.parts)
    assert len(paths) > 10
    problems = []
    for path in paths:
        name = path.relative_to(CONFIGS)
        try:
            cfg = Config.fromfile(str(path))
        except Exception as error:  # noqa: BLE001 - every config's problem in one message
            problems.append(f'{name}: does not load: {type(error).__name__}: {error}')
            continue
        problems += [f'{name}: {key_path}: {type_name!r} is not registered'
                     for key_path, type_name in unknown_types(cfg._cfg_dict.to_dict())]
    assert not problems, f'{len(problems)} problems:\n' + '\n'.join(problems)


@pytest.mark.parametrize('path, type_name, known', [
    (('model', 'backbone'), 'ResNet', True),
    (('model', 'backbone', 'norm_cfg'), 'ResNet', False),
    (('model', 'train_cfg', 'rcnn', 'sampler'), 'RandomSampler', True),
    (('model', 'train_cfg', 'rcnn', 'assigner'), 'RandomSampler', False),
    (('data', 'train', 'pipeline', 0), 'LoadImageFromFile', True),
    (('data', 'train'), 'LoadImageFromFile', False),
    (('model', 'test_cfg', 'rcnn', 'nms'), 'soft_nms', True),
    (('model', 'backbone', 'plugins', 0, 'cfg'), 'ContextBlock', True),
    (('runner', ), 'EpochBasedRunner', True),
])
def test_a_type_is_looked_up_where_it_is_built(path, type_name, known):
    assert registered(type_name, registries_for(path)) is known


def test_unknown_types_names_the_key_path():
    cfg = dict(model=dict(type='FasterRCNN', roi_head=dict(bbox_head=dict(type='Shared2FCBBoxHaed'))),
               data=dict(train=dict(pipeline=[dict(type='LoadImageFromFile'), dict(type='Rezise')])))
    assert unknown_types(cfg) == [('model.roi_head.bbox_head', 'Shared2FCBBoxHaed'),
                                  ('data.train.pipeline.1', 'Rezise')]
