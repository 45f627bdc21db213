"""mmcv 1.7.2's weight-standardised convolution (``ConvWS``) on channels_last weights.

``mmcv.cnn.bricks.conv_ws.conv_ws_2d`` (the forward of ``conv_cfg=dict(type='ConvWS')``, used by
the GN+WS configs) flattens the (C_out, C_in, kh, kw) weight with ``weight.view(C_out, -1)``, which
only works on NCHW-contiguous weights. mmdet_lite's two-stage detectors keep backbone and neck
weights in the channels_last memory format on machines without CUDA, so every GN+WS model failed
with "view size is not compatible with input tensor's size and stride". mmcv's module gets the same
function flattening with ``reshape`` (a copy only when the weight is channels_last); the values are
unchanged: ``(w - mean) / (std + eps)`` per output channel, unbiased std, then ``F.conv2d``.
"""
from typing import Optional, Tuple, Union

import mmcv.cnn.bricks.conv_ws as mmcv_conv_ws
import torch
import torch.nn.functional as F

IntPair = Union[int, Tuple[int, int]]


def conv_ws_2d(input: torch.Tensor,
               weight: torch.Tensor,
               bias: Optional[torch.Tensor] = None,
               stride: IntPair = 1,
               padding: IntPair = 0,
               dilation: IntPair = 1,
               groups: int = 1,
               eps: float = 1e-5) -> torch.Tensor:
    """Convolve (N, C_in, H, W) ``input`` with the (C_out, C_in / groups, kh, kw) ``weight``
    standardised per output channel; any memory format."""
    weight_flat = weight.reshape(weight.size(0), -1)
    mean = weight_flat.mean(dim=1).view(-1, 1, 1, 1)
    std = weight_flat.std(dim=1).view(-1, 1, 1, 1)
    return F.conv2d(input, (weight - mean) / (std + eps), bias, stride, padding, dilation, groups)


def install() -> None:
    # ConvWS2d.forward looks the function up in its module at call time
    mmcv_conv_ws.conv_ws_2d = conv_ws_2d
