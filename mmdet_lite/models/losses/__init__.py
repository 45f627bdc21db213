from .accuracy import Accuracy, accuracy
from .cross_entropy_loss import (CrossEntropyLoss, binary_cross_entropy, cross_entropy,
                                 mask_cross_entropy)
from .smooth_l1_loss import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from .utils import reduce_loss, weight_reduce_loss, weighted_loss

__all__ = [
    'accuracy', 'Accuracy', 'cross_entropy', 'binary_cross_entropy', 'mask_cross_entropy',
    'CrossEntropyLoss', 'smooth_l1_loss', 'SmoothL1Loss', 'l1_loss', 'L1Loss', 'reduce_loss',
    'weight_reduce_loss', 'weighted_loss'
]
