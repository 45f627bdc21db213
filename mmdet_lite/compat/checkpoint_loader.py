"""Safe loading of every local checkpoint.

mmcv 1.7.2's ``CheckpointLoader`` reads local files with a bare ``torch.load``, which unpickles
arbitrary objects (and on torch >= 2.6 fails with a pickle traceback for old files). Registered for
the empty prefix (local paths), :func:`mmdet_lite.utils.checkpoint.load_from_local` makes
``mmcv.runner.load_checkpoint``, ``runner.resume``, ``load_from`` and
``init_cfg=dict(type='Pretrained')`` all load through ``torch.load(weights_only=True)``, with
errors that name the file.
"""
from mmcv.runner import CheckpointLoader

from mmdet_lite.utils.checkpoint import load_from_local


def install() -> None:
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
