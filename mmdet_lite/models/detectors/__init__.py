from .base import BaseDetector
from .fast_rcnn import FastRCNN
from .faster_rcnn import FasterRCNN
from .rpn import RPN
from .two_stage import TwoStageDetector

__all__ = ['BaseDetector', 'TwoStageDetector', 'FastRCNN', 'FasterRCNN', 'RPN']
