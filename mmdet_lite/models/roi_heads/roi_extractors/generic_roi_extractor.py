"""RoI features pooled from every level and aggregated (MMDetection 2.x ``GenericRoIExtractor``, GRoIE,
https://arxiv.org/abs/2004.13665).

Symbols: R RoIs ``(R, 5)``; L levels; C channels of each level; S x S the RoI output size.
"""
from typing import Optional, Sequence

import torch
from mmcv.cnn import build_plugin_layer

from ....core.fp16 import force_fp32
from ...builder import ROI_EXTRACTORS
from .single_level_roi_extractor import BaseRoIExtractor

_AGGREGATIONS = ('sum', 'concat')


@ROI_EXTRACTORS.register_module()
class GenericRoIExtractor(BaseRoIExtractor):
    """Pool each RoI from all L levels, optionally pass each level's (R, C, S, S) features through ``pre_module``,
    aggregate them (``'sum'``: (R, C, S, S); ``'concat'``: (R, L*C, S, S) along channels, which must equal
    ``out_channels``), then optionally through ``post_module``.

    ``pre_cfg`` / ``post_cfg`` are mmcv plugin layers (e.g. ``ConvModule``, ``GeneralizedAttention``); the
    pre-module is shared by all levels.
    """

    def __init__(self,
                 roi_layer: dict,
                 out_channels: int,
                 featmap_strides: Sequence[int],
                 aggregation: str = 'sum',
                 pre_cfg: Optional[dict] = None,
                 post_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(roi_layer, out_channels, featmap_strides, init_cfg)
        if aggregation not in _AGGREGATIONS:
            raise ValueError(f'GenericRoIExtractor aggregation must be one of {_AGGREGATIONS}, got {aggregation!r}')
        self.aggregation = aggregation
        self.with_post = post_cfg is not None
        self.with_pre = pre_cfg is not None
        if self.with_post:
            self.post_module = build_plugin_layer(post_cfg, '_post_module')[1]
        if self.with_pre:
            self.pre_module = build_plugin_layer(pre_cfg, '_pre_module')[1]

    @force_fp32
    def forward(self, feats: Sequence[torch.Tensor], rois: torch.Tensor,
                roi_scale_factor: Optional[float] = None) -> torch.Tensor:
        """feats: L maps (N, C, Hl, Wl); rois (R, 5) -> (R, out_channels, S, S)."""
        self.check_rois(rois)
        if len(feats) == 1:
            return self.roi_layers[0](feats[0], rois)
        out_size = self.roi_layers[0].output_size
        if rois.size(0) == 0:
            return feats[0].new_zeros(0, self.out_channels, *out_size)
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        level_feats = []
        for feat, roi_layer in zip(feats, self.roi_layers):
            roi_feats = roi_layer(feat, rois)
            level_feats.append(self.pre_module(roi_feats) if self.with_pre else roi_feats)
        if self.aggregation == 'sum':
            roi_feats = torch.stack(level_feats).sum(0)
        else:
            roi_feats = torch.cat(level_feats, dim=1)
            if roi_feats.size(1) != self.out_channels:
                raise ValueError(f'concatenated RoI features have {roi_feats.size(1)} channels, '
                                 f'expected out_channels={self.out_channels}')
        if self.with_post:
            roi_feats = self.post_module(roi_feats)
        return roi_feats
