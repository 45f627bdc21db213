"""ResNeSt backbone (MMDetection 2.x): ResNetV1d whose bottleneck 3x3 conv is a split-attention conv.

Symbols: N images, R = ``radix``, G = ``groups`` (cardinality), C = channels of the split-attention conv's
output, H, W its spatial size. State-dict names inside a block: ``conv1``/``bn1``, ``conv2.conv``,
``conv2.bn0``, ``conv2.fc1``, ``conv2.bn1``, ``conv2.fc2``, ``conv3``/``bn3`` (no ``bn2``).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmcv.runner import BaseModule

from ..builder import BACKBONES
from ..utils import ResLayer
from .resnet import Bottleneck as _Bottleneck
from .resnet import ResNetV1d, _maybe_checkpointed
from .resnext import bottleneck_width


def radix_softmax(attention: torch.Tensor, radix: int, groups: int) -> torch.Tensor:
    """attention: (N, G*R*C', 1, 1) laid out group-major -> (N, R*G*C') radix-major weights.

    Softmax over the R splits of each (group, channel) when ``radix > 1``, a sigmoid gate when ``radix == 1``.
    """
    batch = attention.size(0)
    if radix == 1:
        return torch.sigmoid(attention).reshape(batch, -1)
    attention = attention.view(batch, groups, radix, -1).transpose(1, 2)
    return F.softmax(attention, dim=1).reshape(batch, -1)


class SplitAttentionConv2d(BaseModule):
    """Split-attention conv: a ``groups * radix``-grouped conv to ``channels * radix`` maps, split into R
    parts that are summed, pooled and passed through ``fc1 -> bn1 -> relu -> fc2`` to weight each part.

    ``forward(x: (N, in_channels, H, W)) -> (N, channels, H', W')`` with ``sum_r a_r * split_r``, ``a`` the
    radix softmax (sigmoid when ``radix == 1``) of the attention logits.
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 padding: int = 0,
                 dilation: int = 1,
                 groups: int = 1,
                 radix: int = 2,
                 reduction_factor: int = 4,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 dcn: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if radix < 1 or reduction_factor < 1:
            raise ValueError(f'radix and reduction_factor must be >= 1, got radix={radix}, '
                             f'reduction_factor={reduction_factor}')
        if dcn is not None:
            raise ValueError(f'dcn is not supported (mmcv.ops is absent); got dcn={dcn}')
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix = radix
        self.groups = groups
        self.channels = channels
        self.conv = build_conv_layer(conv_cfg, in_channels, channels * radix, kernel_size, stride=stride,
                                     padding=padding, dilation=dilation, groups=groups * radix, bias=False)
        # 2.28 numbers this norm 0 (``bn0``) to match the original implementation.
        self.norm0_name, norm0 = build_norm_layer(norm_cfg, channels * radix, postfix=0)
        self.add_module(self.norm0_name, norm0)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = build_conv_layer(None, channels, inter_channels, 1, groups=groups)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, inter_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.fc2 = build_conv_layer(None, inter_channels, channels * radix, 1, groups=groups)

    @property
    def norm0(self) -> nn.Module:
        return getattr(self, self.norm0_name)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> (N, channels, H', W')."""
        x = self.relu(self.norm0(self.conv(x)))
        batch = x.size(0)
        splits = x.view(batch, self.radix, self.channels, *x.shape[2:])  # (N, R, C, H', W')
        gap = F.adaptive_avg_pool2d(splits.sum(dim=1), 1)
        gap = self.relu(self.norm1(self.fc1(gap)))
        attention = radix_softmax(self.fc2(gap), self.radix, self.groups)
        attention = attention.view(batch, self.radix, self.channels, 1, 1)
        return (attention * splits).sum(dim=1).contiguous()


class Bottleneck(_Bottleneck):
    """ResNeSt bottleneck: ``conv1 -> bn1 -> relu -> SplitAttentionConv2d [-> avd_layer] -> conv3 -> bn3``.

    With ``avg_down_stride`` a strided block moves its stride from the 3x3 conv to a 3x3 AvgPool after it.
    """

    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 groups: int = 1,
                 base_width: int = 4,
                 base_channels: int = 64,
                 radix: int = 2,
                 reduction_factor: int = 4,
                 avg_down_stride: bool = True,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 dcn: Optional[dict] = None,
                 plugins: Optional[list] = None,
                 init_cfg=None) -> None:
        super().__init__(inplanes, planes, stride=stride, dilation=dilation, downsample=downsample, style=style,
                         with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg, dcn=dcn, plugins=plugins,
                         init_cfg=init_cfg)
        width = bottleneck_width(planes, groups, base_width, base_channels)
        self.avg_down_stride = avg_down_stride and self.conv2_stride > 1
        setattr(self, self.norm1_name, build_norm_layer(norm_cfg, width, postfix=1)[1])
        self.conv1 = build_conv_layer(conv_cfg, inplanes, width, 1, stride=self.conv1_stride, bias=False)
        self.conv2 = SplitAttentionConv2d(width, width, 3, stride=1 if self.avg_down_stride else self.conv2_stride,
                                          padding=dilation, dilation=dilation, groups=groups, radix=radix,
                                          reduction_factor=reduction_factor, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        delattr(self, self.norm2_name)
        if self.avg_down_stride:
            self.avd_layer = nn.AvgPool2d(3, self.conv2_stride, padding=1)
        self.conv3 = build_conv_layer(conv_cfg, width, planes * self.expansion, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def _inner_forward(x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.conv2(out)
            if self.avg_down_stride:
                out = self.avd_layer(out)
            return self.norm3(self.conv3(out)) + identity

        return self.relu(_maybe_checkpointed(_inner_forward, x, self.with_cp))


@BACKBONES.register_module()
class ResNeSt(ResNetV1d):
    """ResNeSt: ResNetV1d (deep stem, AvgPool shortcuts) with split-attention bottlenecks.

    ``radix`` splits, ``reduction_factor`` for the attention MLP width, ``avg_down_stride`` to stride by
    AvgPool after the split-attention conv; ``groups``/``base_width`` as ResNeXt. Outputs are ResNet's.
    """

    arch_settings = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
        200: (Bottleneck, (3, 24, 36, 3)),
    }

    def __init__(self,
                 depth: int,
                 groups: int = 1,
                 base_width: int = 4,
                 radix: int = 2,
                 reduction_factor: int = 4,
                 avg_down_stride: bool = True,
                 **kwargs) -> None:
        self.groups = groups
        self.base_width = base_width
        self.radix = radix
        self.reduction_factor = reduction_factor
        self.avg_down_stride = avg_down_stride
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Module:
        return ResLayer(block_cfg=dict(groups=self.groups, base_width=self.base_width,
                                       base_channels=self.base_channels, radix=self.radix,
                                       reduction_factor=self.reduction_factor,
                                       avg_down_stride=self.avg_down_stride), **kwargs)
