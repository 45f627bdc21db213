"""Operators that mmcv-full compiles (``mmcv.ops``), written in plain PyTorch."""
from .carafe import CARAFEPack, carafe
from .deform_roi_pool import DeformRoIPool, DeformRoIPoolPack, ModulatedDeformRoIPoolPack, deform_roi_pool

__all__ = [
    'carafe', 'CARAFEPack', 'deform_roi_pool', 'DeformRoIPool', 'DeformRoIPoolPack', 'ModulatedDeformRoIPoolPack'
]
