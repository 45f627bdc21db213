"""HRNet backbone (MMDetection 2.x): parallel branches at strides 4, 8, 16, 32, fused repeatedly.

Symbols: N images, B branches of a stage, C_i the channels of branch i (at stride ``4 * 2**i``).
The stem is two 3x3 stride-2 convs (``conv1``/``bn1``, ``conv2``/``bn2``), then ``layer1`` (stage 1, one
branch), then ``transition{k}`` + ``stage{k+1}`` for k = 1, 2, 3. ``forward`` returns the B branches of
stage 4, highest resolution first: a list of (N, C_i, H / 2**(i+2), W / 2**(i+2)).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmcv.runner import BaseModule, ModuleList, Sequential
from torch.nn.modules.batchnorm import _BatchNorm

from ..builder import BACKBONES
from .resnet import BasicBlock, Bottleneck, PretrainedFromCache, default_init_cfg

_STAGE_KEYS = ('num_modules', 'num_branches', 'block', 'num_blocks', 'num_channels')


def _conv_norm(conv_cfg: Optional[dict], norm_cfg: dict, in_channels: int, out_channels: int,
               kernel_size: int, stride: int, *extra: nn.Module) -> nn.Sequential:
    """``conv (bias-free, padding k // 2) -> norm`` then ``extra`` (a ReLU, an Upsample) as a Sequential."""
    return nn.Sequential(
        build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                         bias=False),
        build_norm_layer(norm_cfg, out_channels)[1],
        *extra)


def _make_blocks(block: type, inplanes: int, planes: int, num_blocks: int, conv_cfg: Optional[dict],
                 norm_cfg: dict, with_cp: bool, block_init_cfg: Optional[dict]) -> Sequential:
    """``num_blocks`` stride-1 blocks; the first gets a 1x1 conv+norm shortcut when the channels change."""
    downsample = None
    if inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            build_conv_layer(conv_cfg, inplanes, planes * block.expansion, 1, stride=1, bias=False),
            build_norm_layer(norm_cfg, planes * block.expansion)[1])
    common = dict(with_cp=with_cp, norm_cfg=norm_cfg, conv_cfg=conv_cfg, init_cfg=block_init_cfg)
    blocks = [block(inplanes, planes, 1, downsample=downsample, **common)]
    blocks += [block(planes * block.expansion, planes, **common) for _ in range(1, num_blocks)]
    return Sequential(*blocks)


