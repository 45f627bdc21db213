"""mmcv 1.7.2's scatter on current PyTorch.

``MMDataParallel`` and ``MMDistributedDataParallel`` move each batch to the GPU through mmcv's
``Scatter.forward``, which asks ``mmcv.parallel._functions._get_stream`` (torch's
``torch.nn.parallel._functions._get_stream``) for a copy stream per GPU index. PyTorch 2.x changed
that helper to take a ``torch.device``, so every GPU training and test step fails with "'int' object
has no attribute 'type'" (seen on an H200 with torch 2.11). mmcv's module gets this helper instead:
the background copy stream per GPU index that mmcv was written against.
"""
from typing import Dict, Optional

import mmcv.parallel._functions as mmcv_functions
import torch

_copy_streams: Dict[int, torch.cuda.Stream] = {}


def get_copy_stream(device: int) -> Optional[torch.cuda.Stream]:
    """The stream for CPU -> GPU ``device`` copies (one per GPU, created on first use); None for -1, the CPU."""
    if device == -1:
        return None
    if device not in _copy_streams:
        _copy_streams[device] = torch.cuda.Stream(device)
    return _copy_streams[device]


def install() -> None:
    mmcv_functions._get_stream = get_copy_stream
