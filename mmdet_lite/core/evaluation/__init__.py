"""Evaluation hooks and helpers."""
from .bbox_overlaps import bbox_overlaps
from .class_names import cityscapes_classes, get_classes, voc_classes, wider_face_classes
from .eval_hooks import DistEvalHook, EvalHook, dataset_eval_kwargs
from .mean_ap import average_precision, eval_map, print_map_summary
from .recall import eval_recalls

__all__ = ['EvalHook', 'DistEvalHook', 'dataset_eval_kwargs', 'bbox_overlaps', 'eval_recalls', 'eval_map',
           'average_precision', 'print_map_summary', 'get_classes', 'voc_classes',
           'wider_face_classes', 'cityscapes_classes']