class HRModule(BaseModule):
    """B parallel branches of blocks, then (B > 1) a fuse: output i = relu(sum_j f_ij(branch_j)) with
    f_ii = identity, f_ij (j > i) = ``1x1 conv -> norm -> nearest upsample x2**(j-i)``, and f_ij (j < i) =
    i - j ``3x3 stride-2 conv -> norm`` steps (relu between them; the last maps C_j to C_i).

    ``multiscale_output=False`` keeps only output 0. State-dict names: ``branches.{i}.{block}``,
    ``fuse_layers.{i}.{j}.{0: conv, 1: norm}`` (j > i) and ``fuse_layers.{i}.{j}.{k}.{0: conv, 1: norm}`` (j < i).
    """

    def __init__(self,
                 num_branches: int,
                 blocks: type,
                 num_blocks: Sequence[int],
                 in_channels: List[int],
                 num_channels: Sequence[int],
                 multiscale_output: bool = True,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 block_init_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        for name, values in (('num_blocks', num_blocks), ('in_channels', in_channels),
                             ('num_channels', num_channels)):
            if len(values) != num_branches:
                raise ValueError(f'HRModule: num_branches({num_branches}) != len({name}) ({len(values)})')
        self.num_branches = num_branches
        self.multiscale_output = multiscale_output
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.with_cp = with_cp
        self.branches = ModuleList([
            _make_blocks(blocks, in_channels[i], num_channels[i], num_blocks[i], conv_cfg, norm_cfg, with_cp,
                         block_init_cfg) for i in range(num_branches)
        ])
        # As 2.28, ``in_channels`` is updated in place: the caller reads the branches' output channels from it.
        in_channels[:] = [channels * blocks.expansion for channels in num_channels]
        self.in_channels = in_channels
        self.fuse_layers = self._make_fuse_layers()
        self.relu = nn.ReLU(inplace=False)

    def _fuse_step(self, i: int, j: int) -> Optional[nn.Module]:
        """The map f_ij from branch j to output i (None for i == j)."""
        channels = self.in_channels
        if j == i:
            return None
        if j > i:
            return _conv_norm(self.conv_cfg, self.norm_cfg, channels[j], channels[i], 1, 1,
                              nn.Upsample(scale_factor=2**(j - i), mode='nearest'))
        steps = [_conv_norm(self.conv_cfg, self.norm_cfg, channels[j], channels[j], 3, 2, nn.ReLU(inplace=False))
                 for _ in range(i - j - 1)]
        steps.append(_conv_norm(self.conv_cfg, self.norm_cfg, channels[j], channels[i], 3, 2))
        return nn.Sequential(*steps)

    def _make_fuse_layers(self) -> Optional[nn.ModuleList]:
        if self.num_branches == 1:
            return None
        num_out = self.num_branches if self.multiscale_output else 1
        return nn.ModuleList([
            nn.ModuleList([self._fuse_step(i, j) for j in range(self.num_branches)]) for i in range(num_out)
        ])

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        """x: B maps (N, C_i, H_i, W_i) -> B maps (1 when not ``multiscale_output``) of the same shapes."""
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        x = [branch(x_i) for branch, x_i in zip(self.branches, x)]
        fused = []
        for i, fuse_layer in enumerate(self.fuse_layers):
            # Summed in branch order, as 2.28, so float results match it bit for bit.
            terms = [x[j] if j == i else fuse_layer[j](x[j]) for j in range(self.num_branches)]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            fused.append(self.relu(total))
        return fused


@BACKBONES.register_module()
class HRNet(PretrainedFromCache):
    """HRNet(V2) backbone. ``extra`` holds ``stage1`` .. ``stage4``, each a dict with ``num_modules``,
    ``num_branches``, ``block`` ('BASIC' or 'BOTTLENECK'), ``num_blocks`` and ``num_channels`` (one entry
    per branch). Stage 1 has one branch on the 64-channel stem; stage k has k branches in 2.28's configs.
    """

    blocks_dict = {'BASIC': BasicBlock, 'BOTTLENECK': Bottleneck}

    def __init__(self,
                 extra: Dict[str, dict],
                 in_channels: int = 3,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = True,
                 with_cp: bool = False,
                 zero_init_residual: bool = False,
                 multiscale_output: bool = True,
                 pretrained: Optional[str] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.init_cfg = default_init_cfg(pretrained, init_cfg)
        self._check_extra(extra)
        self.pretrained = pretrained
        self.extra = extra
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        # 2.28 builds its blocks' zero-init only when the module has no ``init_cfg`` attribute, which a
        # BaseModule always has: ``zero_init_residual`` is accepted and has no effect there, nor here.
        self.zero_init_residual = zero_init_residual

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, 64, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, 64, postfix=2)
        self.conv1 = build_conv_layer(conv_cfg, in_channels, 64, 3, stride=2, padding=1, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, 64, 64, 3, stride=2, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)

        self.stage1_cfg = extra['stage1']
        block = self.blocks_dict[self.stage1_cfg['block']]
        planes = self.stage1_cfg['num_channels'][0]
        self.layer1 = _make_blocks(block, 64, planes, self.stage1_cfg['num_blocks'][0], conv_cfg, norm_cfg,
                                   with_cp, None)
        pre_stage_channels = [planes * block.expansion]
        for k in (2, 3, 4):
            stage_cfg = extra[f'stage{k}']
            setattr(self, f'stage{k}_cfg', stage_cfg)
            expansion = self.blocks_dict[stage_cfg['block']].expansion
            num_channels = [channels * expansion for channels in stage_cfg['num_channels']]
            setattr(self, f'transition{k - 1}', self._make_transition_layer(pre_stage_channels, num_channels))
            stage, pre_stage_channels = self._make_stage(
                stage_cfg, num_channels, multiscale_output=multiscale_output if k == 4 else True)
            setattr(self, f'stage{k}', stage)

    def _check_extra(self, extra: Dict[str, dict]) -> None:
        for k in range(1, 5):
            name = f'stage{k}'
            if name not in extra:
                raise ValueError(f'HRNet extra must have stage1..stage4, {name!r} is missing: {extra}')
            stage_cfg = extra[name]
            missing = [key for key in _STAGE_KEYS if key not in stage_cfg]
            if missing:
                raise ValueError(f'HRNet extra[{name!r}] lacks {missing}: {stage_cfg}')
            if stage_cfg['block'] not in self.blocks_dict:
                raise ValueError(f"HRNet extra[{name!r}]['block'] must be one of {sorted(self.blocks_dict)}, "
                                 f"got {stage_cfg['block']!r}")
            num_branches = stage_cfg['num_branches']
            if len(stage_cfg['num_blocks']) != num_branches or len(stage_cfg['num_channels']) != num_branches:
                raise ValueError(f'HRNet extra[{name!r}]: num_blocks {stage_cfg["num_blocks"]} and num_channels '
                                 f'{stage_cfg["num_channels"]} must have num_branches={num_branches} entries')

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def _make_transition_layer(self, pre_channels: List[int], cur_channels: List[int]) -> nn.ModuleList:
        """Per new branch i: None (same channels), a 3x3 conv (channel change), or for a branch beyond the
        previous ones ``i + 1 - len(pre)`` 3x3 stride-2 steps from the last previous branch."""
        num_pre = len(pre_channels)
        layers: List[Optional[nn.Module]] = []
        for i, channels in enumerate(cur_channels):
            if i < num_pre:
                layers.append(None if channels == pre_channels[i] else _conv_norm(
                    self.conv_cfg, self.norm_cfg, pre_channels[i], channels, 3, 1, nn.ReLU(inplace=True)))
                continue
            steps = []
            for j in range(i + 1 - num_pre):
                out_channels = channels if j == i - num_pre else pre_channels[-1]
                steps.append(_conv_norm(self.conv_cfg, self.norm_cfg, pre_channels[-1], out_channels, 3, 2,
                                        nn.ReLU(inplace=True)))
            layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def _make_stage(self, stage_cfg: dict, in_channels: List[int],
                    multiscale_output: bool = True) -> Tuple[Sequential, List[int]]:
        """``num_modules`` HRModules; only the last one may drop the lower-resolution outputs."""
        num_modules = stage_cfg['num_modules']
        block = self.blocks_dict[stage_cfg['block']]
        modules = []
        for i in range(num_modules):
            modules.append(HRModule(
                stage_cfg['num_branches'], block, stage_cfg['num_blocks'], in_channels, stage_cfg['num_channels'],
                multiscale_output=multiscale_output or i < num_modules - 1, with_cp=self.with_cp,
                norm_cfg=self.norm_cfg, conv_cfg=self.conv_cfg))
        return Sequential(*modules), in_channels

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """x: (N, C, H, W) -> stage 4's branches (see the module docstring)."""
        x = self.relu(self.norm1(self.conv1(x)))
        x = self.relu(self.norm2(self.conv2(x)))
        y_list = [self.layer1(x)]
        for k in (2, 3, 4):
            transition = getattr(self, f'transition{k - 1}')
            num_branches = getattr(self, f'stage{k}_cfg')['num_branches']
            # As 2.28: a transition (a channel change or a new branch) reads the last branch.
            x_list = [y_list[i] if transition[i] is None else transition[i](y_list[-1]) for i in range(num_branches)]
            y_list = getattr(self, f'stage{k}')(x_list)
        return y_list

    def train(self, mode: bool = True) -> 'HRNet':
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
