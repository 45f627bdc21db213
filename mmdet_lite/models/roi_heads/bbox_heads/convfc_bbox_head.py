"""``BBoxHead`` with shared convs/fcs and separate cls/reg branches (MMDetection 2.x ``ConvFCBBoxHead``).

Layout::

                                /-> cls convs -> cls fcs -> fc_cls
    shared convs -> shared fcs
                                \\-> reg convs -> reg fcs -> fc_reg

``fc_cls``/``fc_reg`` are created by ``BBoxHead`` first and re-created here with the branch width, so their
state-dict entries come before ``shared_fcs`` (MMDetection checkpoint order).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from ...builder import HEADS
from .bbox_head import BBoxHead


@HEADS.register_module()
class ConvFCBBoxHead(BBoxHead):
    """Configurable conv/fc tower; x: (R, C, S, S) -> cls_score (R, K+1), bbox_pred (R, 4 or 4K)."""

    def __init__(self,
                 num_shared_convs: int = 0,
                 num_shared_fcs: int = 0,
                 num_cls_convs: int = 0,
                 num_cls_fcs: int = 0,
                 num_reg_convs: int = 0,
                 num_reg_fcs: int = 0,
                 conv_out_channels: int = 256,
                 fc_out_channels: int = 1024,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 init_cfg=None,
                 **bbox_head_args) -> None:
        super().__init__(init_cfg=init_cfg, **bbox_head_args)
        if num_shared_convs + num_shared_fcs + num_cls_convs + num_cls_fcs + num_reg_convs + num_reg_fcs <= 0:
            raise ValueError('ConvFCBBoxHead needs at least one conv or fc layer')
        if (num_cls_convs > 0 or num_reg_convs > 0) and num_shared_fcs != 0:
            raise ValueError('cls/reg convs need num_shared_fcs == 0 (they run on spatial features)')
        if not self.with_cls and (num_cls_convs != 0 or num_cls_fcs != 0):
            raise ValueError('cls branch layers given but with_cls=False')
        if not self.with_reg and (num_reg_convs != 0 or num_reg_fcs != 0):
            raise ValueError('reg branch layers given but with_reg=False')
        self.num_shared_convs = num_shared_convs
        self.num_shared_fcs = num_shared_fcs
        self.num_cls_convs = num_cls_convs
        self.num_cls_fcs = num_cls_fcs
        self.num_reg_convs = num_reg_convs
        self.num_reg_fcs = num_reg_fcs
        self.conv_out_channels = conv_out_channels
        self.fc_out_channels = fc_out_channels
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg

        self.shared_convs, self.shared_fcs, last_layer_dim = self._add_conv_fc_branch(
            num_shared_convs, num_shared_fcs, self.in_channels, is_shared=True)
        self.shared_out_channels = last_layer_dim
        self.cls_convs, self.cls_fcs, self.cls_last_dim = self._add_conv_fc_branch(
            num_cls_convs, num_cls_fcs, self.shared_out_channels)
        self.reg_convs, self.reg_fcs, self.reg_last_dim = self._add_conv_fc_branch(
            num_reg_convs, num_reg_fcs, self.shared_out_channels)
        if self.num_shared_fcs == 0 and not self.with_avg_pool:
            if self.num_cls_fcs == 0:
                self.cls_last_dim *= self.roi_feat_area
            if self.num_reg_fcs == 0:
                self.reg_last_dim *= self.roi_feat_area
        self.relu = nn.ReLU(inplace=True)
        if self.with_cls:
            self.fc_cls = nn.Linear(self.cls_last_dim, self.cls_channels)
        if self.with_reg:
            out_dim_reg = 4 if self.reg_class_agnostic else 4 * self.num_classes
            self.fc_reg = nn.Linear(self.reg_last_dim, out_dim_reg)
        if init_cfg is None:
            # BBoxHead already set Normal inits for fc_cls/fc_reg; mmcv's Xavier default is the normal distribution
            self.init_cfg += [
                dict(type='Xavier', override=[dict(name='shared_fcs'), dict(name='cls_fcs'), dict(name='reg_fcs')])
            ]

    def _add_conv_fc_branch(self, num_branch_convs: int, num_branch_fcs: int, in_channels: int,
                            is_shared: bool = False) -> Tuple[nn.ModuleList, nn.ModuleList, int]:
        """3x3 ConvModules then Linear layers; returns (convs, fcs, output width)."""
        last_layer_dim = in_channels
        branch_convs = nn.ModuleList()
        for i in range(num_branch_convs):
            conv_in_channels = last_layer_dim if i == 0 else self.conv_out_channels
            branch_convs.append(
                ConvModule(conv_in_channels, self.conv_out_channels, 3, padding=1, conv_cfg=self.conv_cfg,
                           norm_cfg=self.norm_cfg))
        if num_branch_convs > 0:
            last_layer_dim = self.conv_out_channels
        branch_fcs = nn.ModuleList()
        if num_branch_fcs > 0:
            if (is_shared or self.num_shared_fcs == 0) and not self.with_avg_pool:
                last_layer_dim *= self.roi_feat_area
            for i in range(num_branch_fcs):
                fc_in_channels = last_layer_dim if i == 0 else self.fc_out_channels
                branch_fcs.append(nn.Linear(fc_in_channels, self.fc_out_channels))
            last_layer_dim = self.fc_out_channels
        return branch_convs, branch_fcs, last_layer_dim

    def forward(self, x: torch.Tensor) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        for conv in self.shared_convs:
            x = conv(x)
        if self.num_shared_fcs > 0:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
            for fc in self.shared_fcs:
                x = self.relu(fc(x))
        x_cls = self._branch(x, self.cls_convs, self.cls_fcs)
        x_reg = self._branch(x, self.reg_convs, self.reg_fcs)
        cls_score = self.fc_cls(x_cls) if self.with_cls else None
        bbox_pred = self.fc_reg(x_reg) if self.with_reg else None
        return cls_score, bbox_pred

    def _branch(self, x: torch.Tensor, convs: nn.ModuleList, fcs: nn.ModuleList) -> torch.Tensor:
        for conv in convs:
            x = conv(x)
        if x.dim() > 2:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
        for fc in fcs:
            x = self.relu(fc(x))
        return x


@HEADS.register_module()
class Shared2FCBBoxHead(ConvFCBBoxHead):
    """Two shared fully connected layers (Faster R-CNN FPN): flatten -> fc -> ReLU -> fc -> ReLU."""

    def __init__(self, fc_out_channels: int = 1024, **bbox_head_args) -> None:
        super().__init__(num_shared_convs=0, num_shared_fcs=2, num_cls_convs=0, num_cls_fcs=0, num_reg_convs=0,
                         num_reg_fcs=0, fc_out_channels=fc_out_channels, **bbox_head_args)


@HEADS.register_module()
class Shared4Conv1FCBBoxHead(ConvFCBBoxHead):
    """Four shared 3x3 convs then one shared fc."""

    def __init__(self, fc_out_channels: int = 1024, **bbox_head_args) -> None:
        super().__init__(num_shared_convs=4, num_shared_fcs=1, num_cls_convs=0, num_cls_fcs=0, num_reg_convs=0,
                         num_reg_fcs=0, fc_out_channels=fc_out_channels, **bbox_head_args)
