"""ResNet / ResNetV1d backbones with MMDetection 2.x names (``conv1``, ``bn1``, ``layer1`` ... ``layer4``).

Symbols: N images, C channels, H, W the input size. Stage ``i`` (0-based) has stride ``4 * 2**i`` with the
default strides, and ``base_channels * 2**i * expansion`` output channels.
"""
import os.path as osp
import re
import warnings
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer, build_plugin_layer
from mmcv.runner import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..builder import BACKBONES
from ..utils import ResLayer

_URI_SCHEMES = ('torchvision://', 'modelzoo://', 'open-mmlab://', 'openmmlab://')
PLUGIN_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')


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


def default_init_cfg(pretrained: Optional[str], init_cfg):
    """The init_cfg of 2.28's ResNet-family modules: the deprecated ``pretrained`` as a ``Pretrained`` init_cfg,
    else ``init_cfg``, else Kaiming convs and unit norms."""
    if init_cfg and pretrained:
        raise ValueError('init_cfg and pretrained cannot be specified at the same time')
    if isinstance(pretrained, str):
        warnings.warn('DeprecationWarning: pretrained is deprecated, please use "init_cfg" instead')
        return dict(type='Pretrained', checkpoint=pretrained)
    if pretrained is not None:
        raise TypeError(f'pretrained must be a str or None, got {type(pretrained)}')
    if init_cfg is None:
        return [dict(type='Kaiming', layer='Conv2d'), dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
    return init_cfg


class PretrainedFromCache(BaseModule):
    """``init_weights`` that loads a ``Pretrained`` init_cfg weights-only from a local file or the hub cache
    (:func:`_load_pretrained`), and otherwise runs mmcv's initialisers."""

    def init_weights(self) -> None:
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            _load_pretrained(self, self.init_cfg['checkpoint'], self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()


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
            raise ValueError(f'BasicBlock (ResNet-18/34) takes no dcn or plugins, as in MMDetection 2.28; got '
                             f'dcn={dcn}, plugins={plugins}')
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
    ``dcn`` (a conv cfg such as ``dict(type='DCN', deform_groups=1)``) builds ``conv2`` as a deformable
    conv, unless its ``fallback_on_stride`` is true. ``plugins`` is a list of
    ``dict(cfg=..., position='after_conv1' | 'after_conv2' | 'after_conv3')``; each plugin is a module
    named by mmcv's ``build_plugin_layer`` (its abbreviation + ``cfg['postfix']``, e.g.
    ``gen_attention_block``) and applied in list order to the output of that conv's norm (and ReLU).
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
        if dcn is not None and not isinstance(dcn, dict):
            raise TypeError(f'dcn must be a conv cfg dict or None, got {dcn!r}')
        if plugins is not None and not isinstance(plugins, list):
            raise TypeError(f'plugins must be a list of dicts or None, got {plugins!r}')
        for plugin in plugins or []:
            if plugin.get('position') not in PLUGIN_POSITIONS:
                raise ValueError(f"plugin position must be one of {PLUGIN_POSITIONS}, got {plugin.get('position')!r} "
                                 f'in {plugin}')
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.dcn = dcn
        self.with_dcn = dcn is not None
        self.plugins = plugins
        self.with_plugins = plugins is not None
        self.conv1_stride, self.conv2_stride = (1, stride) if style == 'pytorch' else (stride, 1)

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(self._conv2_cfg(), planes, planes, 3, stride=self.conv2_stride,
                                      padding=dilation, dilation=dilation, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, planes, planes * self.expansion, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

        if self.with_plugins:
            self.after_conv1_plugin_names = self.make_block_plugins(planes, self._plugin_cfgs('after_conv1'))
            self.after_conv2_plugin_names = self.make_block_plugins(planes, self._plugin_cfgs('after_conv2'))
            self.after_conv3_plugin_names = self.make_block_plugins(planes * self.expansion,
                                                                    self._plugin_cfgs('after_conv3'))

    def _conv2_cfg(self) -> Optional[dict]:
        """The 3x3 conv's cfg: ``conv_cfg``, or ``dcn`` less its ``fallback_on_stride`` key."""
        if not self.with_dcn:
            return self.conv_cfg
        dcn = dict(self.dcn)
        # 2.28 pops the key from the shared dict, so only its first block could fall back; here every
        # block with fallback_on_stride=True keeps the plain conv (no 2.28 config sets it)
        if dcn.pop('fallback_on_stride', False):
            return self.conv_cfg
        if self.conv_cfg is not None:
            raise ValueError(f'conv_cfg must be None for DCN (dcn={self.dcn}), got conv_cfg={self.conv_cfg}')
        return dcn

    def _plugin_cfgs(self, position: str) -> List[dict]:
        return [plugin['cfg'] for plugin in self.plugins if plugin['position'] == position]

    def make_block_plugins(self, in_channels: int, plugins: List[dict]) -> List[str]:
        """Build each plugin cfg on ``in_channels``; add it as a submodule named abbreviation + postfix."""
        plugin_names = []
        for plugin in plugins:
            plugin = dict(plugin)
            postfix = plugin.pop('postfix', '')
            name, layer = build_plugin_layer(plugin, in_channels=in_channels, postfix=postfix)
            if hasattr(self, name):
                raise ValueError(f'duplicate plugin {name!r}: give plugins of one type distinct postfixes')
            self.add_module(name, layer)
            plugin_names.append(name)
        return plugin_names

    def forward_plugin(self, x: torch.Tensor, plugin_names: List[str]) -> torch.Tensor:
        """x: (N, C, H, W) through the named plugins in order (shape kept)."""
        for name in plugin_names:
            x = getattr(self, name)(x)
        return x

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
            if self.with_plugins:
                out = self.forward_plugin(out, self.after_conv1_plugin_names)
            out = self.relu(self.norm2(self.conv2(out)))
            if self.with_plugins:
                out = self.forward_plugin(out, self.after_conv2_plugin_names)
            out = self.norm3(self.conv3(out))
            if self.with_plugins:
                out = self.forward_plugin(out, self.after_conv3_plugin_names)
            return out + identity

        return self.relu(_maybe_checkpointed(_inner_forward, x, self.with_cp))


@BACKBONES.register_module()
class ResNet(PretrainedFromCache):
    """ResNet backbone (MMDetection 2.x). ``forward(x: (N, C, H, W))`` returns a tuple with one
    ``(N, Ci, H / si, W / si)`` map per entry of ``out_indices``.

    ``frozen_stages=k`` freezes the stem and ``layer1..layerk`` (eval mode, no grad), re-applied on every
    ``train()``; ``norm_eval=True`` keeps every BatchNorm in eval mode during training.
    ``dcn`` goes to every block of the stages flagged in ``stage_with_dcn``; each entry of ``plugins``
    (``dict(cfg=..., position=..., stages=(bool,) * num_stages)``, all stages without ``stages``) goes
    to every block of its stages (see ``Bottleneck``).
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
        if not 1 <= num_stages <= 4:
            raise ValueError(f'num_stages must be in [1, 4], got {num_stages}')
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(f'strides {strides} and dilations {dilations} must have num_stages={num_stages} entries')
        if max(out_indices) >= num_stages:
            raise ValueError(f'out_indices {out_indices} must be < num_stages={num_stages}')
        if dcn is not None and len(stage_with_dcn) != num_stages:
            raise ValueError(f'stage_with_dcn {stage_with_dcn} must have num_stages={num_stages} entries')
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
        self.dcn = dcn
        self.stage_with_dcn = stage_with_dcn
        self.plugins = plugins
        self.block = block
        self.stage_blocks = stage_blocks[:num_stages]
        self.inplanes = self.stem_channels

        self._make_stem_layer(in_channels, self.stem_channels)

        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            stage_plugins = None if plugins is None else self.make_stage_plugins(plugins, i)
            res_layer = self.make_res_layer(block=block, inplanes=self.inplanes, planes=planes,
                                            num_blocks=num_blocks, stride=strides[i], dilation=dilations[i],
                                            avg_down=avg_down, style=style, with_cp=with_cp, conv_cfg=conv_cfg,
                                            norm_cfg=norm_cfg, init_cfg=block_init_cfg,
                                            dcn=dcn if dcn is not None and stage_with_dcn[i] else None,
                                            plugins=stage_plugins)
            self.inplanes = planes * block.expansion
            layer_name = f'layer{i + 1}'
            self.add_module(layer_name, res_layer)
            self.res_layers.append(layer_name)
        self._freeze_stages()
        self.feat_dim = block.expansion * base_channels * 2**(len(self.stage_blocks) - 1)

    def make_stage_plugins(self, plugins: List[dict], stage_idx: int) -> List[dict]:
        """The entries of ``plugins`` whose ``stages`` include ``stage_idx``, without their ``stages`` key."""
        stage_plugins = []
        for plugin in plugins:
            plugin = dict(plugin)
            stages = plugin.pop('stages', None)
            if stages is not None and len(stages) != self.num_stages:
                raise ValueError(f'plugin stages {stages} must have num_stages={self.num_stages} entries')
            if stages is None or stages[stage_idx]:
                stage_plugins.append(plugin)
        return stage_plugins

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _set_default_init_cfg(self, pretrained: Optional[str], init_cfg, zero_init_residual: bool,
                              last_norm: str) -> Optional[dict]:
        """Set ``self.init_cfg`` (:func:`default_init_cfg`); returns the blocks' init_cfg: zero ``last_norm``
        when ``zero_init_residual`` and the defaults apply, else None."""
        self.init_cfg = default_init_cfg(pretrained, init_cfg)
        if pretrained is None and init_cfg is None and zero_init_residual:
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
