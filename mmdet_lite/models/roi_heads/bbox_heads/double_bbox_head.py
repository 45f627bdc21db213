"""Box head of Double-Head R-CNN (MMDetection 2.x ``DoubleConvFCBBoxHead``, https://arxiv.org/abs/1904.06493):
fully connected layers classify, convolutions regress.

Symbols: R RoIs, C = ``in_channels``, S x S the RoI feature size, C' = ``conv_out_channels``,
F = ``fc_out_channels``, K classes.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmcv.runner import BaseModule, ModuleList

from ...backbones.resnet import Bottleneck
from ...builder import HEADS
from .bbox_head import BBoxHead


class BasicResBlock(BaseModule):
    """Residual block that changes the channels: ``relu(conv2(conv1(x)) + conv_identity(x))``.

    ``conv1`` is a 3x3 ConvModule (BN, ReLU, no bias) keeping ``in_channels``, ``conv2`` a 1x1 (BN, no
    activation, no bias) and ``conv_identity`` a 1x1 (BN, no activation), both to ``out_channels``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.conv1 = ConvModule(in_channels, in_channels, kernel_size=3, padding=1, bias=False, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg)
        self.conv2 = ConvModule(in_channels, out_channels, kernel_size=1, bias=False, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, act_cfg=None)
        self.conv_identity = ConvModule(in_channels, out_channels, kernel_size=1, conv_cfg=conv_cfg,
                                        norm_cfg=norm_cfg, act_cfg=None)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (R, in_channels, H, W) -> (R, out_channels, H, W)."""
        return self.relu(self.conv2(self.conv1(x)) + self.conv_identity(x))


@HEADS.register_module()
class DoubleConvFCBBoxHead(BBoxHead):
    """Two branches on two RoI feature maps::

        x_reg (R, C, S, S) -> res_block (C -> C') -> num_convs Bottlenecks (C') -> avg pool -> fc_reg
        x_cls (R, C, S, S) -> flatten -> num_fcs (Linear + ReLU, width F) -> fc_cls (K + 1)

    ``with_avg_pool`` defaults to True and must stay True; ``res_block`` uses BN whatever ``norm_cfg`` says
    (as in MMDetection 2.28), the Bottlenecks use ``conv_cfg`` / ``norm_cfg``. Other arguments are BBoxHead's.
    """

    def __init__(self,
                 num_convs: int = 0,
                 num_fcs: int = 0,
                 conv_out_channels: int = 1024,
                 fc_out_channels: int = 1024,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=dict(type='Normal',
                               override=[
                                   dict(type='Normal', name='fc_cls', std=0.01),
                                   dict(type='Normal', name='fc_reg', std=0.001),
                                   dict(type='Xavier', name='fc_branch', distribution='uniform')
                               ]),
                 with_avg_pool: bool = True,
                 **bbox_head_args) -> None:
        super().__init__(init_cfg=init_cfg, with_avg_pool=with_avg_pool, **bbox_head_args)
        if not self.with_avg_pool:
            raise ValueError('DoubleConvFCBBoxHead needs with_avg_pool=True, got False')
        if num_convs <= 0 or num_fcs <= 0:
            raise ValueError(f'DoubleConvFCBBoxHead needs num_convs > 0 and num_fcs > 0, '
                             f'got num_convs={num_convs}, num_fcs={num_fcs}')
        self.num_convs = num_convs
        self.num_fcs = num_fcs
        self.conv_out_channels = conv_out_channels
        self.fc_out_channels = fc_out_channels
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg

        self.res_block = BasicResBlock(self.in_channels, conv_out_channels)
        self.conv_branch = ModuleList([
            Bottleneck(inplanes=conv_out_channels, planes=conv_out_channels // 4, conv_cfg=conv_cfg,
                       norm_cfg=norm_cfg) for _ in range(num_convs)
        ])
        self.fc_branch = ModuleList([
            nn.Linear(self.in_channels * self.roi_feat_area if i == 0 else fc_out_channels, fc_out_channels)
            for i in range(num_fcs)
        ])
        out_dim_reg = 4 if self.reg_class_agnostic else 4 * self.num_classes
        self.fc_reg = nn.Linear(conv_out_channels, out_dim_reg)
        self.fc_cls = nn.Linear(fc_out_channels, self.num_classes + 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x_cls: torch.Tensor, x_reg: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x_cls, x_reg: (R, C, S, S) -> cls_score (R, K+1), bbox_pred (R, 4 or 4K)."""
        x_conv = self.res_block(x_reg)
        for conv in self.conv_branch:
            x_conv = conv(x_conv)
        bbox_pred = self.fc_reg(self.avg_pool(x_conv).flatten(1))
        x_fc = x_cls.flatten(1)
        for fc in self.fc_branch:
            x_fc = self.relu(fc(x_fc))
        return self.fc_cls(x_fc), bbox_pred
