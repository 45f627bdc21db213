"""Every change mmdet_lite makes to third-party modules, in one place.

mmcv 1.7.2 was written against torch 1.x; some of its behaviour breaks on current torch, and some
is unsafe or slow. Each module here replaces one upstream behaviour, names it and says why:

- ``notices``: silences two import-time notices of mmcv and torch that say nothing about mmdet_lite.
- ``config_tempfile``: drops a spurious warning mmcv's ``Config`` leaves when a config fails to parse.
- ``scatter``: gives mmcv's CPU -> GPU scatter the per-GPU copy stream it expects (torch 2.x changed it).
- ``runner_sleeps``: mmcv's runners without their sleeps (2 s per epoch, 1 s at the end).
- ``runner_base``: both runners read log values once per logging interval and call hooks'
  ``before_save_checkpoint``; registers ``IterBasedRunner``.
- ``epoch_based_runner``: mmcv's ``EpochBasedRunner`` with checkpoints taken inside an epoch.
- ``checkpoint_loader``: every local checkpoint is read with ``torch.load(weights_only=True)``.
- ``pretrained_init``: ``init_cfg=dict(type='Pretrained')`` reports its load in one line of counts.
- ``file_backend``: mmcv's ``disk`` file backend writes atomically (no truncated checkpoints).
- ``conv_ws``: mmcv's ``ConvWS`` forward works on channels_last weights (the GN+WS configs).
- ``generalized_attention``: mmcv's ``GeneralizedAttention`` keeps its window mask as booleans (torch 2.x).
- ``ddp``: mmcv's ``MMDistributedDataParallel`` on public DDP API, and torch's renamed buffer switch.

``install()`` applies them; ``import mmdet_lite`` (and so importing any of its subpackages) calls it
before anything else. Calling it again changes nothing. Nothing outside this package changes
third-party modules.
"""
_installed = False


def install() -> None:
    """Apply every workaround once (idempotent)."""
    global _installed
    if _installed:
        return
    from . import notices
    notices.install()  # before mmcv or torch is imported below
    from . import (checkpoint_loader, config_tempfile, conv_ws, epoch_based_runner, file_backend,
                   generalized_attention, pretrained_init, runner_base, runner_sleeps, scatter)
    for module in (config_tempfile, scatter, runner_sleeps, runner_base, epoch_based_runner,
                   checkpoint_loader, pretrained_init, file_backend, conv_ws, generalized_attention):
        module.install()
    _installed = True
