from .generic_roi_extractor import GenericRoIExtractor
from .single_level_roi_extractor import BaseRoIExtractor, RoIAlign, RoIPool, SingleRoIExtractor

__all__ = ['BaseRoIExtractor', 'SingleRoIExtractor', 'GenericRoIExtractor', 'RoIAlign', 'RoIPool']
