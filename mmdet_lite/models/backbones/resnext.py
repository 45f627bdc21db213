"""ResNeXt backbone (MMDetection 2.x): ResNet whose bottleneck 3x3 conv is grouped.

A stage with ``planes`` (= ``base_channels * 2**i``) has bottleneck width
``floor(planes * base_width / base_channels) * groups`` (``planes`` when ``groups == 1``), e.g. ResNeXt-101
32x4d's layer1 is 128 wide: ``layer1.0.conv2.weight`` is ``(128, 4, 3, 3)``. Key names are ResNet's.
"""
import math
from typing import Optional

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer

from ..builder import BACKBONES
from ..utils import ResLayer
from .resnet import Bottleneck as _Bottleneck
from .resnet import ResNet


def bottleneck_width(planes: int, groups: int, base_width: int, base_channels: int) -> int:
    """Channels of a ResNeXt bottleneck's 3x3 conv: ``floor(planes * base_width / base_channels) * groups``."""
    if groups == 1:
        return planes
    return math.floor(planes * (base_width / base_channels)) * groups


class Bottleneck(_Bottleneck):
    """ResNet bottleneck with a ``width``-channel, ``groups``-grouped 3x3 conv; output ``planes * 4``."""

    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 groups: int = 1,
                 base_width: int = 4,
                 base_channels: int = 64,
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
        if groups < 1 or base_width < 1:
            raise ValueError(f'groups and base_width must be >= 1, got groups={groups}, base_width={base_width}')
        width = bottleneck_width(planes, groups, base_width, base_channels)
        self.groups = groups
        self.width = width
        # Re-assigning keeps ResNet's registration order, so the state-dict keys and their order are ResNet's.
        setattr(self, self.norm1_name, build_norm_layer(norm_cfg, width, postfix=1)[1])
        setattr(self, self.norm2_name, build_norm_layer(norm_cfg, width, postfix=2)[1])
        self.conv1 = build_conv_layer(conv_cfg, inplanes, width, 1, stride=self.conv1_stride, bias=False)
        self.conv2 = build_conv_layer(self._conv2_cfg(), width, width, 3, stride=self.conv2_stride,
                                      padding=dilation, dilation=dilation, groups=groups, bias=False)
        self.conv3 = build_conv_layer(conv_cfg, width, planes * self.expansion, 1, bias=False)
        if self.with_plugins:  # the plugins after conv1 and conv2 see ``width`` channels
            for name in self.after_conv1_plugin_names + self.after_conv2_plugin_names + self.after_conv3_plugin_names:
                delattr(self, name)
            self.after_conv1_plugin_names = self.make_block_plugins(width, self._plugin_cfgs('after_conv1'))
            self.after_conv2_plugin_names = self.make_block_plugins(width, self._plugin_cfgs('after_conv2'))
            self.after_conv3_plugin_names = self.make_block_plugins(planes * self.expansion,
                                                                    self._plugin_cfgs('after_conv3'))


@BACKBONES.register_module()
class ResNeXt(ResNet):
    """ResNeXt: ``ResNet`` with ``groups`` x ``base_width``-d bottlenecks (e.g. 32x4d: ``groups=32,
    base_width=4``). Other arguments, the outputs and the state-dict keys are ResNet's."""

    arch_settings = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, groups: int = 1, base_width: int = 4, **kwargs) -> None:
        self.groups = groups
        self.base_width = base_width
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Module:
        return ResLayer(block_cfg=dict(groups=self.groups, base_width=self.base_width,
                                       base_channels=self.base_channels), **kwargs)
