from .bbox_heads import (BBoxHead, ConvFCBBoxHead, DoubleConvFCBBoxHead, SABLHead, Shared2FCBBoxHead,
                         Shared4Conv1FCBBoxHead)
from .double_roi_head import DoubleHeadRoIHead
from .dynamic_roi_head import DynamicRoIHead
from .pisa_roi_head import PISARoIHead
from .roi_extractors import BaseRoIExtractor, GenericRoIExtractor, SingleRoIExtractor
from .shared_heads import ResLayer
from .standard_roi_head import BaseRoIHead, StandardRoIHead

__all__ = [
    'BaseRoIHead', 'StandardRoIHead', 'DoubleHeadRoIHead', 'DynamicRoIHead', 'PISARoIHead', 'BBoxHead',
    'ConvFCBBoxHead', 'Shared2FCBBoxHead', 'Shared4Conv1FCBBoxHead', 'DoubleConvFCBBoxHead', 'SABLHead',
    'BaseRoIExtractor', 'SingleRoIExtractor', 'GenericRoIExtractor', 'ResLayer'
]
