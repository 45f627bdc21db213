from .accuracy import Accuracy, accuracy
from .balanced_l1_loss import BalancedL1Loss, balanced_l1_loss
from .cross_entropy_loss import (CrossEntropyLoss, binary_cross_entropy, cross_entropy,
                                 mask_cross_entropy)
from .focal_loss import FocalLoss, py_sigmoid_focal_loss
from .iou_loss import (BoundedIoULoss, CIoULoss, DIoULoss, GIoULoss, IoULoss, bounded_iou_loss,
                       ciou_loss, diou_loss, giou_loss, iou_loss)
from .pisa_loss import carl_loss, isr_p
from .smooth_l1_loss import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from .utils import reduce_loss, weight_reduce_loss, weighted_loss

__all__ = [
    'accuracy', 'Accuracy', 'cross_entropy', 'binary_cross_entropy', 'mask_cross_entropy',
    'CrossEntropyLoss', 'smooth_l1_loss', 'SmoothL1Loss', 'l1_loss', 'L1Loss', 'reduce_loss',
    'weight_reduce_loss', 'weighted_loss', 'BalancedL1Loss', 'balanced_l1_loss', 'IoULoss',
    'iou_loss', 'BoundedIoULoss', 'bounded_iou_loss', 'GIoULoss', 'giou_loss', 'DIoULoss',
    'diou_loss', 'CIoULoss', 'ciou_loss', 'isr_p', 'carl_loss', 'FocalLoss', 'py_sigmoid_focal_loss'
]
