from .bbox_heads import BBoxHead, ConvFCBBoxHead, DoubleConvFCBBoxHead, Shared2FCBBoxHead, Shared4Conv1FCBBoxHead
from .double_roi_head import DoubleHeadRoIHead
from .dynamic_roi_head import DynamicRoIHead
from .roi_extractors import SingleRoIExtractor
from .standard_roi_head import BaseRoIHead, StandardRoIHead

__all__ = [
    'BaseRoIHead', 'StandardRoIHead', 'DoubleHeadRoIHead', 'DynamicRoIHead', 'BBoxHead', 'ConvFCBBoxHead',
    'Shared2FCBBoxHead', 'Shared4Conv1FCBBoxHead', 'DoubleConvFCBBoxHead', 'SingleRoIExtractor'
]
