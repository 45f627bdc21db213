"""ResNet stage run on pooled RoI features (MMDetection 2.x shared head ``ResLayer``, the C4 box head).

Symbols: R RoIs, S x S the pooled size; stage ``s`` (0-based) of ResNet-``depth`` has ``64 * 2**s`` planes and
``64 * 2**s * expansion`` output channels.
"""
from typing import Optional

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ...backbones.resnet import PretrainedFromCache, ResNet, default_init_cfg
from ...builder import SHARED_HEADS
from ...utils import ResLayer as _ResLayer


@SHARED_HEADS.register_module()
class ResLayer(PretrainedFromCache):
    """Stage ``stage`` of a ResNet as ``layer{stage + 1}``: (R, C_in, S, S) -> (R, C_out, S / stride, S / stride).

    For the C4 head (depth 50, stage 3, stride 2): (R, 1024, 14, 14) -> (R, 2048, 7, 7); state-dict keys are
    ``layer4.{0..2}.*`` as in the backbone, so ImageNet ``layer4`` weights load into it.
    """

    def __init__(self,
                 depth: int,
                 stage: int = 3,
                 stride: int = 2,
                 dilation: int = 1,
                 style: str = 'pytorch',
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = True,
                 with_cp: bool = False,
                 dcn: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if depth not in ResNet.arch_settings:
            raise KeyError(f'ResLayer depth={depth} is invalid, expected one of {sorted(ResNet.arch_settings)}')
        if not 0 <= stage <= 3:
            raise ValueError(f'ResLayer stage must be in [0, 3], got stage={stage}')
        if dcn is not None:
            raise ValueError(f'ResLayer dcn is not supported (mmcv.ops is absent), got dcn={dcn}')
        self.norm_eval = norm_eval
        self.norm_cfg = norm_cfg
        self.stage = stage
        self.fp16_enabled = False
        block, stage_blocks = ResNet.arch_settings[depth]
        planes = 64 * 2**stage
        inplanes = 64 * 2**(stage - 1) * block.expansion
        res_layer = _ResLayer(block, inplanes, planes, stage_blocks[stage], stride=stride, dilation=dilation,
                              style=style, with_cp=with_cp, norm_cfg=norm_cfg)
        self.add_module(f'layer{stage + 1}', res_layer)
        self.init_cfg = default_init_cfg(pretrained, init_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (R, C_in, S, S) -> (R, C_out, S', S')."""
        return getattr(self, f'layer{self.stage + 1}')(x)

    def train(self, mode: bool = True) -> 'ResLayer':
        super().train(mode)
        if self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
