from .base_bbox_coder import BaseBBoxCoder
from .delta_xywh_bbox_coder import DeltaXYWHBBoxCoder, bbox2delta, delta2bbox

__all__ = ['BaseBBoxCoder', 'DeltaXYWHBBoxCoder', 'bbox2delta', 'delta2bbox']
