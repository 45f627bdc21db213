"""``train_detector``: MMDetection 2.x's training entry point."""
import copy
from typing import List, Optional, Union

import torch
from mmcv.runner import DistSamplerSeedHook, EpochBasedRunner, build_optimizer, build_runner, get_dist_info

from mmdet_lite.compat.runner_base import OptimizerHook
from mmdet_lite.core.evaluation import DistEvalHook, EvalHook
from mmdet_lite.core.fp16 import AmpOptimizerHook
from mmdet_lite.core.hook import (CheckInvalidLossHook, LastCheckpointHook, PreemptionHook,
                                  ReseedHook, check_logger_hooks)
from mmdet_lite.datasets.builder import build_dataloader, build_dataset
from mmdet_lite.datasets.prefetch_loader import PrefetchLoader
from mmdet_lite.datasets.utils import (dataset_pipelines, device_preprocess_settings,
                                       move_normalize_to_device, replace_ImageToTensor)
from mmdet_lite.models.detectors import BaseDetector, DetDataPreprocessor
from mmdet_lite.utils import get_root_logger
from mmdet_lite.utils.atomic_io import remove_stale_temp_files
from mmdet_lite.utils.checkpoint import find_latest_checkpoint, load_checkpoint, resume_runner
from mmdet_lite.utils.compat_config import compat_cfg, loader_settings
from mmdet_lite.utils.dist import wrap_model

from .test import multi_gpu_test, single_gpu_test


def _checkpoint_map_location():
    if not torch.cuda.is_available():
        return 'cpu'
    device_id = torch.cuda.current_device()
    return lambda storage, location: storage.cuda(device_id)


def check_auto_scale_lr(cfg) -> None:
    """With ``auto_scale_lr.enable``: raise an error naming the missing or bad key."""
    settings = cfg.get('auto_scale_lr', None)
    if not settings or not settings.get('enable', False):
        return
    base_batch_size = settings.get('base_batch_size', None)
    if not isinstance(base_batch_size, int) or isinstance(base_batch_size, bool) \
            or base_batch_size < 1:
        raise ValueError('auto_scale_lr.base_batch_size must be a positive int (the total batch '
                         'size the lr was set for, e.g. 16 = 8 GPUs x 2 samples), got '
                         f'{base_batch_size!r}')
    if not isinstance(cfg.get('optimizer', {}).get('lr', None), (int, float)):
        raise KeyError('auto_scale_lr.enable is set but the config has no optimizer.lr to scale')


def auto_scale_lr(cfg, distributed: bool, logger) -> None:
    """MMDetection 2.28's linear scaling rule: with ``auto_scale_lr.enable``, ``optimizer.lr`` is
    multiplied by (number of GPUs x train ``samples_per_gpu``) / ``auto_scale_lr.base_batch_size``,
    and logged. ``cfg`` has been through ``compat_cfg``; changed in place."""
    if not (cfg.get('auto_scale_lr', None) or {}).get('enable', False):
        logger.info('Automatic scaling of learning rate (LR) has been disabled.')
        return
    check_auto_scale_lr(cfg)
    base_batch_size = cfg.auto_scale_lr.base_batch_size
    num_gpus = get_dist_info()[1] if distributed else len(cfg.gpu_ids)
    samples_per_gpu = loader_settings(cfg, 'train_dataloader')['samples_per_gpu']
    batch_size = num_gpus * samples_per_gpu
    logger.info(f'Training with {num_gpus} GPU(s) with {samples_per_gpu} samples per GPU. '
                f'The total batch size is {batch_size}.')
    if batch_size == base_batch_size:
        logger.info(f'The batch size match the base batch size: {base_batch_size}, will not '
                    f'scaling the LR ({cfg.optimizer.lr}).')
        return
    scaled_lr = (batch_size / base_batch_size) * cfg.optimizer.lr
    logger.info(f'LR has been automatically scaled from {cfg.optimizer.lr} to {scaled_lr}')
    cfg.optimizer.lr = scaled_lr


