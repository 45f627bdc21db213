from .bbox_nms import batched_nms, multiclass_nms, nms, nms_match, soft_nms
from .merge_augs import merge_aug_bboxes, merge_aug_proposals, merge_aug_scores

__all__ = [
    'nms', 'nms_match', 'soft_nms', 'batched_nms', 'multiclass_nms', 'merge_aug_proposals', 'merge_aug_bboxes',
    'merge_aug_scores'
]
