"""RoI feature extraction from the FPN level that matches each RoI's scale (MMDetection 2.x
``SingleRoIExtractor``), with ``RoIAlign`` backed by ``torchvision.ops.roi_align`` on GPUs and by a sparse
matrix product (``sparse_roi_align``, the same function) on the CPU.

Symbols: R RoIs as ``(R, 5)`` rows ``(batch_idx, x1, y1, x2, y2)`` in input-image pixels; L levels with
strides ``featmap_strides``; C ``out_channels``; S x S the RoI output size.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.runner import BaseModule
from torch.nn.modules.utils import _pair
from torchvision.ops import roi_align, roi_pool

from ....core.fp16 import force_fp32
from ....ops import DeformRoIPool, DeformRoIPoolPack, ModulatedDeformRoIPoolPack
from ...builder import ROI_EXTRACTORS
from .sparse_roi_align import sparse_roi_align


class RoIAlign(nn.Module):
    """mmcv's ``RoIAlign`` interface over torchvision: ``forward(features (N, C, H, W), rois (R, 5))``
    -> ``(R, C, S, S)``. ``sampling_ratio <= 0`` is adaptive (ceil(roi_size / S) samples per bin);
    ``aligned=True`` shifts boxes by -0.5 pixel (continuous pixel model). On the CPU it runs as
    ``sparse_roi_align``, which computes the same values several times faster than torchvision's CPU kernel
    (whose backward took half of a training step)."""

    def __init__(self,
                 output_size: Union[int, Tuple[int, int]],
                 spatial_scale: float = 1.0,
                 sampling_ratio: int = 0,
                 pool_mode: str = 'avg',
                 aligned: bool = True,
                 use_torchvision: bool = False) -> None:
        super().__init__()
        if pool_mode != 'avg':
            raise ValueError(f"RoIAlign pool_mode must be 'avg' (torchvision has no max mode), got {pool_mode!r}")
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = aligned

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        if features.device.type == 'cpu' and features.dtype in (torch.float32, torch.float64):
            return sparse_roi_align(features, rois, self.output_size, self.spatial_scale, self.sampling_ratio,
                                    self.aligned)
        return roi_align(features, rois.to(features.dtype), self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f'output_size={self.output_size}, spatial_scale={self.spatial_scale}, '
                f'sampling_ratio={self.sampling_ratio}, pool_mode={self.pool_mode}, aligned={self.aligned}')


class RoIPool(nn.Module):
    """mmcv's ``RoIPool`` interface over ``torchvision.ops.roi_pool``."""

    def __init__(self, output_size: Union[int, Tuple[int, int]], spatial_scale: float = 1.0) -> None:
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_pool(features, rois.to(features.dtype), self.output_size, self.spatial_scale)


# roi_layer types (mmcv.ops's names; its registry is absent without mmcv-full), each built per level with
# spatial_scale = 1 / stride
_ROI_LAYERS = {
    'RoIAlign': RoIAlign,
    'RoIPool': RoIPool,
    'DeformRoIPool': DeformRoIPool,
    'DeformRoIPoolPack': DeformRoIPoolPack,
    'ModulatedDeformRoIPoolPack': ModulatedDeformRoIPoolPack,
}