def check_device_preprocess(cfg) -> None:
    """``cfg.device_preprocess`` must be ``'auto'`` (the default), True or False."""
    value = cfg.get('device_preprocess', 'auto')
    if not (isinstance(value, bool) or value == 'auto'):
        raise ValueError(f"device_preprocess must be 'auto', True or False, got {value!r}")


def setup_device_preprocess(detector, datasets, cfg, logger) -> bool:
    """With ``cfg.device_preprocess`` on (``'auto'``: when ``cfg.device == 'cuda'``), move the
    training pipelines' pixel work to the device: their ``Normalize`` / ``Pad`` become
    ``DeviceNormalize`` / ``DevicePad`` (same metas, images left as loaded) and ``detector``
    gets the ``DetDataPreprocessor`` that normalises and pads each batch in ``train_step`` and
    ``val_step``. ``datasets`` and ``detector`` are changed in place; evaluation and test
    pipelines are not. Returns whether it is on.

    Raises:
        ValueError: a bad ``device_preprocess``; with True, pipelines or a detector it cannot
            serve (with ``'auto'`` that is logged and it stays off).
    """
    check_device_preprocess(cfg)
    setting = cfg.get('device_preprocess', 'auto')
    if setting is False or (setting == 'auto' and cfg.get('device') != 'cuda'):
        return False
    pipelines = [pipeline for dataset in datasets for pipeline in dataset_pipelines(dataset)]
    try:
        if not isinstance(detector, BaseDetector):
            raise ValueError(f'{type(detector).__name__} is not a BaseDetector')
        settings = device_preprocess_settings(pipelines)
    except ValueError as reason:
        if setting is True:
            raise ValueError(f'device_preprocess=True cannot be served: {reason}') from None
        logger.info(f'device_preprocess: off ({reason})')
        return False
    move_normalize_to_device(pipelines)
    device = next(detector.parameters()).device
    detector.data_preprocessor = DetDataPreprocessor(**settings).to(device)
    logger.info(f'device_preprocess: images are normalised and padded on the device ({settings})')
    return True


# ``compile`` config keys and their defaults (``compile=True`` takes them all)
COMPILE_DEFAULTS = dict(backbone=True, neck=True, backend='inductor', mode=None, dynamic=None, fullgraph=False)


def compile_settings(compile_cfg: Union[bool, dict, None]) -> Optional[dict]:
    """The ``compile`` config key as ``torch.compile`` settings: None when off (absent, None or
    False), else ``COMPILE_DEFAULTS`` updated with the given dict (``True``: the defaults). An unknown
    key raises ValueError naming it."""
    if compile_cfg is None or compile_cfg is False:
        return None
    if compile_cfg is True:
        return dict(COMPILE_DEFAULTS)
    if not isinstance(compile_cfg, dict):
        raise TypeError(f'compile must be True, False or a dict with keys {sorted(COMPILE_DEFAULTS)}, '
                        f'got {compile_cfg!r}')
    unknown = sorted(set(compile_cfg) - set(COMPILE_DEFAULTS))
    if unknown:
        raise ValueError(f'compile: unknown key(s) {unknown}; the keys are {sorted(COMPILE_DEFAULTS)}')
    return {**COMPILE_DEFAULTS, **compile_cfg}


def compile_backbone_and_neck(detector: torch.nn.Module, compile_cfg: Union[bool, dict, None],
                              logger=None) -> List[str]:
    """``torch.compile`` the detector's backbone and neck in place (``nn.Module.compile``: the
    modules, their names and so the state_dict keys and checkpoints stay as they are), as the
    ``compile`` config key asks. Parts the detector lacks are skipped. Returns the compiled names."""
    settings = compile_settings(compile_cfg)
    if settings is None:
        return []
    options = {key: settings[key] for key in ('backend', 'mode', 'dynamic', 'fullgraph')}
    compiled = []
    for name in ('backbone', 'neck'):
        module = getattr(detector, name, None)
        if settings[name] and module is not None:
            module.compile(**options)
            compiled.append(name)
    if logger is not None:
        logger.info(f'torch.compile of {", ".join(compiled) or "nothing"} with {options} '
                    '(compiled at the first step; a new input shape recompiles)')
    return compiled


