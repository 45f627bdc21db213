from .assigners import ApproxMaxIoUAssigner, AssignResult, BaseAssigner, MaxIoUAssigner, RegionAssigner
from .builder import (BBOX_ASSIGNERS, BBOX_CODERS, BBOX_SAMPLERS, build_assigner, build_bbox_coder,
                      build_sampler)
from .coder import (BaseBBoxCoder, BucketingBBoxCoder, DeltaXYWHBBoxCoder, LegacyDeltaXYWHBBoxCoder, bbox2delta,
                    delta2bbox)
from .iou_calculators import IOU_CALCULATORS, BboxOverlaps2D, bbox_overlaps, build_iou_calculator
from .samplers import (BaseSampler, CombinedSampler, InstanceBalancedPosSampler, IoUBalancedNegSampler,
                       OHEMSampler, PseudoSampler, RandomSampler, SamplingResult, ScoreHLRSampler)
from .transforms import (bbox2result, bbox2roi, bbox_cxcywh_to_xyxy, bbox_flip, bbox_mapping, bbox_mapping_back,
                         bbox_rescale, bbox_xyxy_to_cxcywh, boxes2roi, pad_boxes, roi2bbox)

__all__ = [
    'bbox_overlaps', 'BboxOverlaps2D', 'IOU_CALCULATORS', 'build_iou_calculator',
    'BBOX_ASSIGNERS', 'BBOX_SAMPLERS', 'BBOX_CODERS', 'build_assigner', 'build_sampler',
    'build_bbox_coder', 'BaseAssigner', 'MaxIoUAssigner', 'ApproxMaxIoUAssigner', 'RegionAssigner',
    'AssignResult', 'BaseSampler', 'PseudoSampler', 'RandomSampler', 'SamplingResult', 'CombinedSampler',
    'InstanceBalancedPosSampler', 'IoUBalancedNegSampler', 'OHEMSampler', 'ScoreHLRSampler', 'BaseBBoxCoder',
    'DeltaXYWHBBoxCoder', 'LegacyDeltaXYWHBBoxCoder', 'BucketingBBoxCoder',
    'bbox2delta', 'delta2bbox', 'bbox_flip', 'bbox_mapping', 'bbox_mapping_back', 'bbox2roi', 'boxes2roi',
    'pad_boxes', 'roi2bbox', 'bbox2result', 'bbox_rescale', 'bbox_cxcywh_to_xyxy', 'bbox_xyxy_to_cxcywh'
]
