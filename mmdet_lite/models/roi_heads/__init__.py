from .bbox_heads import BBoxHead, ConvFCBBoxHead, SABLHead, Shared2FCBBoxHead, Shared4Conv1FCBBoxHead
from .roi_extractors import BaseRoIExtractor, GenericRoIExtractor, SingleRoIExtractor
from .pisa_roi_head import PISARoIHead
from .shared_heads import ResLayer
from .standard_roi_head import BaseRoIHead, StandardRoIHead

__all__ = [
    'BaseRoIHead', 'StandardRoIHead', 'BBoxHead', 'ConvFCBBoxHead', 'Shared2FCBBoxHead', 'Shared4Conv1FCBBoxHead',
    'BaseRoIExtractor', 'SingleRoIExtractor', 'GenericRoIExtractor', 'ResLayer', 'PISARoIHead', 'SABLHead'
]
