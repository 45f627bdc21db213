"""Deformable convolution v1 (DCN) and modulated v2 (DCNv2) on ``torchvision.ops.deform_conv2d``.

mmcv-full's layers, with their constructor keys, parameter names and initialisation; the config type
names 'DCN' and 'DCNv2' are registered in mmcv's CONV_LAYERS. Offsets use mmcv's layout, which is
torchvision's: for deformable group g and kernel tap k (row-major over kh x kw), channel
``2 * (g * kh * kw + k)`` is the y offset and the next one the x offset.
"""
import math
from typing import Optional, Tuple, Union

import torch
from mmcv.cnn import CONV_LAYERS
from torch import nn
from torch.nn.modules.utils import _pair
from torchvision.ops import deform_conv2d

IntPair = Union[int, Tuple[int, int]]


class DeformConv2d(nn.Module):
    """mmcv's ``DeformConv2d``: ``forward(x, offset)`` with offset (N, 2 * deform_groups * kh * kw, Ho, Wo)."""

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: IntPair,
                 stride: IntPair = 1,
                 padding: IntPair = 0,
                 dilation: IntPair = 1,
                 groups: int = 1,
                 deform_groups: int = 1,
                 bias: bool = False,
                 im2col_step: int = 32) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f'in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible '
                             f'by groups ({groups})')
        if in_channels % deform_groups:
            raise ValueError(f'in_channels ({in_channels}) must be divisible by deform_groups ({deform_groups})')
        if bias and type(self) in (DeformConv2d, DeformConv2dPack):
            raise ValueError('DeformConv2d has no bias (mmcv: "bias is not supported in DeformConv2d")')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.deform_groups = deform_groups
        self.im2col_step = im2col_step  # kept for mmcv's signature; torchvision picks its own batching
        self.transposed = False
        self.output_padding = _pair(0)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1. / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        self.weight.data.uniform_(-stdv, stdv)
        if self.bias is not None:
            self.bias.data.zero_()

    def _deform_conv(self, x: torch.Tensor, offset: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        # torchvision's CPU kernel reads raw memory in NCHW order
        return deform_conv2d(x.contiguous(), offset.contiguous(), self.weight.contiguous(), self.bias,
                             stride=self.stride, padding=self.padding, dilation=self.dilation,
                             mask=None if mask is None else mask.contiguous())

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        return self._deform_conv(x, offset, None)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, '
                f'padding={self.padding}, dilation={self.dilation}, groups={self.groups}, '
                f'deform_groups={self.deform_groups}')


class ModulatedDeformConv2d(DeformConv2d):
    """mmcv's ``ModulatedDeformConv2d`` (DCNv2): ``forward(x, offset, mask)``, mask (N, deform_groups * kh * kw, Ho, Wo)."""

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: IntPair,
                 stride: IntPair = 1,
                 padding: IntPair = 0,
                 dilation: IntPair = 1,
                 groups: int = 1,
                 deform_groups: int = 1,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deform_groups,
                         bias)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._deform_conv(x, offset, mask)


class _OffsetBranch:
    """``conv_offset``: predicts a layer's offsets (and masks) from its input; zero at initialisation.

    ``init_weights`` zeroes it again after a parent's init_cfg (e.g. ResNet's Kaiming on every
    Conv2d) has run, as mmcv-full's packs do, so that a deformable layer starts as a plain one.
    """

    def _add_offset_conv(self, channels_per_tap: int) -> None:
        self.conv_offset = nn.Conv2d(self.in_channels, self.deform_groups * channels_per_tap * self.kernel_size[0]
                                     * self.kernel_size[1], self.kernel_size, stride=self.stride,
                                     padding=self.padding, dilation=self.dilation, bias=True)
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)


@CONV_LAYERS.register_module('DCN')
class DeformConv2dPack(_OffsetBranch, DeformConv2d):
    """DCN with its own offset branch ``conv_offset``; at initialisation it is a plain convolution."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._add_offset_conv(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self._deform_conv(x, self.conv_offset(x), None)


@CONV_LAYERS.register_module('DCNv2')
class ModulatedDeformConv2dPack(_OffsetBranch, ModulatedDeformConv2d):
    """DCNv2 with ``conv_offset`` predicting offsets and sigmoid masks (0.5 everywhere at initialisation)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._add_offset_conv(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        offset_y_x_mask = self.conv_offset(x)
        taps = self.deform_groups * self.kernel_size[0] * self.kernel_size[1]
        offset, mask = offset_y_x_mask.split([2 * taps, taps], dim=1)
        return self._deform_conv(x, offset, mask.sigmoid())
