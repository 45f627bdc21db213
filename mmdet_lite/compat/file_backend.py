"""Crash-safe local writes for mmcv's ``FileClient`` (checkpoints, pointer files).

mmcv 1.7.2's ``HardDiskBackend`` writes a checkpoint straight into its final path, so a process
killed during a save leaves a truncated ``epoch_N.pth``. Registered as the ``disk`` backend, this
one writes through :func:`mmdet_lite.utils.atomic_io.atomic_write_bytes` (a fsynced temporary
file renamed into place): a checkpoint path either holds a complete file or does not exist.
"""
from pathlib import Path
from typing import Union

from mmcv.fileio.file_client import FileClient, HardDiskBackend

from mmdet_lite.utils.atomic_io import atomic_write_bytes


class AtomicHardDiskBackend(HardDiskBackend):
    """mmcv's local-disk backend with atomic ``put``/``put_text``."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


def install() -> None:
    FileClient.register_backend('disk', AtomicHardDiskBackend, force=True)
