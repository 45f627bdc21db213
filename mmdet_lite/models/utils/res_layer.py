"""``ResLayer`` (a ResNet stage) and ``SimplifiedBasicBlock``, at ``mmdet.models.utils`` as in MMDetection 2.28."""
from typing import List, Optional

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmcv.runner import BaseModule, Sequential


class ResLayer(Sequential):
    """A stage of ``num_blocks`` blocks; one of them carries the stride and the ``downsample`` shortcut.

    ``downsample_first`` (default): the first block downsamples, ``inplanes -> planes * expansion``; else the
    last one does and the others keep ``inplanes`` (HourglassNet). ``avg_down`` (ResNetV1d) downsamples the
    shortcut with an AvgPool before a stride-1 1x1 conv, so the shortcut is
    ``downsample.{0: AvgPool2d, 1: conv, 2: norm}`` instead of ``downsample.{0: conv, 1: norm}``.
    ``dilation``, ``style``, ``with_cp``, ``dcn``, ``plugins`` (when set), ``init_cfg`` and the entries of
    ``block_cfg`` (a block's own arguments, e.g. ResNeXt's ``groups``/``base_width``) go to every block
    (2.28 passes its ``**kwargs``).
    """

    def __init__(self,
                 block: type,
                 inplanes: int,
                 planes: int,
                 num_blocks: int,
                 stride: int = 1,
                 avg_down: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 downsample_first: bool = True,
                 *,
                 dilation: int = 1,
                 style: str = 'pytorch',
                 with_cp: bool = False,
                 dcn: Optional[dict] = None,
                 plugins: Optional[list] = None,
                 init_cfg=None,
                 block_cfg: Optional[dict] = None) -> None:
        if num_blocks < 1:
            raise ValueError(f'ResLayer needs at least one block, got num_blocks={num_blocks}')
        self.block = block
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            layers: List[nn.Module] = []
            conv_stride = stride
            if avg_down:
                conv_stride = 1
                layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True,
                                           count_include_pad=False))
            layers += [
                build_conv_layer(conv_cfg, inplanes, planes * block.expansion, 1, stride=conv_stride, bias=False),
                build_norm_layer(norm_cfg, planes * block.expansion)[1],
            ]
            downsample = nn.Sequential(*layers)
        common = dict(dilation=dilation, style=style, with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                      init_cfg=init_cfg, **(block_cfg or {}))
        if dcn is not None:
            common['dcn'] = dcn
        if plugins is not None:
            common['plugins'] = plugins
        if downsample_first:
            blocks = [block(inplanes, planes, stride=stride, downsample=downsample, **common)]
            inplanes = planes * block.expansion
            blocks += [block(inplanes, planes, stride=1, **common) for _ in range(1, num_blocks)]
        else:
            blocks = [block(inplanes, inplanes, stride=1, **common) for _ in range(1, num_blocks)]
            blocks.append(block(inplanes, planes, stride=stride, downsample=downsample, **common))
        super().__init__(*blocks)


class SimplifiedBasicBlock(BaseModule):
    """BasicBlock without the plugin/DCN options (SCNet): two 3x3 convs, norms optional.

    ``norm_cfg=None`` drops the norms and gives the convs a bias. Output channels = ``planes``.
    """

    expansion = 1

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 dcn: Optional[dict] = None,
                 plugins: Optional[list] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if dcn is not None or plugins is not None or with_cp:
            raise ValueError(f'SimplifiedBasicBlock supports no dcn, plugins or with_cp (as in 2.28); got '
                             f'dcn={dcn}, plugins={plugins}, with_cp={with_cp}')
        self.with_norm = norm_cfg is not None
        with_bias = not self.with_norm
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 3, stride=stride, padding=dilation,
                                      dilation=dilation, bias=with_bias)
        if self.with_norm:
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
            self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=with_bias)
        if self.with_norm:
            self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
            self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.dilation = dilation
        self.with_cp = with_cp

    @property
    def norm1(self) -> Optional[nn.Module]:
        return getattr(self, self.norm1_name) if self.with_norm else None

    @property
    def norm2(self) -> Optional[nn.Module]:
        return getattr(self, self.norm2_name) if self.with_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, inplanes, H, W) -> (N, planes, H / stride, W / stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv1(x)
        if self.with_norm:
            out = self.norm1(out)
        out = self.conv2(self.relu(out))
        if self.with_norm:
            out = self.norm2(out)
        return self.relu(out + identity)
