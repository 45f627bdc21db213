from .approx_max_iou_assigner import ApproxMaxIoUAssigner
from .assign_result import AssignResult
from .base_assigner import BaseAssigner
from .max_iou_assigner import MaxIoUAssigner
from .region_assigner import RegionAssigner

__all__ = ['BaseAssigner', 'MaxIoUAssigner', 'AssignResult', 'ApproxMaxIoUAssigner', 'RegionAssigner']
