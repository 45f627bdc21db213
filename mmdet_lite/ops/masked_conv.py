"""mmcv's ``MaskedConv2d``: a convolution computed only where a mask is set (zero elsewhere)."""
from typing import Optional

import torch
from torch import nn


class MaskedConv2d(nn.Conv2d):
    """``forward(x, mask)``: plain ``nn.Conv2d`` when ``mask`` is None, otherwise the output (N, C_out, H, W)
    is kept where ``mask`` (N, H, W) or (N, 1, H, W) is true and zero elsewhere (bias included), as mmcv's
    CUDA kernel returns. Computed densely: the result, not the speed-up, is what is reproduced."""

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:  # type: ignore[override]
        out = super().forward(x)
        if mask is None:
            return out
        if mask.dim() == 3:
            mask = mask[:, None]
        if mask.shape[0] != out.shape[0] or mask.shape[-2:] != out.shape[-2:]:
            raise ValueError(f'mask {tuple(mask.shape)} does not match the output {tuple(out.shape)}')
        return out * mask.to(out.dtype)
