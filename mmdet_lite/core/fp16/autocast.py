"""Mixed precision for any device: torch.autocast regions entered by ``auto_fp16`` and left by ``force_fp32``.

mmcv's ``auto_fp16`` / ``force_fp32`` only drive CUDA autocast (and cast to ``torch.half``). These do the
same for the device the tensors live on: CUDA autocasts to float16 (or bfloat16 on request), the CPU to
bfloat16. As in mmcv, a module takes part once its ``fp16_enabled`` attribute is True
(``enable_autocast`` or ``AmpOptimizerHook.before_run`` sets it); ``force_fp32`` regions run in float32
whenever autocast is on, whoever turned it on.
"""
import functools
from typing import Callable, Iterable, Optional, Union

import torch
import torch.nn as nn

_DTYPES = {'float16': torch.float16, 'fp16': torch.float16, 'half': torch.float16,
           'bfloat16': torch.bfloat16, 'bf16': torch.bfloat16}


def autocast_dtype(device_type: str, dtype: Union[str, torch.dtype, None] = None) -> torch.dtype:
    """The autocast dtype for ``device_type``: ``dtype`` if given, else float16 on CUDA and bfloat16
    elsewhere (CPU float16 kernels are slow and would need a loss scaler)."""
    if dtype is None:
        return torch.float16 if device_type == 'cuda' else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    elif dtype in _DTYPES:
        resolved = _DTYPES[dtype]
    else:
        raise ValueError(f"fp16 dtype must be one of {sorted(_DTYPES)} or a torch dtype, got {dtype!r}")
    if resolved not in (torch.float16, torch.bfloat16):
        raise ValueError(f'fp16 dtype must be float16 or bfloat16, got {resolved}')
    return resolved


def enable_autocast(model: nn.Module, dtype: Union[str, torch.dtype, None] = None) -> None:
    """Set ``fp16_enabled = True`` and ``fp16_dtype`` on every submodule that has ``fp16_enabled``
    (mmcv's ``wrap_fp16_model`` without ``.half()``: weights stay float32, autocast casts per op)."""
    for module in model.modules():
        if hasattr(module, 'fp16_enabled'):
            module.fp16_enabled = True
            module.fp16_dtype = dtype


def _first_tensor_device(values: Iterable) -> Optional[torch.device]:
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
        if isinstance(value, (list, tuple)):
            device = _first_tensor_device(value)
            if device is not None:
                return device
    return None


def cast_to_fp32(value):
    """``value`` with every floating-point tensor (also inside lists and tuples) as float32; anything
    else (dicts such as ``img_metas`` and configs included) is passed through untouched."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(cast_to_fp32(item) for item in value)
    return value


def auto_fp16(func: Callable) -> Callable:
    """Decorate a module method (``forward``) to run under ``torch.autocast`` for the device of its first
    tensor argument when ``self.fp16_enabled``; otherwise call it unchanged."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        if not getattr(self, 'fp16_enabled', False):
            return func(self, *args, **kwargs)
        device = _first_tensor_device(list(args) + list(kwargs.values()))
        device_type = device.type if device is not None else 'cpu'
        dtype = autocast_dtype(device_type, getattr(self, 'fp16_dtype', None))
        with torch.autocast(device_type, dtype=dtype):
            return func(self, *args, **kwargs)

    return wrapper


def force_fp32(func: Callable) -> Callable:
    """Decorate a method that must compute in float32 (targets, box coding, losses, RoI pooling,
    post-processing): when autocast is on for the device of its tensor arguments, it is turned off for
    the call and floating-point arguments are cast to float32. Outputs stay float32."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        device = _first_tensor_device(list(args) + list(kwargs.values()))
        device_type = device.type if device is not None else 'cpu'
        if not torch.is_autocast_enabled(device_type):
            return func(self, *args, **kwargs)
        with torch.autocast(device_type, enabled=False):
            return func(self, *cast_to_fp32(args), **{key: cast_to_fp32(value) for key, value in kwargs.items()})

    return wrapper
