"""Res2Net backbone (MMDetection 2.x): ResNetV1d-style net whose bottleneck 3x3 conv is split into
``scales`` hierarchical parts.

Symbols: S = ``scales``, w = ``floor(planes * base_width / base_channels)`` the width of one part. A block's
``conv1`` maps to S*w channels, split into x_1..x_S; ``y_i = K_i(x_i + y_{i-1})`` for 1 < i < S
(``y_1 = K_1(x_1)``; a stage's first block uses ``y_i = K_i(x_i)``), ``y_S = x_S`` (AvgPool-ed by ``pool``
when the first block strides), ``K_i = relu(bns[i-1](convs[i-1](.)))``; ``conv3`` maps cat(y) to planes*4.
State-dict names inside a block: ``conv1``/``bn1``, ``convs.i``/``bns.i`` (i < S-1), ``conv3``/``bn3``.
"""
import math
from typing import List, Optional

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmcv.runner import Sequential

from ..builder import BACKBONES
from .resnet import Bottleneck as _Bottleneck
from .resnet import ResNet, _maybe_checkpointed


class Bottle2neck(_Bottleneck):
    """Res2Net bottleneck; ``stage_type='stage'`` (a stage's first block) does not chain the parts and pools
    the last one when striding, ``'normal'`` chains them. Output channels ``planes * 4``."""

    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 scales: int = 4,
                 base_width: int = 26,
                 base_channels: int = 64,
                 stage_type: str = 'normal',
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
        if scales < 2:
            raise ValueError(f'Res2Net needs scales > 1 (scales=1 is ResNet), got scales={scales}')
        if plugins is not None:
            raise ValueError(f'plugins are not supported on Res2Net blocks (no 2.28 config uses them), got {plugins}')
        if stage_type not in ('normal', 'stage'):
            raise ValueError(f"stage_type must be 'normal' or 'stage', got {stage_type!r}")
        width = math.floor(planes * (base_width / base_channels))
        self.scales = scales
        self.width = width
        self.stage_type = stage_type
        setattr(self, self.norm1_name, build_norm_layer(norm_cfg, width * scales, postfix=1)[1])
        self.conv1 = build_conv_layer(conv_cfg, inplanes, width * scales, 1, stride=self.conv1_stride, bias=False)
        if stage_type == 'stage' and self.conv2_stride != 1:
            self.pool = nn.AvgPool2d(kernel_size=3, stride=self.conv2_stride, padding=1)
        self.convs = nn.ModuleList([
            build_conv_layer(self._conv2_cfg(), width, width, 3, stride=self.conv2_stride, padding=dilation,
                             dilation=dilation, bias=False) for _ in range(scales - 1)
        ])
        self.bns = nn.ModuleList([build_norm_layer(norm_cfg, width, postfix=i + 1)[1] for i in range(scales - 1)])
        self.conv3 = build_conv_layer(conv_cfg, width * scales, planes * self.expansion, 1, bias=False)
        delattr(self, 'conv2')
        delattr(self, self.norm2_name)

    def _multi_scale(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, S*w, H, W) -> (N, S*w, H', W'), the hierarchical 3x3 convs over the S parts."""
        parts = torch.split(x, self.width, dim=1)
        outs: List[torch.Tensor] = []
        part = parts[0]
        for i in range(self.scales - 1):
            if i > 0:
                part = parts[i] if self.stage_type == 'stage' else part + parts[i]
            part = self.relu(self.bns[i](self.convs[i](part.contiguous())))
            outs.append(part)
        last = parts[-1]
        if self.stage_type == 'stage' and self.conv2_stride != 1:
            last = self.pool(last)
        outs.append(last)
        return torch.cat(outs, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def _inner_forward(x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.norm3(self.conv3(self._multi_scale(out)))
            return out + identity

        return self.relu(_maybe_checkpointed(_inner_forward, x, self.with_cp))


class Res2Layer(Sequential):
    """A Res2Net stage: the first block (``stage_type='stage'``) carries the stride and an AvgPool shortcut
    ``downsample.{0: AvgPool2d, 1: conv, 2: norm}``, the others are ``'normal'``.

    ``avg_down`` is accepted for ResNet's hook and always true (2.28 ignores it too).
    """

    def __init__(self,
                 block: type,
                 inplanes: int,
                 planes: int,
                 num_blocks: int,
                 stride: int = 1,
                 avg_down: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 scales: int = 4,
                 base_width: int = 26,
                 base_channels: int = 64,
                 *,
                 dilation: int = 1,
                 style: str = 'pytorch',
                 with_cp: bool = False,
                 dcn: Optional[dict] = None,
                 plugins: Optional[list] = None,
                 init_cfg=None) -> None:
        if num_blocks < 1:
            raise ValueError(f'Res2Layer needs at least one block, got num_blocks={num_blocks}')
        self.block = block
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != out_channels:
            downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False),
                build_conv_layer(conv_cfg, inplanes, out_channels, 1, stride=1, bias=False),
                build_norm_layer(norm_cfg, out_channels)[1])
        common = dict(scales=scales, base_width=base_width, base_channels=base_channels, dilation=dilation,
                      style=style, with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg, dcn=dcn, plugins=plugins,
                      init_cfg=init_cfg)
        blocks = [block(inplanes, planes, stride=stride, downsample=downsample, stage_type='stage', **common)]
        blocks += [block(out_channels, planes, stride=1, **common) for _ in range(1, num_blocks)]
        super().__init__(*blocks)


@BACKBONES.register_module()
class Res2Net(ResNet):
    """Res2Net: ``scales`` parts of ``base_width`` (per 64 planes) channels in each bottleneck.

    Always ``style='pytorch'``, ``deep_stem=True``, ``avg_down=True`` (as 2.28, whatever is passed);
    other arguments and the outputs are ResNet's.
    """

    arch_settings = {
        50: (Bottle2neck, (3, 4, 6, 3)),
        101: (Bottle2neck, (3, 4, 23, 3)),
        152: (Bottle2neck, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth: int,
                 scales: int = 4,
                 base_width: int = 26,
                 style: str = 'pytorch',
                 deep_stem: bool = True,
                 avg_down: bool = True,
                 **kwargs) -> None:
        self.scales = scales
        self.base_width = base_width
        super().__init__(depth, style='pytorch', deep_stem=True, avg_down=True, **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Module:
        return Res2Layer(scales=self.scales, base_width=self.base_width, base_channels=self.base_channels,
                         **kwargs)
