"""Evaluation hooks and helpers."""
from .bbox_overlaps import bbox_overlaps
from .eval_hooks import DistEvalHook, EvalHook
from .recall import eval_recalls

__all__ = ['EvalHook', 'DistEvalHook', 'bbox_overlaps', 'eval_recalls']
