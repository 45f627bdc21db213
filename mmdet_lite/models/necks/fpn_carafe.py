"""FPN whose top-down path upsamples with a learned layer, CARAFE by default (MMDetection 2.x ``FPN_CARAFE``).

Symbols: L input levels with channels ``in_channels[i]``; ``num_outs`` outputs with ``out_channels`` each.
Unlike ``FPN``, the extra levels (beyond the backbone's) are full pyramid levels: a stride-2 3x3 "lateral"
conv on the last used input (then on the previous extra level), which also takes part in the top-down sum,
and a 3x3 output conv.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_upsample_layer, xavier_init
from mmcv.runner import BaseModule

from ...ops import CARAFEPack
from ..builder import NECKS
from .fpn import backbone_end_level

_UPSAMPLE_TYPES = ('nearest', 'bilinear', 'deconv', 'pixel_shuffle', 'carafe')
_ORDERS = (('conv', 'norm', 'act'), ('act', 'conv', 'norm'))


@NECKS.register_module()
class FPN_CARAFE(BaseModule):
    """``upsample_cfg['type']``: 'carafe' (``CARAFEPack``; the other keys are its arguments), 'nearest',
    'bilinear', 'deconv' or 'pixel_shuffle' (these two need ``upsample_kernel``); every upsampler doubles
    the size. ``end_level`` is the last input used, inclusive (-1: the last), as in MMDetection 2.28.
    Convs have a bias only without ``norm_cfg``; ``order`` is the ConvModule order."""

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 num_outs: int,
                 start_level: int = 0,
                 end_level: int = -1,
                 norm_cfg=None,
                 act_cfg=None,
                 order: Tuple[str, str, str] = ('conv', 'norm', 'act'),
                 upsample_cfg: dict = dict(type='carafe', up_kernel=5, up_group=1, encoder_kernel=3,
                                           encoder_dilation=1),
                 init_cfg=None) -> None:
        if init_cfg is not None:
            raise ValueError(f'FPN_CARAFE initialises its own weights (init_weights); init_cfg must be None, '
                             f'got {init_cfg!r}')
        super().__init__(init_cfg)
        if not isinstance(in_channels, (list, tuple)):
            raise TypeError(f'in_channels must be a list of ints, got {type(in_channels)}')
        if tuple(order) not in _ORDERS:
            raise ValueError(f'order must be one of {_ORDERS}, got {order!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.with_bias = norm_cfg is None
        self.order = tuple(order)
        self.upsample_cfg = dict(upsample_cfg)
        self.upsample = self.upsample_cfg.get('type')
        if self.upsample not in _UPSAMPLE_TYPES:
            raise ValueError(f"upsample_cfg['type'] must be one of {_UPSAMPLE_TYPES}, got {self.upsample!r}")
        if self.upsample in ('deconv', 'pixel_shuffle'):
            self.upsample_kernel = self.upsample_cfg.pop('upsample_kernel', 0)
            if self.upsample_kernel <= 0:
                raise ValueError(f"upsample_cfg type {self.upsample!r} needs upsample_kernel > 0, "
                                 f'got {self.upsample_kernel!r}')

        self.backbone_end_level = backbone_end_level(self.num_ins, start_level, end_level, num_outs)
        self.start_level = start_level
        self.end_level = end_level

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        self.upsample_modules = nn.ModuleList()
        for i in range(start_level, self.backbone_end_level):
            self.lateral_convs.append(self._conv(in_channels[i], 1))
            self.fpn_convs.append(self._conv(out_channels, 3, padding=1))
            if i != self.backbone_end_level - 1:
                self.upsample_modules.append(self._upsampler())
        extra_levels = num_outs - self.backbone_end_level + start_level
        for i in range(extra_levels):
            extra_in = in_channels[self.backbone_end_level - 1] if i == 0 else out_channels
            self.lateral_convs.append(self._conv(extra_in, 3, stride=2, padding=1))
            self.upsample_modules.append(self._upsampler())
            self.fpn_convs.append(self._conv(out_channels, 3, padding=1))

    def _conv(self, in_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> ConvModule:
        return ConvModule(in_channels, self.out_channels, kernel_size, stride=stride, padding=padding,
                          norm_cfg=self.norm_cfg, bias=self.with_bias, act_cfg=self.act_cfg, inplace=False,
                          order=self.order)

    def _upsampler(self) -> nn.Module:
        """One 2x upsampling layer on ``out_channels`` maps."""
        channels = self.out_channels
        cfg = dict(self.upsample_cfg)
        if self.upsample == 'deconv':
            pad = (self.upsample_kernel - 1) // 2
            cfg.update(in_channels=channels, out_channels=channels, kernel_size=self.upsample_kernel, stride=2,
                       padding=pad, output_padding=pad)
        elif self.upsample == 'pixel_shuffle':
            cfg.update(in_channels=channels, out_channels=channels, scale_factor=2,
                       upsample_kernel=self.upsample_kernel)
        elif self.upsample == 'carafe':
            cfg.update(channels=channels, scale_factor=2)
        else:
            cfg.update(scale_factor=2, mode=self.upsample,
                       align_corners=None if self.upsample == 'nearest' else False)
        return build_upsample_layer(cfg)

    def init_weights(self) -> None:
        """Xavier-uniform for every (transposed) conv, then CARAFEPack's own initialisation."""
        super().init_weights()
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                xavier_init(module, distribution='uniform')
        for module in self.modules():
            if isinstance(module, CARAFEPack):
                module.init_weights()

    @staticmethod
    def tensor_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a + b, cropping b's bottom/right to a's size (an upsampled odd-sized level is one pixel larger)."""
        if a.shape[2:] == b.shape[2:]:
            return a + b
        if b.shape[2] < a.shape[2] or b.shape[3] < a.shape[3]:
            raise ValueError(f'upsampled map {tuple(b.shape)} is smaller than the level {tuple(a.shape)} it joins')
        return a + b[:, :, :a.shape[2], :a.shape[3]]

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """inputs: L maps (N, in_channels[i], Hi, Wi) -> ``num_outs`` maps (N, out_channels, H'j, W'j)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'FPN_CARAFE expected {len(self.in_channels)} inputs, got {len(inputs)}')
        laterals: List[torch.Tensor] = []
        for i, lateral_conv in enumerate(self.lateral_convs):
            if i <= self.backbone_end_level - self.start_level:
                source = inputs[min(i + self.start_level, len(inputs) - 1)]
            else:
                source = laterals[-1]
            laterals.append(lateral_conv(source))
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = self.tensor_add(laterals[i - 1], self.upsample_modules[i - 1](laterals[i]))
        return tuple(fpn_conv(lateral) for fpn_conv, lateral in zip(self.fpn_convs, laterals))
