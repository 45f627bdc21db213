"""mmcv 1.7.2's ``GeneralizedAttention`` with ``spatial_range >= 0`` on torch 2.x.

The layer keeps its local-window mask ``local_constraint_map`` as a uint8 parameter and applies it
with ``energy.masked_fill_(mask, -inf)``; torch 2.x accepts only boolean masks there ("masked_fill_
only supports boolean masks"), so every layer with a spatial range failed in forward. After mmcv's
constructor the mask parameter holds the same 0/1 values as booleans: the state-dict key and shape
are unchanged, and a 2.28 checkpoint's uint8 mask loads into it (``copy_`` converts).
"""
import torch
from mmcv.cnn import GeneralizedAttention

_mmcv_init = GeneralizedAttention.__init__


def _init_with_bool_mask(self, *args, **kwargs) -> None:
    """mmcv's constructor, then the window mask as a boolean parameter."""
    _mmcv_init(self, *args, **kwargs)
    if hasattr(self, 'local_constraint_map'):
        self.local_constraint_map = torch.nn.Parameter(self.local_constraint_map.data.bool(), requires_grad=False)


def install() -> None:
    GeneralizedAttention.__init__ = _init_with_bool_mask
