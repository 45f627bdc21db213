"""Evaluation hooks and helpers."""
from .bbox_overlaps import bbox_overlaps
from .eval_hooks import DistEvalHook, EvalHook
from .mean_ap import average_precision, eval_map, print_map_summary
from .recall import eval_recalls

__all__ = ['EvalHook', 'DistEvalHook', 'bbox_overlaps', 'eval_recalls', 'eval_map',
           'average_precision', 'print_map_summary']
