"""Crash-safe local writes: a temporary file in the same directory, fsynced and renamed into place.

A path written this way either holds a complete file or does not exist. ``mmdet_lite.compat``
makes this mmcv's ``disk`` file backend, so checkpoints are saved this way.
"""
import errno
import os
import os.path as osp
import re
import uuid
from pathlib import Path
from typing import Union


_TMP_ID_LEN = 12


class WriteError(OSError):
    """A write that failed (disk full, file too large, read-only or forbidden directory), naming
    the path; ``errno`` is the failure's. Its message is the whole text, without an [Errno] tag."""

    def __str__(self) -> str:
        return self.strerror


def _write_error(error: OSError, filepath, unchanged: bool) -> WriteError:
    reason = error.strerror or str(error)
    code = f' ({errno.errorcode[error.errno]})' if error.errno in errno.errorcode else ''
    outcome = ('the previous file, if any, is unchanged' if unchanged else
               'the file was written but its directory entry may not survive a power loss')
    return WriteError(error.errno, f'cannot write {filepath}: {reason}{code}; {outcome}')


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` through a fsynced temporary file and a rename.

    An ``OSError`` (ENOSPC, EFBIG, EROFS, EACCES...) becomes a :class:`WriteError` naming
    ``filepath``; no temporary file is left and the previous ``filepath`` is kept.
    """
    directory = osp.dirname(osp.abspath(filepath))
    # open(..., 'xb') rather than mkstemp: the file gets the umask's permissions, not 0600.
    tmp_path = osp.join(directory, f'.{osp.basename(filepath)}.{uuid.uuid4().hex[:_TMP_ID_LEN]}.tmp')
    try:
        os.makedirs(directory, exist_ok=True)
        with open(tmp_path, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException as error:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        if isinstance(error, OSError):
            raise _write_error(error, filepath, unchanged=True) from error
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as error:
        raise _write_error(error, filepath, unchanged=False) from error


def remove_stale_temp_files(directory: str, logger=None) -> list:
    """Delete the temporary files of writes that never finished (a process killed mid-save) in
    ``directory``; only names of the form ``.<name>.<12 hex>.tmp`` are touched. Call it when no save
    is under way (at the start of a run). Returns the removed paths."""
    pattern = re.compile(r'\..+\.[0-9a-f]{%d}\.tmp' % _TMP_ID_LEN)
    removed = []
    for name in sorted(os.listdir(directory)) if osp.isdir(directory) else []:
        path = osp.join(directory, name)
        if pattern.fullmatch(name) and osp.isfile(path):
            os.remove(path)
            removed.append(path)
            if logger is not None:
                logger.info(f'removed {path}, left by a save that did not finish')
    return removed

