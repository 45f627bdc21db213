"""Path Aggregation FPN (MMDetection 2.x ``PAFPN``, https://arxiv.org/abs/1803.01534).

Symbols as in :mod:`.fpn`: L' = ``backbone_end_level - start_level`` pyramid levels built from the inputs.
"""
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule

from ...core.fp16 import auto_fp16
from ..builder import NECKS
from .fpn import FPN


@NECKS.register_module()
class PAFPN(FPN):
    """FPN followed by a bottom-up path.

    The FPN outputs ``P_i`` (after ``fpn_convs``) are summed bottom-up,
    ``P'_0 = P_0``, ``P'_{i+1} = P_{i+1} + downsample_convs[i](P'_i)`` (stride-2 3x3 convs), and the outputs are
    ``N_0 = P'_0``, ``N_i = pafpn_convs[i-1](P'_i)`` (3x3 convs). Extra levels follow FPN's rules on ``N``.
    Arguments are FPN's; MMDetection 2.28 has no ``upsample_cfg`` here (top-down upsampling is always nearest to
    the finer level's size).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 num_outs: int,
                 start_level: int = 0,
                 end_level: int = -1,
                 add_extra_convs: Union[bool, str] = False,
                 relu_before_extra_convs: bool = False,
                 no_norm_on_lateral: bool = False,
                 conv_cfg=None,
                 norm_cfg=None,
                 act_cfg=None,
                 init_cfg=dict(type='Xavier', layer='Conv2d', distribution='uniform')) -> None:
        super().__init__(in_channels, out_channels, num_outs, start_level=start_level, end_level=end_level,
                         add_extra_convs=add_extra_convs, relu_before_extra_convs=relu_before_extra_convs,
                         no_norm_on_lateral=no_norm_on_lateral, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         act_cfg=act_cfg, init_cfg=init_cfg)
        self.downsample_convs = nn.ModuleList()
        self.pafpn_convs = nn.ModuleList()
        for _ in range(self.start_level + 1, self.backbone_end_level):
            self.downsample_convs.append(
                ConvModule(out_channels, out_channels, 3, stride=2, padding=1, conv_cfg=conv_cfg,
                           norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False))
            self.pafpn_convs.append(
                ConvModule(out_channels, out_channels, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                           act_cfg=act_cfg, inplace=False))

    @auto_fp16
    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """inputs: L maps (N, in_channels[i], Hi, Wi) -> ``num_outs`` maps (N, out_channels, H'j, W'j)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'PAFPN expected {len(self.in_channels)} inputs, got {len(inputs)}')
        laterals = [lateral_conv(inputs[i + self.start_level]) for i, lateral_conv in enumerate(self.lateral_convs)]
        used_backbone_levels = len(laterals)
        for i in range(used_backbone_levels - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[2:],
                                                              mode='nearest')
        inter_outs = [self.fpn_convs[i](laterals[i]) for i in range(used_backbone_levels)]
        for i in range(used_backbone_levels - 1):
            inter_outs[i + 1] = inter_outs[i + 1] + self.downsample_convs[i](inter_outs[i])
        outs = [inter_outs[0]] + [self.pafpn_convs[i - 1](inter_outs[i]) for i in range(1, used_backbone_levels)]
        return tuple(self._add_extra_levels(outs, inputs, laterals))
