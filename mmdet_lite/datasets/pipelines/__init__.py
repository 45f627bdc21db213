"""Data pipeline transforms (MMDetection 2.x names), registered in ``PIPELINES``."""
from .compose import Compose
from .formating import (Collect, DefaultFormatBundle, ImageToTensor, ToDataContainer, ToTensor, to_tensor)
from .loading import (CorruptImageError, LoadAnnotations, LoadImageFromFile, LoadImageFromWebcam,
                      LoadProposals)
from .test_time_aug import MultiScaleFlipAug
from .transforms import DeviceNormalize, DevicePad, Normalize, Pad, RandomCrop, RandomFlip, Resize

__all__ = [
    'Compose', 'to_tensor', 'ToTensor', 'ToDataContainer', 'ImageToTensor', 'DefaultFormatBundle', 'Collect',
    'CorruptImageError', 'LoadImageFromFile', 'LoadImageFromWebcam', 'LoadAnnotations', 'LoadProposals',
    'MultiScaleFlipAug', 'Resize', 'RandomFlip', 'RandomCrop', 'Normalize', 'Pad',
    'DeviceNormalize', 'DevicePad'
]
