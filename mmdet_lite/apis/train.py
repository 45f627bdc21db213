"""``train_detector``: MMDetection 2.x's training entry point."""
import copy
import warnings

import torch
from mmcv.runner import (DistSamplerSeedHook, EpochBasedRunner, OptimizerHook, build_optimizer,
                         build_runner)

from mmdet_lite.core.evaluation import DistEvalHook, EvalHook
from mmdet_lite.core.fp16 import AmpOptimizerHook
from mmdet_lite.core.hook import (CheckInvalidLossHook, LastCheckpointHook, PreemptionHook,
                                  ReseedHook, check_logger_hooks)
from mmdet_lite.datasets.builder import build_dataloader, build_dataset
from mmdet_lite.datasets.prefetch_loader import PrefetchLoader
from mmdet_lite.datasets.utils import replace_ImageToTensor
from mmdet_lite.utils import get_root_logger
from mmdet_lite.utils.atomic_io import remove_stale_temp_files
from mmdet_lite.utils.checkpoint import find_latest_checkpoint, load_checkpoint, resume_runner
from mmdet_lite.utils.dist import wrap_model

from .test import multi_gpu_test, single_gpu_test


def _checkpoint_map_location():
    if not torch.cuda.is_available():
        return 'cpu'
    device_id = torch.cuda.current_device()
    return lambda storage, location: storage.cuda(device_id)


def _legacy_data_keys(cfg) -> None:
    if 'imgs_per_gpu' not in cfg.data:
        return
    warnings.warn('"imgs_per_gpu" is deprecated in MMDet V2.0. Please use "samples_per_gpu" instead')
    if 'samples_per_gpu' in cfg.data:
        warnings.warn(f'Got "imgs_per_gpu"={cfg.data.imgs_per_gpu} and "samples_per_gpu"='
                      f'{cfg.data.samples_per_gpu}, "imgs_per_gpu"={cfg.data.imgs_per_gpu} is '
                      'used in this experiments')
    else:
        warnings.warn('Automatically set "samples_per_gpu"="imgs_per_gpu"='
                      f'{cfg.data.imgs_per_gpu} in this experiments')
    cfg.data.samples_per_gpu = cfg.data.imgs_per_gpu


def _runner_config(cfg) -> None:
    if 'runner' not in cfg:
        cfg.runner = {'type': 'EpochBasedRunner', 'max_epochs': cfg.total_epochs}
        warnings.warn('config is now expected to have a `runner` section, '
                      'please set `runner` in your config.', UserWarning)
    elif 'total_epochs' in cfg and cfg.total_epochs != cfg.runner.get('max_epochs'):
        raise ValueError(f'total_epochs ({cfg.total_epochs}) and runner.max_epochs '
                         f'({cfg.runner.get("max_epochs")}) disagree; keep only runner.max_epochs')


def _optimizer_hook_config(cfg, distributed: bool):
    """``cfg.fp16`` set: an ``AmpOptimizerHook`` (mmcv's Fp16OptimizerHook arguments, any device)."""
    fp16_cfg = cfg.get('fp16', None)
    if fp16_cfg is not None:
        hook_args = {key: value for key, value in cfg.optimizer_config.items() if key != 'type'}
        return AmpOptimizerHook(**hook_args, **fp16_cfg, distributed=distributed)
    if distributed and 'type' not in cfg.optimizer_config:
        return OptimizerHook(**cfg.optimizer_config)
    return cfg.optimizer_config


def build_val_dataset(cfg):
    """The evaluation hook's dataset: ``cfg.data.val`` in test mode, its ``ImageToTensor``
    replaced when it is batched (``samples_per_gpu`` > 1). ``cfg`` is not changed."""
    val_cfg = copy.deepcopy(cfg.data.val)
    if val_cfg.pop('samples_per_gpu', 1) > 1:
        val_cfg.pipeline = replace_ImageToTensor(val_cfg.pipeline)
    return build_dataset(val_cfg, dict(test_mode=True))


def _register_eval_hook(runner, cfg, distributed: bool, val_dataset) -> None:
    val_samples_per_gpu = cfg.data.val.get('samples_per_gpu', 1)  # as build_val_dataset read it
    val_dataloader = build_dataloader(val_dataset, samples_per_gpu=val_samples_per_gpu,
                                      workers_per_gpu=cfg.data.workers_per_gpu,
                                      dist=distributed, shuffle=False,
                                      pin_memory=cfg.data.get('pin_memory', False))
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

    ``val_dataset``: the evaluation hook's dataset (``build_val_dataset``), when the caller
    built it already (tools/train.py does, before it writes to the work_dir); built here when
    ``validate`` and None.
    """
    logger = get_root_logger(log_level=cfg.log_level)
    detector = model  # before it is wrapped
    datasets = dataset if isinstance(dataset, (list, tuple)) else [dataset]
    _legacy_data_keys(cfg)
    _runner_config(cfg)
    check_logger_hooks(cfg.get('log_config'))
    runner_type = cfg.runner['type']
    data_loaders = [
        build_dataloader(ds, cfg.data.samples_per_gpu, cfg.data.workers_per_gpu,
                         num_gpus=len(cfg.gpu_ids), dist=distributed, seed=cfg.seed,
                         runner_type=runner_type,
                         persistent_workers=cfg.data.get('persistent_workers', False),
                         pin_memory=cfg.data.get('pin_memory', False))
        for ds in datasets
    ]
    # batches from loader workers are received on a background thread, off the training step
    data_loaders = [PrefetchLoader(loader) if loader.num_workers > 0 else loader for loader in data_loaders]
    model = wrap_model(model, distributed, cfg.gpu_ids[0] if cfg.get('device') == 'cuda' else None,
                       find_unused_parameters=cfg.get('find_unused_parameters', False))
    optimizer = build_optimizer(model, cfg.optimizer)
    runner = build_runner(cfg.runner, default_args=dict(
        model=model, optimizer=optimizer, work_dir=cfg.work_dir, logger=logger, meta=meta))
    # The .log and .log.json file names share train.py's timestamp.
    runner.timestamp = timestamp

    runner.register_training_hooks(cfg.lr_config, _optimizer_hook_config(cfg, distributed),
                                   cfg.checkpoint_config, cfg.log_config,
                                   cfg.get('momentum_config', None))
    # Before the OptimizerHook (ABOVE_NORMAL): a non-finite loss never reaches the weights.
    runner.register_hook(CheckInvalidLossHook(), priority='HIGH')
    # After the CheckpointHook (same priority, registered later).
    runner.register_hook(LastCheckpointHook(), priority='NORMAL')
    if cfg.get('seed') is not None:
        runner.register_hook(ReseedHook(cfg.seed, by_epoch=runner_type != 'IterBasedRunner'),
                             priority='LOWEST')
    if distributed and isinstance(runner, EpochBasedRunner):
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
        resume_from = find_latest_checkpoint(cfg.work_dir, logger.warning, model=detector,
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
