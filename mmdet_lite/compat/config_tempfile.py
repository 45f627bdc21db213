"""Drop a spurious "Exception ignored" warning that mmcv's ``Config`` leaves behind.

When a config file fails to parse, mmcv 1.7.2's ``Config._file2dict`` removes its temporary
directory before the temporary file object inside it is finalised; Python then prints a
``FileNotFoundError`` from ``_TemporaryFileCloser.__del__`` after the real error. This hook drops
exactly that one unraisable exception and hands every other one to the previous hook.
"""
import sys


def _is_mmcv_tempfile_cleanup(unraisable) -> bool:
    return (isinstance(unraisable.exc_value, FileNotFoundError)
            and getattr(unraisable.object, '__qualname__', '') == '_TemporaryFileCloser.__del__')


def _make_hook(previous):
    def hook(unraisable) -> None:
        if not _is_mmcv_tempfile_cleanup(unraisable):
            previous(unraisable)
    hook.drops_mmcv_tempfile_cleanup = True
    return hook


def install() -> None:
    if not getattr(sys.unraisablehook, 'drops_mmcv_tempfile_cleanup', False):
        sys.unraisablehook = _make_hook(sys.unraisablehook)
