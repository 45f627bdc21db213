"""ResNet / ResNetV1d backbones with MMDetection 2.x names (``conv1``, ``bn1``, ``layer1`` ... ``layer4``).

Symbols: N images, C channels, H, W the input size. Stage ``i`` (0-based) has stride ``4 * 2**i`` with the
default strides, and ``base_channels * 2**i * expansion`` output channels.
"""
import os.path as osp
import re
import warnings
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmcv.runner import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..builder import BACKBONES
from ..utils import ResLayer

_URI_SCHEMES = ('torchvision://', 'modelzoo://', 'open-mmlab://', 'openmmlab://')


def _pretrained_url(checkpoint: str) -> str:
    """Map a ``torchvision://``/``open-mmlab://`` name to its download URL (mmcv's model-zoo tables)."""
    from mmcv.runner.checkpoint import get_external_models, get_torchvision_models
    if checkpoint.startswith(('torchvision://', 'modelzoo://')):
        name = checkpoint.split('://', 1)[1].lower().replace('_weights', '')
        table = get_torchvision_models()
    else:
        name = checkpoint.split('://', 1)[1]
        table = get_external_models()
    if name not in table:
        raise ValueError(f'unknown pretrained model {checkpoint!r}: {name!r} is not in the model zoo table')
    return table[name]


def resolve_pretrained_file(checkpoint: str) -> str:
    """Return the local file for ``checkpoint`` (a path, or a model-zoo URI found in the torch hub cache).

    Model-zoo URIs (``torchvision://resnet50``, ``open-mmlab://detectron2/resnet50_caffe``) are looked up as
    ``$TORCH_HOME/hub/checkpoints/<file name of the URL>``; nothing is downloaded. Raises FileNotFoundError
    naming the file to place, and how to train without it, when it is absent.
    """
    if not checkpoint.startswith(_URI_SCHEMES):
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'pretrained checkpoint {checkpoint!r} does not exist')
        return checkpoint
    url = _pretrained_url(checkpoint)
    path = osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(url))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'pretrained weights {checkpoint!r} are not in the torch hub cache and cannot be downloaded '
            f'here: place the file {path} (downloaded from {url}), or train from scratch with '
            f'--cfg-options model.backbone.init_cfg=None')
    return path


def _load_pretrained(module: nn.Module, checkpoint: str, prefix: Optional[str] = None) -> None:
    """Non-strict weights-only load of ``checkpoint`` into ``module`` (mmcv ``PretrainedInit`` semantics).

    ``prefix`` (e.g. ``'backbone.'`` for a whole classifier's checkpoint) is stripped from the keys that have it.
    """
    from mmcv.cnn.utils.weight_init import update_init_info
    from mmcv.utils import get_logger

    from mmdet_lite.utils.checkpoint import load_checkpoint
    path = resolve_pretrained_file(checkpoint)
    logger = get_logger('mmcv')
    logger.info(f'load model from: {checkpoint}')
    revise_keys = [(r'^module\.', '')] + ([(f'^{re.escape(prefix)}', '')] if prefix else [])
    load_checkpoint(module, path, map_location='cpu', strict=False, logger=logger, revise_keys=revise_keys)
    if hasattr(module, '_params_init_info'):
        update_init_info(module, init_info=f'PretrainedInit: load from {checkpoint}')


def _maybe_checkpointed(inner_forward, x: torch.Tensor, with_cp: bool) -> torch.Tensor:
    """``inner_forward(x)``, recomputed in backward instead of stored when ``with_cp``."""
    if with_cp and x.requires_grad:
        return cp.checkpoint(inner_forward, x, use_reentrant=False)
    return inner_forward(x)


