import logging

from mmcv.utils import get_logger


def get_root_logger(log_file=None, log_level=logging.INFO):
    """The ``mmdet`` logger (the name MMDetection 2.x log lines carry).

    Only rank 0 writes ``log_file``; other ranks log at ERROR level only.
    """
    return get_logger(name='mmdet', log_file=log_file, log_level=log_level)