class BaseRoIExtractor(BaseModule):
    """RoI extractor base (MMDetection 2.x ``BaseRoIExtractor``): one pooling layer per level in ``roi_layers``
    (``spatial_scale = 1 / stride``), ``out_channels``, ``featmap_strides`` and the RoI rescaling helper."""

    def __init__(self,
                 roi_layer: dict,
                 out_channels: int,
                 featmap_strides: Sequence[int],
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.roi_layers = self.build_roi_layers(roi_layer, featmap_strides)
        self.out_channels = out_channels
        self.featmap_strides = featmap_strides
        self.fp16_enabled = False

    @property
    def num_inputs(self) -> int:
        """Number of feature levels used (``len(featmap_strides)``)."""
        return len(self.featmap_strides)

    def build_roi_layers(self, layer_cfg: dict, featmap_strides: Sequence[int]) -> nn.ModuleList:
        """One pooling layer per level with ``spatial_scale = 1 / stride``."""
        cfg = dict(layer_cfg)
        layer_type = cfg.pop('type')
        if layer_type not in _ROI_LAYERS:
            raise KeyError(f'roi_layer type {layer_type!r} is not supported, expected one of {sorted(_ROI_LAYERS)}')
        return nn.ModuleList([_ROI_LAYERS[layer_type](spatial_scale=1 / s, **cfg) for s in featmap_strides])

    def roi_rescale(self, rois: torch.Tensor, scale_factor: float) -> torch.Tensor:
        """Scale each RoI (R, 5) about its centre by ``scale_factor`` (batch index kept)."""
        cx = (rois[:, 1] + rois[:, 3]) * 0.5
        cy = (rois[:, 2] + rois[:, 4]) * 0.5
        half_w = (rois[:, 3] - rois[:, 1]) * scale_factor * 0.5
        half_h = (rois[:, 4] - rois[:, 2]) * scale_factor * 0.5
        return torch.stack([rois[:, 0], cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1)

    @staticmethod
    def check_rois(rois: torch.Tensor) -> None:
        if rois.dim() != 2 or rois.size(1) != 5:
            raise ValueError(f'rois must have shape (R, 5) (batch_idx, x1, y1, x2, y2), got {tuple(rois.shape)}')


@ROI_EXTRACTORS.register_module()
class SingleRoIExtractor(BaseRoIExtractor):
    """Pool each RoI from one level: ``level = floor(log2(sqrt(area) / finest_scale + 1e-6))`` clamped to
    [0, L-1], i.e. scale < 2*finest_scale -> level 0, [2, 4)*finest_scale -> 1, [4, 8) -> 2, >= 8 -> 3."""

    def __init__(self,
                 roi_layer: dict,
                 out_channels: int,
                 featmap_strides: Sequence[int],
                 finest_scale: int = 56,
                 init_cfg=None) -> None:
        super().__init__(roi_layer, out_channels, featmap_strides, init_cfg)
        self.finest_scale = finest_scale

    def map_roi_levels(self, rois: torch.Tensor, num_levels: int) -> torch.Tensor:
        """rois (R, 5) -> level index (R,) long in [0, num_levels - 1]; ``num_levels`` (no level) for a RoI
        of negative area (NaN scale), which is pooled from no level and gets zero features, as in MMDetection
        (e.g. the random RoIs of ``forward_dummy``)."""
        scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
        target_lvls = torch.floor(torch.log2(scale / self.finest_scale + 1e-6))
        return target_lvls.clamp(min=0, max=num_levels - 1).nan_to_num(nan=num_levels).long()

    @force_fp32
    def forward(self, feats: Sequence[torch.Tensor], rois: torch.Tensor,
                roi_scale_factor: Optional[float] = None) -> torch.Tensor:
        """feats: L maps (N, C, Hl, Wl); rois (R, 5) -> (R, C, S, S)."""
        self.check_rois(rois)
        out_size = self.roi_layers[0].output_size
        num_levels = len(feats)
        roi_feats = feats[0].new_zeros(rois.size(0), self.out_channels, *out_size)
        if num_levels == 1:
            if len(rois) == 0:
                return roi_feats
            return self.roi_layers[0](feats[0], rois)
        target_lvls = self.map_roi_levels(rois, num_levels)
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        # RoIs grouped by level (stable: each level keeps the RoI order); the level sizes are the one value
        # read back from the device, instead of a nonzero() per level (bincount would read its max too)
        order = torch.argsort(target_lvls, stable=True)
        levels = torch.arange(num_levels + 1, device=target_lvls.device)  # the last: RoIs of no level
        level_sizes = (target_lvls[None] == levels[:, None]).sum(1).tolist()
        level_feats = []
        for i, level_rois in enumerate(rois[order].split(level_sizes)[:num_levels]):
            if level_sizes[i] > 0:
                level_feats.append(self.roi_layers[i](feats[i], level_rois))
            else:
                # keep every level in the autograd graph (DDP expects all parameters to get gradients)
                roi_feats = roi_feats + feats[i].sum() * 0.
        if level_feats:
            pooled = order[:len(order) - level_sizes[-1]]
            roi_feats = roi_feats.index_copy(0, pooled, torch.cat(level_feats))
        return roi_feats
