"""Base class of box assigners."""
from abc import ABCMeta, abstractmethod


class BaseAssigner(metaclass=ABCMeta):
    """Assign each box to a ground-truth box, the background, or 'ignore'."""

    @abstractmethod
    def assign(self, bboxes, gt_bboxes, gt_bboxes_ignore=None, gt_labels=None):
        """Assign boxes to ground truths; returns an ``AssignResult``."""