class BasicBlock(BaseModule):
    """Two 3x3 convs with identity shortcut (ResNet-18/34). Output channels = ``planes``."""

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
                 norm_cfg: dict = dict(type='BN'),
                 dcn: Optional[dict] = None,
                 plugins: Optional[list] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if dcn is not None or plugins is not None:
            raise ValueError(f'dcn/plugins are not supported (mmcv.ops is absent); got dcn={dcn}, plugins={plugins}')
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 3, stride=stride, padding=dilation,
                                      dilation=dilation, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.dilation = dilation
        self.with_cp = with_cp

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def _inner_forward(x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.norm2(self.conv2(out))
            return out + identity

        return self.relu(_maybe_checkpointed(_inner_forward, x, self.with_cp))


class Bottleneck(BaseModule):
    """1x1 -> 3x3 -> 1x1 bottleneck; output channels ``planes * 4``.

    ``style='pytorch'`` puts the stride on the 3x3 conv, ``'caffe'`` on the first 1x1 conv.
    """

    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
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
        super().__init__(init_cfg)
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"style must be 'pytorch' or 'caffe', got {style!r}")
        if dcn is not None or plugins is not None:
            raise ValueError(f'dcn/plugins are not supported (mmcv.ops is absent); got dcn={dcn}, plugins={plugins}')
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.with_cp = with_cp
        self.conv1_stride, self.conv2_stride = (1, stride) if style == 'pytorch' else (stride, 1)

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, stride=self.conv2_stride, padding=dilation,
                                      dilation=dilation, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, planes, planes * self.expansion, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def _inner_forward(x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.relu(self.norm2(self.conv2(out)))
            out = self.norm3(self.conv3(out))
            return out + identity

        return self.relu(_maybe_checkpointed(_inner_forward, x, self.with_cp))


@BACKBONES.register_module()
class ResNet(BaseModule):
    """ResNet backbone (MMDetection 2.x). ``forward(x: (N, C, H, W))`` returns a tuple with one
    ``(N, Ci, H / si, W / si)`` map per entry of ``out_indices``.

    ``frozen_stages=k`` freezes the stem and ``layer1..layerk`` (eval mode, no grad), re-applied on every
    ``train()``; ``norm_eval=True`` keeps every BatchNorm in eval mode during training.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 stem_channels: Optional[int] = None,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
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
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth} for resnet, expected one of {sorted(self.arch_settings)}')
        if init_cfg and pretrained:
            raise ValueError('init_cfg and pretrained cannot be specified at the same time')
        if not 1 <= num_stages <= 4:
            raise ValueError(f'num_stages must be in [1, 4], got {num_stages}')
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(f'strides {strides} and dilations {dilations} must have num_stages={num_stages} entries')
        if max(out_indices) >= num_stages:
            raise ValueError(f'out_indices {out_indices} must be < num_stages={num_stages}')
        if dcn is not None or plugins is not None:
            raise ValueError(f'dcn/plugins are not supported (mmcv.ops is absent); got dcn={dcn}, plugins={plugins}')
        self.zero_init_residual = zero_init_residual
        block, stage_blocks = self.arch_settings[depth]
        last_norm = 'norm2' if block is BasicBlock else 'norm3'
        block_init_cfg = self._set_default_init_cfg(pretrained, init_cfg, zero_init_residual, last_norm)

        self.depth = depth
        self.stem_channels = base_channels if stem_channels is None else stem_channels
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
        self.block = block
        self.stage_blocks = stage_blocks[:num_stages]
        self.inplanes = self.stem_channels

        self._make_stem_layer(in_channels, self.stem_channels)

        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            res_layer = self.make_res_layer(block=block, inplanes=self.inplanes, planes=planes,
                                            num_blocks=num_blocks, stride=strides[i], dilation=dilations[i],
                                            avg_down=avg_down, style=style, with_cp=with_cp, conv_cfg=conv_cfg,
                                            norm_cfg=norm_cfg, init_cfg=block_init_cfg)
            self.inplanes = planes * block.expansion
            layer_name = f'layer{i + 1}'
            self.add_module(layer_name, res_layer)
            self.res_layers.append(layer_name)
        self._freeze_stages()
        self.feat_dim = block.expansion * base_channels * 2**(len(self.stage_blocks) - 1)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _set_default_init_cfg(self, pretrained: Optional[str], init_cfg, zero_init_residual: bool,
                              last_norm: str) -> Optional[dict]:
        """Set ``self.init_cfg`` from the deprecated ``pretrained`` or to Kaiming/constant when neither is given;
        returns the blocks' init_cfg (zero ``last_norm`` when ``zero_init_residual``, else None)."""
        if isinstance(pretrained, str):
            warnings.warn('DeprecationWarning: pretrained is deprecated, please use "init_cfg" instead')
            self.init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        elif pretrained is not None:
            raise TypeError(f'pretrained must be a str or None, got {type(pretrained)}')
        elif init_cfg is None:
            self.init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
            ]
            if zero_init_residual:
                return dict(type='Constant', val=0, override=dict(name=last_norm))
        return None

    def make_res_layer(self, **kwargs) -> nn.Module:
        """One stage from ``ResLayer``'s arguments; ResNeXt/ResNeSt/Res2Net override it to add their block's
        arguments (2.28's hook; ``__init__`` calls it, so a subclass sets what it reads before ``super().__init__``)."""
        return ResLayer(**kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            half = stem_channels // 2
            self.stem = nn.Sequential(
                build_conv_layer(self.conv_cfg, in_channels, half, 3, stride=2, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, half)[1],
                nn.ReLU(inplace=True),
                build_conv_layer(self.conv_cfg, half, half, 3, stride=1, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, half)[1],
                nn.ReLU(inplace=True),
                build_conv_layer(self.conv_cfg, half, stem_channels, 3, stride=1, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, stem_channels)[1],
                nn.ReLU(inplace=True))
        else:
            self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels, 7, stride=2, padding=3,
                                          bias=False)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            stem = [self.stem] if self.deep_stem else [self.conv1, self.norm1]
            for m in stem:
                m.eval()
                for param in m.parameters():
                    param.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            m = getattr(self, f'layer{i}')
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """mmcv init; a ``Pretrained`` init_cfg is loaded weights-only from a local file or the hub cache."""
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            _load_pretrained(self, self.init_cfg['checkpoint'], self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """x: (N, C, H, W) -> tuple of stage outputs selected by ``out_indices``."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'ResNet':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


@BACKBONES.register_module()
class ResNetV1d(ResNet):
    """ResNet-D: deep 3x3 stem and AvgPool shortcut downsampling (``deep_stem=True, avg_down=True``)."""

    def __init__(self, depth: int, **kwargs) -> None:
        super().__init__(depth, deep_stem=True, avg_down=True, **kwargs)


__all__ = ['ResNet', 'ResNetV1d', 'BasicBlock', 'Bottleneck', 'ResLayer', 'resolve_pretrained_file']
