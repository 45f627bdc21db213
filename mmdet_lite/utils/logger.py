import logging
import traceback

from mmcv.utils import get_logger


def get_root_logger(log_file=None, log_level=logging.INFO):
    """The ``mmdet`` logger (the name MMDetection 2.x log lines carry).

    Only rank 0 writes ``log_file``; other ranks log at ERROR level only.
    """
    return get_logger(name='mmdet', log_file=log_file, log_level=log_level)


def log_traceback_to_file(logger: logging.Logger, what: str = 'Training') -> None:
    """Keep the traceback of the exception being handled in ``logger``'s .log file only: the
    console gets one message (``run_cli``). ``what`` names the run in the record."""
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0,
                               '%s stopped by an error:\n%s', (what, traceback.format_exc()), None)
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
