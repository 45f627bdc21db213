"""Balanced Feature Pyramid of Libra R-CNN (MMDetection 2.x ``BFP``, https://arxiv.org/abs/1904.02701).

Symbols: L levels (N, C, Hi, Wi) sharing C = ``in_channels``; level r = ``refine_level`` of size Hr x Wr.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, NonLocal2d
from mmcv.runner import BaseModule

from ..builder import NECKS

_REFINE_TYPES = (None, 'conv', 'non_local')


@NECKS.register_module()
class BFP(BaseModule):
    """Gather all levels at level r's size, average, refine, and add the result back to every level.

    Gather: finer levels (i < r) are adaptive-max-pooled to Hr x Wr, the others nearest-resized; the mean of
    the L maps is the balanced semantic feature (BSF). Refine: a 3x3 ``ConvModule`` ('conv'), an embedded
    Gaussian ``NonLocal2d`` with ``reduction=1`` and no scaling ('non_local'; its zero-initialised output
    conv makes it the identity at init), or nothing (None). Scatter: output i = input i + the refined BSF
    nearest-resized (i < r) or adaptive-max-pooled (i >= r) to Hi x Wi.

    Args:
        in_channels: C, the channels of every level.
        num_levels: L.
        refine_level: r in [0, L).
        refine_type: None, 'conv' or 'non_local'.
        conv_cfg, norm_cfg: configs of the refine convolutions.
    """

    def __init__(self,
                 in_channels: int,
                 num_levels: int,
                 refine_level: int = 2,
                 refine_type: Optional[str] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 init_cfg=dict(type='Xavier', layer='Conv2d', distribution='uniform')) -> None:
        super().__init__(init_cfg)
        if refine_type not in _REFINE_TYPES:
            raise ValueError(f"BFP refine_type must be None, 'conv' or 'non_local', got {refine_type!r}")
        if not 0 <= refine_level < num_levels:
            raise ValueError(f'BFP refine_level={refine_level} must be in [0, num_levels={num_levels})')
        self.in_channels = in_channels
        self.num_levels = num_levels
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.refine_level = refine_level
        self.refine_type = refine_type
        if refine_type == 'conv':
            self.refine = ConvModule(in_channels, in_channels, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        elif refine_type == 'non_local':
            self.refine = NonLocal2d(in_channels, reduction=1, use_scale=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """inputs: L maps (N, C, Hi, Wi) -> L maps of the same shapes."""
        if len(inputs) != self.num_levels:
            raise ValueError(f'BFP expected {self.num_levels} inputs, got {len(inputs)}')
        gather_size = inputs[self.refine_level].shape[2:]
        gathered = [
            F.adaptive_max_pool2d(feat, output_size=gather_size) if i < self.refine_level else F.interpolate(
                feat, size=gather_size, mode='nearest') for i, feat in enumerate(inputs)
        ]
        bsf = sum(gathered) / len(gathered)
        if self.refine_type is not None:
            bsf = self.refine(bsf)
        outs = []
        for i, feat in enumerate(inputs):
            out_size = feat.shape[2:]
            if i < self.refine_level:
                residual = F.interpolate(bsf, size=out_size, mode='nearest')
            else:
                residual = F.adaptive_max_pool2d(bsf, output_size=out_size)
            outs.append(residual + feat)
        return tuple(outs)