def _optimizer_hook_config(cfg, distributed: bool):
    """``cfg.fp16`` set: an ``AmpOptimizerHook`` (mmcv's Fp16OptimizerHook arguments, any device)."""
    fp16_cfg = cfg.get('fp16', None)
    if fp16_cfg is not None:
        hook_args = {key: value for key, value in cfg.optimizer_config.items() if key != 'type'}
        return AmpOptimizerHook(**hook_args, **fp16_cfg, distributed=distributed)
    if distributed and 'type' not in cfg.optimizer_config:
        return OptimizerHook(**cfg.optimizer_config)
    return cfg.optimizer_config


def _has_own_loss_check(custom_hooks) -> bool:
    """Whether ``custom_hooks`` brings a CheckInvalidLossHook (a config dict or an instance)."""
    return any(isinstance(hook, CheckInvalidLossHook)
               or isinstance(hook, dict) and hook.get('type') == 'CheckInvalidLossHook'
               for hook in custom_hooks or [])


def _val_loader_args(cfg, distributed: bool) -> dict:
    return {'dist': distributed, 'shuffle': False, 'pin_memory': cfg.data.get('pin_memory', False),
            **loader_settings(cfg, 'val_dataloader')}


def build_val_dataset(cfg):
    """The evaluation hook's dataset: ``cfg.data.val`` in test mode, its ``ImageToTensor``
    replaced when it is batched (``data.val_dataloader.samples_per_gpu`` > 1). ``cfg``: as
    ``compat_cfg`` returns it; not changed."""
    val_cfg = copy.deepcopy(cfg.data.val)
    if loader_settings(cfg, 'val_dataloader')['samples_per_gpu'] > 1:
        val_cfg.pipeline = replace_ImageToTensor(val_cfg.pipeline)
    return build_dataset(val_cfg, dict(test_mode=True))


def _register_eval_hook(runner, cfg, distributed: bool, val_dataset) -> None:
    val_dataloader = build_dataloader(val_dataset, **_val_loader_args(cfg, distributed))
    eval_cfg = dict(cfg.get('evaluation', {}))
    eval_cfg['by_epoch'] = cfg.runner['type'] != 'IterBasedRunner'
    if distributed:
        hook = DistEvalHook(val_dataloader, test_fn=multi_gpu_test, **eval_cfg)
    else:
        hook = EvalHook(val_dataloader, test_fn=single_gpu_test, **eval_cfg)
    runner.register_hook(hook, priority='LOW')


