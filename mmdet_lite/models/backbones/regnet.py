"""RegNetX backbone (MMDetection 2.x): a 3x3 stem and four stages of ResNeXt bottlenecks of expansion 1.

The per-block widths follow the RegNet rule (arXiv:2003.13678): ``u_j = w0 + wa * j`` for block j < depth,
``w_j = round(w0 * wm**round(log(u_j / w0) / log(wm)) / 8) * 8``; runs of equal widths are the stages. Each
stage's group count is ``width // group_w`` (group width clipped to the width, width rounded to a multiple).
State-dict names are ResNet's: ``conv1``/``bn1`` (stem, 3x3 stride 2, no max pool), ``layer1``..``layer4``.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmcv.runner import BaseModule

from ..builder import BACKBONES
from .resnet import ResNet
from .resnext import Bottleneck as _ResNeXtBottleneck

_ARCH_KEYS = ('w0', 'wa', 'wm', 'group_w', 'depth', 'bot_mul')


class RegNetBottleneck(_ResNeXtBottleneck):
    """ResNeXt bottleneck with output channels ``planes`` (RegNet's ``expansion = 1``)."""

    expansion = 1


@BACKBONES.register_module()
class RegNet(ResNet):
    """RegNetX backbone. ``arch`` is a name of ``arch_settings`` (e.g. ``'regnetx_3.2gf'``) or a dict with
    ``w0, wa, wm, group_w, depth, bot_mul``. ``forward(x: (N, 3, H, W))`` returns the stages of
    ``out_indices`` at strides 4, 8, 16, 32 (default ``strides``), e.g. 'regnetx_3.2gf' on 32x32:
    (N, 96, 8, 8), (N, 192, 4, 4), (N, 432, 2, 2), (N, 1008, 1, 1).
    """

    arch_settings = {
        'regnetx_400mf': dict(w0=24, wa=24.48, wm=2.54, group_w=16, depth=22, bot_mul=1.0),
        'regnetx_800mf': dict(w0=56, wa=35.73, wm=2.28, group_w=16, depth=16, bot_mul=1.0),
        'regnetx_1.6gf': dict(w0=80, wa=34.01, wm=2.25, group_w=24, depth=18, bot_mul=1.0),
        'regnetx_3.2gf': dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, bot_mul=1.0),
        'regnetx_4.0gf': dict(w0=96, wa=38.65, wm=2.43, group_w=40, depth=23, bot_mul=1.0),
        'regnetx_6.4gf': dict(w0=184, wa=60.83, wm=2.07, group_w=56, depth=17, bot_mul=1.0),
        'regnetx_8.0gf': dict(w0=80, wa=49.56, wm=2.88, group_w=120, depth=23, bot_mul=1.0),
        'regnetx_12gf': dict(w0=168, wa=73.36, wm=2.37, group_w=112, depth=19, bot_mul=1.0),
    }

    def __init__(self,
                 arch: Union[str, dict],
                 in_channels: int = 3,
                 stem_channels: int = 32,
                 base_channels: int = 32,
                 strides: Sequence[int] = (2, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 style: str = 'pytorch',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = True,
                 dcn: Optional[dict] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 plugins: Optional[list] = None,
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 pretrained: Optional[str] = None,
                 init_cfg=None) -> None:
        BaseModule.__init__(self, init_cfg)
        arch = self._arch_dict(arch)
        if dcn is not None or plugins is not None:
            raise ValueError(f'dcn/plugins are not supported (mmcv.ops is absent); got dcn={dcn}, plugins={plugins}')
        widths, num_stages = self.generate_regnet(arch['w0'], arch['wa'], arch['wm'], arch['depth'])
        stage_widths, stage_blocks = self.get_stages_from_blocks(widths)
        self.bottleneck_ratio = [arch['bot_mul']] * num_stages
        stage_widths, group_widths = self.adjust_width_group(stage_widths, self.bottleneck_ratio,
                                                             [arch['group_w']] * num_stages)
        if not 1 <= num_stages <= 4:
            raise ValueError(f'arch {arch} gives {num_stages} stages, expected 1 to 4')
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(f'strides {strides} and dilations {dilations} must have num_stages={num_stages} '
                             f'entries (arch {arch})')
        if max(out_indices) >= num_stages:
            raise ValueError(f'out_indices {out_indices} must be < num_stages={num_stages}')
        self.zero_init_residual = zero_init_residual
        block_init_cfg = self._set_default_init_cfg(pretrained, init_cfg, zero_init_residual, 'norm3')

        self.stage_widths = stage_widths
        self.group_widths = group_widths
        self.depth = sum(stage_blocks)
        self.stem_channels = stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.strides = strides
        self.dilations = dilations
        self.out_indices = out_indices
        self.style = style
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.with_cp = with_cp
        self.norm_eval = norm_eval
        self.block = RegNetBottleneck
        self.stage_blocks = stage_blocks[:num_stages]

        self._make_stem_layer(in_channels, stem_channels)
        self.inplanes = stem_channels
        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            width = int(round(stage_widths[i] * self.bottleneck_ratio[i]))
            res_layer = self.make_res_layer(
                block=RegNetBottleneck, inplanes=self.inplanes, planes=stage_widths[i], num_blocks=num_blocks,
                stride=strides[i], dilation=dilations[i], avg_down=avg_down, style=style, with_cp=with_cp,
                conv_cfg=conv_cfg, norm_cfg=norm_cfg, init_cfg=block_init_cfg,
                block_cfg=dict(groups=width // group_widths[i], base_width=group_widths[i],
                               base_channels=stage_widths[i]))
            self.inplanes = stage_widths[i]
            layer_name = f'layer{i + 1}'
            self.add_module(layer_name, res_layer)
            self.res_layers.append(layer_name)
        self._freeze_stages()
        self.feat_dim = stage_widths[-1]

    def _arch_dict(self, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ValueError(f'arch {arch!r} is not one of {sorted(self.arch_settings)}')
            return self.arch_settings[arch]
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got {type(arch)}')
        missing = [key for key in _ARCH_KEYS if key not in arch]
        if missing:
            raise ValueError(f'arch dict {arch} lacks the keys {missing}')
        return arch

    def _make_stem_layer(self, in_channels: int, base_channels: int) -> None:
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, base_channels, 3, stride=2, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, base_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def generate_regnet(self,
                        initial_width: int,
                        width_slope: float,
                        width_parameter: float,
                        depth: int,
                        divisor: int = 8) -> Tuple[List[int], int]:
        """Per-block widths (``depth`` of them, multiples of ``divisor``) and the number of distinct widths."""
        if width_slope < 0 or initial_width <= 0 or width_parameter <= 1 or initial_width % divisor:
            raise ValueError(f'RegNet needs wa >= 0, w0 > 0 divisible by {divisor} and wm > 1; got '
                             f'w0={initial_width}, wa={width_slope}, wm={width_parameter}')
        widths_cont = np.arange(depth) * width_slope + initial_width
        ks = np.round(np.log(widths_cont / initial_width) / np.log(width_parameter))
        widths = initial_width * np.power(width_parameter, ks)
        widths = np.round(np.divide(widths, divisor)) * divisor
        return widths.astype(int).tolist(), len(np.unique(widths))

    @staticmethod
    def quantize_float(number: float, divisor: int) -> int:
        """The multiple of ``divisor`` closest to ``number``."""
        return int(round(number / divisor) * divisor)

    def adjust_width_group(self, widths: List[int], bottleneck_ratio: List[float],
                           groups: List[int]) -> Tuple[List[int], List[int]]:
        """Clip each group width to its bottleneck width and round the widths to multiples of it."""
        bottleneck_width = [int(w * b) for w, b in zip(widths, bottleneck_ratio)]
        groups = [min(g, w_bot) for g, w_bot in zip(groups, bottleneck_width)]
        bottleneck_width = [self.quantize_float(w_bot, g) for w_bot, g in zip(bottleneck_width, groups)]
        widths = [int(w_bot / b) for w_bot, b in zip(bottleneck_width, bottleneck_ratio)]
        return widths, groups

    def get_stages_from_blocks(self, widths: List[int]) -> Tuple[List[int], List[int]]:
        """Per-block widths -> (width of each stage, number of blocks of each stage)."""
        stage_widths: List[int] = []
        stage_blocks: List[int] = []
        for width in widths:
            if stage_widths and stage_widths[-1] == width:
                stage_blocks[-1] += 1
            else:
                stage_widths.append(width)
                stage_blocks.append(1)
        return stage_widths, stage_blocks

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """x: (N, C, H, W) -> tuple of stage outputs selected by ``out_indices``."""
        x = self.relu(self.norm1(self.conv1(x)))
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
