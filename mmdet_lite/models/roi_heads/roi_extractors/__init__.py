from .single_level_roi_extractor import RoIAlign, RoIPool, SingleRoIExtractor

__all__ = ['SingleRoIExtractor', 'RoIAlign', 'RoIPool']
