"""Feature Pyramid Network (MMDetection 2.x ``FPN``).

Symbols: L input levels with channels ``in_channels[i]``; outputs are ``num_outs`` maps with ``out_channels``
channels, the first at the resolution of input ``start_level``, each next one half the size.
"""
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.runner import BaseModule

from ...core.fp16 import auto_fp16
from ..builder import NECKS


def backbone_end_level(num_ins: int, start_level: int, end_level: int, num_outs: int) -> int:
    """One past the last input level a pyramid neck uses (2.28's inclusive ``end_level``; -1 for the
    last input, the only choice that leaves room for extra levels), checking ``num_outs`` against it."""
    if end_level == -1 or end_level == num_ins - 1:
        if num_outs < num_ins - start_level:
            raise ValueError(f'num_outs={num_outs} must be >= {num_ins - start_level} '
                             f'(inputs {num_ins} from start_level {start_level})')
        return num_ins
    if not 0 <= end_level < num_ins or num_outs != end_level - start_level + 1:
        raise ValueError(f'end_level={end_level} must be -1 or in [0, {num_ins}) and num_outs={num_outs} '
                         f'must equal end_level - start_level + 1 = {end_level - start_level + 1}')
    return end_level + 1


@NECKS.register_module()
class FPN(BaseModule):
    """Lateral 1x1 convs, top-down nearest upsampling + sum, 3x3 output convs, and extra levels.

    ``add_extra_convs``: False -> extra levels are ``max_pool2d(kernel 1, stride 2)`` of the last output;
    True/'on_input' -> a stride-2 3x3 conv on the last used backbone map, 'on_lateral' -> on the last lateral,
    'on_output' -> on the last FPN output; further extra levels convolve the previous one (after a ReLU if
    ``relu_before_extra_convs``). ``end_level`` is the last input used, inclusive (-1: the last), as in
    MMDetection 2.28 (2.18 read it as exclusive).
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
                 upsample_cfg: dict = dict(mode='nearest'),
                 init_cfg=dict(type='Xavier', layer='Conv2d', distribution='uniform')) -> None:
        super().__init__(init_cfg)
        if not isinstance(in_channels, (list, tuple)):
            raise TypeError(f'in_channels must be a list of ints, got {type(in_channels)}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.no_norm_on_lateral = no_norm_on_lateral
        self.fp16_enabled = False
        self.upsample_cfg = upsample_cfg.copy()

        self.backbone_end_level = backbone_end_level(self.num_ins, start_level, end_level, num_outs)
        self.start_level = start_level
        self.end_level = end_level

        if isinstance(add_extra_convs, str):
            if add_extra_convs not in ('on_input', 'on_lateral', 'on_output'):
                raise ValueError(f"add_extra_convs must be one of 'on_input', 'on_lateral', 'on_output', "
                                 f'True or False, got {add_extra_convs!r}')
        elif add_extra_convs is True:
            add_extra_convs = 'on_input'
        elif add_extra_convs is not False:
            raise TypeError(f'add_extra_convs must be a str or bool, got {add_extra_convs!r}')
        self.add_extra_convs = add_extra_convs

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(self.start_level, self.backbone_end_level):
            self.lateral_convs.append(
                ConvModule(in_channels[i], out_channels, 1, conv_cfg=conv_cfg,
                           norm_cfg=norm_cfg if not no_norm_on_lateral else None, act_cfg=act_cfg,
                           inplace=False))
            self.fpn_convs.append(
                ConvModule(out_channels, out_channels, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                           act_cfg=act_cfg, inplace=False))

        extra_levels = num_outs - self.backbone_end_level + self.start_level
        if self.add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                if i == 0 and self.add_extra_convs == 'on_input':
                    extra_in = self.in_channels[self.backbone_end_level - 1]
                else:
                    extra_in = out_channels
                self.fpn_convs.append(
                    ConvModule(extra_in, out_channels, 3, stride=2, padding=1, conv_cfg=conv_cfg,
                               norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False))

    @auto_fp16
    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """inputs: L maps (N, in_channels[i], Hi, Wi) -> ``num_outs`` maps (N, out_channels, H'j, W'j)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'FPN expected {len(self.in_channels)} inputs, got {len(inputs)}')
        laterals: List[torch.Tensor] = [
            lateral_conv(inputs[i + self.start_level]) for i, lateral_conv in enumerate(self.lateral_convs)
        ]
        used_backbone_levels = len(laterals)
        for i in range(used_backbone_levels - 1, 0, -1):
            if 'scale_factor' in self.upsample_cfg:
                upsampled = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                upsampled = F.interpolate(laterals[i], size=laterals[i - 1].shape[2:], **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + upsampled

        outs = [self.fpn_convs[i](laterals[i]) for i in range(used_backbone_levels)]
        return tuple(self._add_extra_levels(outs, inputs, laterals))

    def _add_extra_levels(self, outs: List[torch.Tensor], inputs: Sequence[torch.Tensor],
                          laterals: List[torch.Tensor]) -> List[torch.Tensor]:
        """Append levels to the L' pyramid ``outs`` until there are ``num_outs`` (in place; returns ``outs``)."""
        used_backbone_levels = len(laterals)
        if self.num_outs > len(outs):
            if not self.add_extra_convs:
                for _ in range(self.num_outs - used_backbone_levels):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                if self.add_extra_convs == 'on_input':
                    extra_source = inputs[self.backbone_end_level - 1]
                elif self.add_extra_convs == 'on_lateral':
                    extra_source = laterals[-1]
                else:
                    extra_source = outs[-1]
                outs.append(self.fpn_convs[used_backbone_levels](extra_source))
                for i in range(used_backbone_levels + 1, self.num_outs):
                    prev = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](prev))
        return outs
