"""Feature Pyramid Grids (MMDetection 2.x ``FPG``, https://arxiv.org/abs/2004.03580).

Symbols: L = num_outs pyramid levels, level 0 the finest; S = stack_times pathways; C_l =
inter_channels[l]. Pathway 0 is the lateral 1x1 convs of the backbone maps (plus max-pooled or
convolved extra levels); pathway s + 1 is computed from pathway s by summing transitions, bottom-up
('bu', from level 0 up) or top-down ('td', from level L - 1 down):

    same         same_up (bu) / same_down (td) of the level just computed in this pathway
    lateral      across_lateral of level l of pathway s
    across_up    across_up of level l - 1 of pathway s
    across_down  across_down of level l + 1 of pathway s
    across_skip  across_skip of level l of pathway 0

A level ``l`` with ``s in skip_inds[l]`` is copied from pathway s. Each output is ``output_trans``
of the last pathway's level, with ``out_channels`` channels.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.runner import BaseModule

from ..builder import NECKS
from .fpn import backbone_end_level


class UpInterpolationConv(BaseModule):
    """Upsample by ``scale_factor`` (``F.interpolate``), then a ConvModule of ``kernel_size``
    with 'same' padding; ``conv_kwargs`` go to the ConvModule (norm_cfg, order, inplace, ...)."""

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2,
                 mode: str = 'nearest', align_corners: Optional[bool] = None, kernel_size: int = 3,
                 init_cfg=None, **conv_kwargs) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.conv = ConvModule(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2,
                               **conv_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode,
                          align_corners=self.align_corners)
        return self.conv(x)


class LastConv(BaseModule):
    """Output transition: a ConvModule on the last of ``num_inputs`` pathway maps of a level."""

    def __init__(self, in_channels: int, out_channels: int, num_inputs: int, kernel_size: int = 3,
                 init_cfg=None, **conv_kwargs) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_inputs = num_inputs
        self.conv_out = ConvModule(in_channels, out_channels, kernel_size,
                                   padding=(kernel_size - 1) // 2, **conv_kwargs)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.num_inputs:
            raise ValueError(f'LastConv expects {self.num_inputs} pathway maps, got {len(inputs)}')
        return self.conv_out(inputs[-1])


class IdentityTransition(nn.Module):
    """``type='identity'`` (FPG's default ``across_skip_trans``): the input unchanged, no weights.
    MMDetection 2.28 names this default but cannot build it; here it builds."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if in_channels != out_channels:
            raise ValueError(f'an identity transition needs in_channels == out_channels, '
                             f'got {in_channels} and {out_channels}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@NECKS.register_module()
class FPG(BaseModule):
    """Feature Pyramid Grids: ``stack_times`` pathways of transitions over ``num_outs`` levels.

    Transition configs are dicts whose ``type`` is 'conv' (mmcv ``ConvModule``), 'interpolation_conv'
    (upsample x2 then ConvModule), 'last_conv' (ConvModule on the last pathway, for
    ``output_trans``) or 'identity'; the other keys go to the transition; None leaves it out.
    ``norm_cfg`` is kept as in 2.28, where it only sets ``with_bias``: norms go inside the
    transition configs. ``skip_inds[l]`` lists the pathways that copy level l instead of computing it.
    ``end_level`` is the last backbone level used, inclusive (-1: the last).
    """

    transition_types = {
        'conv': ConvModule,
        'interpolation_conv': UpInterpolationConv,
        'last_conv': LastConv,
        'identity': IdentityTransition,
    }

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 num_outs: int,
                 stack_times: int,
                 paths: List[str],
                 inter_channels: Optional[Union[int, List[int]]] = None,
                 same_down_trans: Optional[dict] = None,
                 same_up_trans: Optional[dict] = dict(type='conv', kernel_size=3, stride=2, padding=1),
                 across_lateral_trans: Optional[dict] = dict(type='conv', kernel_size=1),
                 across_down_trans: Optional[dict] = dict(type='conv', kernel_size=3),
                 across_up_trans: Optional[dict] = None,
                 across_skip_trans: Optional[dict] = dict(type='identity'),
                 output_trans: dict = dict(type='last_conv', kernel_size=3),
                 start_level: int = 0,
                 end_level: int = -1,
                 add_extra_convs: bool = False,
                 norm_cfg: Optional[dict] = None,
                 skip_inds: Optional[Sequence[Sequence[int]]] = None,
                 init_cfg=[
                     dict(type='Caffe2Xavier', layer='Conv2d'),
                     dict(type='Constant', layer=['_BatchNorm', '_InstanceNorm', 'GroupNorm', 'LayerNorm'],
                          val=1.0)
                 ]) -> None:
        super().__init__(init_cfg)
        if not isinstance(in_channels, list):
            raise TypeError(f'in_channels must be a list of ints, got {in_channels!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.inter_channels = self._per_level_channels(inter_channels, out_channels, num_outs)
        if not isinstance(paths, list) or len(paths) != stack_times or any(p not in ('bu', 'td') for p in paths):
            raise ValueError(f"paths must be a list of {stack_times} (stack_times) entries 'bu' or 'td', "
                             f'got {paths!r}')
        self.stack_times = stack_times
        self.paths = paths
        self.same_down_trans = same_down_trans
        self.same_up_trans = same_up_trans
        self.across_lateral_trans = across_lateral_trans
        self.across_down_trans = across_down_trans
        self.across_up_trans = across_up_trans
        self.across_skip_trans = across_skip_trans
        self.output_trans = output_trans
        self.with_bias = norm_cfg is None
        if skip_inds is None or len(skip_inds) < num_outs:
            raise ValueError(f'skip_inds must list the skipped pathways of each of the {num_outs} levels, '
                             f'got {skip_inds!r}')
        if len(skip_inds[0]) > stack_times:
            raise ValueError(f'skip_inds[0]={skip_inds[0]} has more entries than stack_times={stack_times}')
        self.skip_inds = skip_inds

        self.backbone_end_level = backbone_end_level(self.num_ins, start_level, end_level, num_outs)
        self.start_level = start_level
        self.end_level = end_level
        self.add_extra_convs = add_extra_convs

        self.lateral_convs = nn.ModuleList(
            nn.Conv2d(in_channels[i], self.inter_channels[i - start_level], 1)
            for i in range(start_level, self.backbone_end_level))
        num_extra = num_outs - self.backbone_end_level + start_level
        self.extra_downsamples = nn.ModuleList()
        for k in range(num_extra):
            level = self.backbone_end_level - start_level + k
            if add_extra_convs:
                self.extra_downsamples.append(
                    nn.Conv2d(self.inter_channels[level - 1], self.inter_channels[level], 3, stride=2, padding=1))
            else:
                self.extra_downsamples.append(nn.MaxPool2d(1, stride=2))

        self.fpn_transitions = nn.ModuleList(
            nn.ModuleList(self._level_transitions(stage, level) for level in range(num_outs))
            for stage in range(stack_times))
        self.output_transition = nn.ModuleList(
            self.build_trans(output_trans, self.inter_channels[level], out_channels,
                             num_inputs=stack_times + 1)
            for level in range(num_outs))
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _per_level_channels(inter_channels, out_channels: int, num_outs: int) -> List[int]:
        if inter_channels is None:
            return [out_channels] * num_outs
        if isinstance(inter_channels, int):
            return [inter_channels] * num_outs
        if not isinstance(inter_channels, list) or len(inter_channels) != num_outs:
            raise ValueError(f'inter_channels must be None, an int or a list of {num_outs} (num_outs) ints, '
                             f'got {inter_channels!r}')
        return inter_channels

    def build_trans(self, cfg: dict, in_channels: int, out_channels: int, **extra_args) -> nn.Module:
        """Build the transition ``cfg`` (``type`` in ``transition_types``) from in to out channels."""
        cfg = dict(cfg)
        trans_type = cfg.pop('type', None)
        if trans_type not in self.transition_types:
            raise ValueError(f'FPG transition type must be one of {sorted(self.transition_types)}, '
                             f'got {trans_type!r}')
        return self.transition_types[trans_type](in_channels, out_channels, **cfg, **extra_args)

    def _level_transitions(self, stage: int, level: int) -> nn.ModuleDict:
        """The transitions into ``level`` of pathway ``stage + 1`` (empty when it is skipped); a
        missing one is None, registered under its name as 2.28 does (no state-dict entries)."""
        trans = nn.ModuleDict()
        if stage in self.skip_inds[level]:
            return trans
        channels = self.inter_channels
        last = self.num_outs - 1

        def build(cfg: Optional[dict], source: int, exists: bool = True) -> Optional[nn.Module]:
            return self.build_trans(cfg, channels[source], channels[level]) if cfg is not None and exists \
                else None

        trans['same_up'] = build(self.same_up_trans, level - 1, level != 0)
        trans['same_down'] = build(self.same_down_trans, level + 1, level != last)
        trans['across_lateral'] = build(self.across_lateral_trans, level)
        trans['across_down'] = build(self.across_down_trans, level + 1, level != last)
        trans['across_up'] = build(self.across_up_trans, level - 1, level != 0)
        # 2.28 sizes the skip transition from level - 1 (level 0: the last level)
        trans['across_skip'] = build(self.across_skip_trans, level - 1)
        return trans

    @staticmethod
    def fuse(to_fuse: Dict[str, Optional[torch.Tensor]]) -> Optional[torch.Tensor]:
        """Sum of the non-None maps, in insertion order (None when all are None)."""
        out = None
        for item in to_fuse.values():
            if item is not None:
                out = item if out is None else out + item
        return out

    def _next_pathway(self, stage: int, pathways: List[List[torch.Tensor]]) -> List[torch.Tensor]:
        current = pathways[-1]
        direction = self.paths[stage]
        next_outs: List[torch.Tensor] = []
        for j in range(self.num_outs):
            if stage in self.skip_inds[j]:
                # 2.28 copies level j (not the level visited at step j of a 'td' pathway)
                next_outs.append(current[j])
                continue
            level = self.num_outs - j - 1 if direction == 'td' else j
            trans = self.fpn_transitions[stage][level]
            same = trans['same_down'] if direction == 'td' else trans['same_up']
            to_fuse = dict(same=None, lateral=None, across_up=None, across_down=None)
            if same is not None:
                to_fuse['same'] = same(next_outs[-1])
            if trans['across_lateral'] is not None:
                to_fuse['lateral'] = trans['across_lateral'](current[level])
            if level > 0 and trans['across_up'] is not None:
                to_fuse['across_up'] = trans['across_up'](current[level - 1])
            if level < self.num_outs - 1 and trans['across_down'] is not None:
                to_fuse['across_down'] = trans['across_down'](current[level + 1])
            if trans['across_skip'] is not None:
                to_fuse['across_skip'] = trans['across_skip'](pathways[0][level])
            next_outs.append(self.fuse(to_fuse))
        return next_outs[::-1] if direction == 'td' else next_outs

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """inputs: the backbone maps, (N, in_channels[i], Hi, Wi); returns L maps
        (N, out_channels, H_l, W_l), level l at the resolution of input ``start_level + l``
        (extra levels: half the previous)."""
        if len(inputs) != self.num_ins:
            raise ValueError(f'FPG expects {self.num_ins} input maps, got {len(inputs)}')
        feats = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        for downsample in self.extra_downsamples:
            feats.append(downsample(feats[-1]))
        pathways = [feats]
        for stage in range(self.stack_times):
            pathways.append(self._next_pathway(stage, pathways))
        return tuple(
            self.output_transition[level]([pathway[level] for pathway in pathways])
            for level in range(self.num_outs))