def train_detector(model, dataset, cfg, distributed=False, validate=False, timestamp=None,
                   meta=None, val_dataset=None):
    """Build loaders, wrapper, optimizer, runner and hooks from ``cfg``, then run the workflow.

    As in MMDetection 2.28, ``cfg`` goes through ``compat_cfg`` first (a copy: the caller's is
    not changed): each loader takes its ``data.*_dataloader`` dict over the defaults, and
    ``auto_scale_lr`` may scale the copy's ``optimizer.lr``.

    ``val_dataset``: the evaluation hook's dataset (``build_val_dataset``), when the caller
    built it already (tools/train.py does, before it writes to the work_dir); built here when
    ``validate`` and None.
    """
    cfg = compat_cfg(cfg)
    logger = get_root_logger(log_level=cfg.log_level)
    detector = model  # before it is wrapped
    datasets = dataset if isinstance(dataset, (list, tuple)) else [dataset]
    check_logger_hooks(cfg.get('log_config'))
    runner_type = cfg.runner['type']
    train_loader_args = {'num_gpus': len(cfg.gpu_ids), 'dist': distributed, 'seed': cfg.seed,
                         'runner_type': runner_type, 'pin_memory': cfg.data.get('pin_memory', False),
                         **loader_settings(cfg, 'train_dataloader')}
    device_preprocess = setup_device_preprocess(detector, datasets, cfg, logger)
    data_loaders = [build_dataloader(ds, **train_loader_args) for ds in datasets]
    # batches from loader workers are received on a background thread, off the training step;
    # uint8 images in pinned memory: a quarter of float32's bytes, copied without a host wait
    pin_images = device_preprocess and cfg.get('device') == 'cuda'
    data_loaders = [PrefetchLoader(loader, pin_images=pin_images) if loader.num_workers > 0 else loader
                    for loader in data_loaders]
    compile_backbone_and_neck(detector, cfg.get('compile', None), logger)
    model = wrap_model(model, distributed, cfg.gpu_ids[0] if cfg.get('device') == 'cuda' else None,
                       find_unused_parameters=cfg.get('find_unused_parameters', False))
    auto_scale_lr(cfg, distributed, logger)
    optimizer = build_optimizer(model, cfg.optimizer)
    runner = build_runner(cfg.runner, default_args=dict(
        model=model, optimizer=optimizer, work_dir=cfg.work_dir, logger=logger, meta=meta))
    # The .log and .log.json file names share train.py's timestamp.
    runner.timestamp = timestamp

    runner.register_training_hooks(cfg.lr_config, _optimizer_hook_config(cfg, distributed),
                                   cfg.checkpoint_config, cfg.log_config,
                                   cfg.get('momentum_config', None))
    # Reads the losses when the logger does, unless custom_hooks has its own; before the
    # OptimizerHook (ABOVE_NORMAL), so with interval 1 a bad loss would not reach the weights.
    if not _has_own_loss_check(cfg.get('custom_hooks')):
        log_interval = (cfg.get('log_config') or {}).get('interval', 50)
        runner.register_hook(CheckInvalidLossHook(interval=log_interval), priority='HIGH')
    # After the CheckpointHook (same priority, registered later).
    runner.register_hook(LastCheckpointHook(), priority='NORMAL')
    if cfg.get('seed') is not None:
        runner.register_hook(ReseedHook(cfg.seed, by_epoch=runner_type != 'IterBasedRunner'),
                             priority='LOWEST')
    if isinstance(runner, EpochBasedRunner):
        # Samplers that draw each epoch's order from seed + epoch (distributed ones, and
        # ClassAwareSampler in one process too) learn the epoch here, also on resume.
        runner.register_hook(DistSamplerSeedHook())
    if validate:
        _register_eval_hook(runner, cfg, distributed,
                            build_val_dataset(cfg) if val_dataset is None else val_dataset)
    runner.register_custom_hooks(cfg.get('custom_hooks', None))
    # Last of all: it saves after the iteration's (or the epoch's) checkpoint and evaluation.
    runner.register_hook(PreemptionHook(**cfg.get('preemption', {})), priority='LOWEST')

    if runner.rank == 0:  # no save of this run is under way yet
        remove_stale_temp_files(cfg.work_dir, logger)
    resume_from = cfg.resume_from
    if resume_from is None and cfg.get('auto_resume'):
        resume_from = find_latest_checkpoint(cfg.work_dir, warn=logger.warning, model=detector,
                                             start_fresh=cfg.get('auto_resume_start_fresh', False))
        logger.info(f'auto-resume: resuming from {resume_from}' if resume_from else
                    f'auto-resume: no checkpoint in {cfg.work_dir}, starting from scratch')
    if resume_from:
        resume_runner(runner, resume_from, map_location=_checkpoint_map_location())
        for loader in data_loaders:
            if hasattr(loader.batch_sampler, 'set_start_iter'):
                loader.batch_sampler.set_start_iter(runner.iter)
    elif cfg.load_from:
        load_checkpoint(detector, cfg.load_from, map_location='cpu', logger=logger)
    runner.run(data_loaders, cfg.workflow)
