from .bucketing_bbox_coder import BucketingBBoxCoder, bbox2bucket, bucket2bbox
from .base_bbox_coder import BaseBBoxCoder
from .delta_xywh_bbox_coder import DeltaXYWHBBoxCoder, bbox2delta, delta2bbox
from .legacy_delta_xywh_bbox_coder import (LegacyDeltaXYWHBBoxCoder, legacy_bbox2delta,
                                           legacy_delta2bbox)

__all__ = [
    'BaseBBoxCoder', 'DeltaXYWHBBoxCoder', 'bbox2delta', 'delta2bbox', 'LegacyDeltaXYWHBBoxCoder',
    'legacy_bbox2delta', 'legacy_delta2bbox',
    'BucketingBBoxCoder', 'bbox2bucket', 'bucket2bbox'
]
