from .base import BaseDetector
from .data_preprocessor import DetDataPreprocessor
from .fast_rcnn import FastRCNN
from .faster_rcnn import FasterRCNN
from .rpn import RPN
from .two_stage import TwoStageDetector

__all__ = ['BaseDetector', 'DetDataPreprocessor', 'TwoStageDetector', 'FastRCNN', 'FasterRCNN', 'RPN']
