"""The operators mmcv-full compiled (``mmcv.ops``), on torchvision's kernels or in vectorised PyTorch.

Importing this package registers their config type names in mmcv's layer registries, as importing
``mmcv.ops`` does with mmcv-full.
"""
from .carafe import CARAFEPack, carafe
from .deform_conv import DeformConv2d, DeformConv2dPack, ModulatedDeformConv2d, ModulatedDeformConv2dPack
from .deform_roi_pool import DeformRoIPool, DeformRoIPoolPack, ModulatedDeformRoIPoolPack, deform_roi_pool
from .masked_conv import MaskedConv2d

__all__ = [
    'carafe', 'CARAFEPack', 'DeformConv2d', 'DeformConv2dPack', 'ModulatedDeformConv2d', 'ModulatedDeformConv2dPack',
    'deform_roi_pool', 'DeformRoIPool', 'DeformRoIPoolPack', 'ModulatedDeformRoIPoolPack', 'MaskedConv2d'
]
