"""HRFPN (MMDetection 2.x): the HRNetV2p neck.

Symbols: L input levels, level i with ``in_channels[i]`` channels at 2**i times the stride of level 0 (size
H x W). All levels are bilinearly upsampled to H x W, concatenated, reduced by a 1x1 conv to ``out_channels``,
pooled to ``num_outs`` sizes (kernel = stride = 2**k) and each passed through a 3x3 conv.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.runner import BaseModule
from torch.utils.checkpoint import checkpoint

from ..builder import NECKS


@NECKS.register_module()
class HRFPN(BaseModule):
    """``forward(inputs)`` with L maps (N, in_channels[i], H / 2**i, W / 2**i) returns ``num_outs`` maps
    (N, out_channels, H / (2**k * stride), W / (2**k * stride)), k = 0 .. num_outs - 1.

    ``pooling_type`` 'AVG' or 'MAX'. ``norm_cfg`` is stored but, as in 2.28, not applied (convs have biases).
    State-dict names: ``reduction_conv.conv``, ``fpn_convs.{k}.conv``.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 num_outs: int = 5,
                 pooling_type: str = 'AVG',
                 conv_cfg=None,
                 norm_cfg=None,
                 with_cp: bool = False,
                 stride: int = 1,
                 init_cfg=dict(type='Caffe2Xavier', layer='Conv2d')) -> None:
        super().__init__(init_cfg)
        if not isinstance(in_channels, (list, tuple)):
            raise TypeError(f'HRFPN in_channels must be a list, got {in_channels!r}')
        if pooling_type not in ('AVG', 'MAX'):
            raise ValueError(f"HRFPN pooling_type must be 'AVG' or 'MAX', got {pooling_type!r}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.reduction_conv = ConvModule(sum(in_channels), out_channels, kernel_size=1, conv_cfg=conv_cfg,
                                         act_cfg=None)
        self.fpn_convs = nn.ModuleList([
            ConvModule(out_channels, out_channels, kernel_size=3, padding=1, stride=stride, conv_cfg=conv_cfg,
                       act_cfg=None) for _ in range(num_outs)
        ])
        self.pooling = F.max_pool2d if pooling_type == 'MAX' else F.avg_pool2d

    def _run(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return checkpoint(module, x, use_reentrant=False)
        return module(x)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        if len(inputs) != self.num_ins:
            raise ValueError(f'HRFPN expects {self.num_ins} inputs, got {len(inputs)}')
        levels: List[torch.Tensor] = [inputs[0]]
        levels += [F.interpolate(inputs[i], scale_factor=2**i, mode='bilinear') for i in range(1, self.num_ins)]
        out = self._run(self.reduction_conv, torch.cat(levels, dim=1))
        pooled = [out] + [self.pooling(out, kernel_size=2**k, stride=2**k) for k in range(1, self.num_outs)]
        return tuple(self._run(conv, level) for conv, level in zip(self.fpn_convs, pooled))
