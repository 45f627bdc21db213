"""Base class of box coders."""
from abc import ABCMeta, abstractmethod


class BaseBBoxCoder(metaclass=ABCMeta):
    """Encode boxes as regression targets relative to reference boxes, and decode them back."""

    @abstractmethod
    def encode(self, bboxes, gt_bboxes):
        """Encode ``gt_bboxes`` relative to ``bboxes``."""

    @abstractmethod
    def decode(self, bboxes, bboxes_pred):
        """Decode the predictions ``bboxes_pred`` relative to ``bboxes``."""
