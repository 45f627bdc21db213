"""The operators mmcv-full compiled (``mmcv.ops``), on torchvision's kernels or in vectorised PyTorch.

Importing this package registers their config type names in mmcv's layer registries, as importing
``mmcv.ops`` does with mmcv-full.
"""
from .deform_conv import DeformConv2d, DeformConv2dPack, ModulatedDeformConv2d, ModulatedDeformConv2dPack
from .masked_conv import MaskedConv2d

__all__ = ['DeformConv2d', 'DeformConv2dPack', 'ModulatedDeformConv2d', 'ModulatedDeformConv2dPack', 'MaskedConv2d']
