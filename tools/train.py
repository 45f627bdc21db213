"""Train a detector: MMDetection 2.x's ``tools/train.py`` command line."""
import argparse
import copy
import os
import os.path as osp
import sys
import time
import warnings
from contextlib import nullcontext

import process_env

process_env.apply()  # before torch is imported (mmdet_lite imports it)

import mmdet_lite  # noqa: E402,F401  (before mmcv: installs mmdet_lite.compat)
import mmcv  # noqa: E402
import torch  # noqa: E402

from mmdet_lite import __version__
from mmdet_lite.apis import build_val_dataset, init_random_seed, set_random_seed, train_detector
from mmdet_lite.apis.train import check_auto_scale_lr, check_device_preprocess, compile_settings
from mmdet_lite.core.hook import TrainingPreempted, check_logger_hooks
from mmdet_lite.datasets.builder import build_dataset
from mmdet_lite.datasets.utils import check_num_classes
from mmdet_lite.models.builder import build_detector
from mmdet_lite.utils import (collect_env, compat_cfg, get_device, get_git_hash, get_root_logger,
                              setup_multi_processes)
from mmdet_lite.utils.logger import log_traceback_to_file
from mmdet_lite.utils.checkpoint import check_checkpoint, check_fits_model, find_latest_checkpoint
from mmdet_lite.utils.cli import (StrictDictAction, add_launcher_arguments, export_local_rank,
                                  load_config, run_cli)
from mmdet_lite.utils.dist import get_dist_info, init_dist
from mmdet_lite.utils.work_dir_lock import WorkDirLock

# Set by dist_train.sh: a preempted rank touches this file and exits 0 (see main).
PREEMPTED_MARKER_ENV = 'MMDET_LITE_PREEMPTED_MARKER'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume-from', help='the checkpoint file to resume from')
    parser.add_argument('--auto-resume', action='store_true',
                        help='resume from the newest complete checkpoint in the work_dir, '
                             'or start from scratch when there is none; when checkpoints are '
                             'there but every one is refused (corrupt, unsafe, or of another '
                             'model), stop with an error listing them')
    parser.add_argument('--start-fresh-if-refused', action='store_true',
                        help='with --auto-resume: when every checkpoint in the work_dir is '
                             'refused, train from scratch instead of stopping (the new run '
                             'overwrites their names)')
    parser.add_argument('--no-validate', action='store_true',
                        help='whether not to evaluate the checkpoint during training')
    group_gpus = parser.add_mutually_exclusive_group()
    group_gpus.add_argument('--gpus', type=int,
                            help='number of gpus to use (only applicable to non-distributed training)')
    group_gpus.add_argument('--gpu-ids', type=int, nargs='+',
                            help='ids of gpus to use (only applicable to non-distributed training)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: autocast (float16 + loss scaler on CUDA, bfloat16 on '
                             "the CPU); sets the config's fp16 = dict(loss_scale='dynamic') unless "
                             'it has an fp16 section')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--diff-seed', action='store_true',
                        help='Whether or not set different seeds for different ranks '
                             '(rank r is seeded with seed + r)')
    parser.add_argument('--deterministic', action='store_true',
                        help='whether to set deterministic options for CUDNN backend.')
    parser.add_argument('--options', nargs='+', action=StrictDictAction,
                        help='deprecated: use --cfg-options')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file. If the value to be '
                             'overwritten is a list, it should be like key="[a,b]" or key=a,b. It '
                             'also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]". '
                             'Note that the quotation marks are necessary and that no white space '
                             'is allowed.')
    add_launcher_arguments(parser)
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='enable automatically scaling LR: optimizer.lr x (number of GPUs x '
                             'samples_per_gpu) / auto_scale_lr.base_batch_size')
    args = parser.parse_args(argv)
    export_local_rank(args)

    if args.start_fresh_if_refused and not args.auto_resume:
        parser.error('--start-fresh-if-refused only applies with --auto-resume')
    if args.options and args.cfg_options:
        raise ValueError('--options and --cfg-options cannot be both specified, --options is '
                         'deprecated in favor of --cfg-options')
    if args.options:
        warnings.warn('--options is deprecated in favor of --cfg-options')
        args.cfg_options = args.options
    return args


def select_devices(args, cfg) -> str:
    """Set ``cfg.gpu_ids`` and ``cfg.device`` for a single-process run; return a log line."""
    if args.gpu_ids is not None:
        cfg.gpu_ids = args.gpu_ids
    else:
        cfg.gpu_ids = range(1) if args.gpus is None else range(args.gpus)
    asked_for_gpus = args.gpu_ids is not None or args.gpus is not None
    num_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if num_gpus == 0:
        if asked_for_gpus:
            raise RuntimeError(f'GPUs {list(cfg.gpu_ids)} were asked for (--gpus/--gpu-ids) but '
                               'CUDA is not available; leave both out to train on the CPU')
        cfg.device = 'cpu'
        return 'CUDA is not available: training on the CPU'
    missing = [gpu for gpu in cfg.gpu_ids if not 0 <= gpu < num_gpus]
    if missing:
        raise RuntimeError(f'GPU ids {missing} do not exist: this machine has {num_gpus} '
                           f'GPU(s), ids 0..{num_gpus - 1}')
    if len(cfg.gpu_ids) > 1:
        raise RuntimeError(f'{len(cfg.gpu_ids)} GPUs were asked for in one process; use '
                           f'`bash dist_train.sh CONFIG {len(cfg.gpu_ids)}` to train on several '
                           'GPUs (one process each)')
    cfg.device = 'cuda'
    return f'Training on GPU {cfg.gpu_ids[0]}'


def load_train_config(args):
    cfg = load_config(args.config, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.resume_from is not None:
        cfg.resume_from = args.resume_from
    if args.auto_resume:
        cfg.auto_resume = True
    if args.start_fresh_if_refused:
        cfg.auto_resume_start_fresh = True
    if args.amp and cfg.get('fp16', None) is None:
        cfg.fp16 = dict(loss_scale='dynamic')
    if args.auto_scale_lr:
        if (cfg.get('auto_scale_lr', None) or {}).get('base_batch_size', None) is None:
            raise KeyError(f'--auto-scale-lr: config file {args.config} has no '
                           'auto_scale_lr.base_batch_size (MMDetection >= 2.24.1 configs set '
                           'auto_scale_lr = dict(enable=False, base_batch_size=16))')
        cfg.auto_scale_lr.enable = True
    check_auto_scale_lr(cfg)
    check_device_preprocess(cfg)
    compile_settings(cfg.get('compile', None))  # a bad key is refused before the work_dir is written
    return cfg


def train_seed(args, device: str) -> int:
    """``--seed`` (or one drawn on rank 0 and shared); with ``--diff-seed``, plus the rank."""
    seed = init_random_seed(args.seed, device=device)
    return seed + get_dist_info()[0] if args.diff_seed else seed


def build_model_and_datasets(cfg, validate: bool):
    """The model, the workflow's datasets and the evaluation hook's dataset (None without
    ``validate``): every annotation file is read and every image file checked here."""
    model = build_detector(cfg.model, train_cfg=cfg.get('train_cfg'),
                           test_cfg=cfg.get('test_cfg'))
    datasets = [build_dataset(cfg.data.train)]
    if len(cfg.workflow) == 2:
        val_dataset = copy.deepcopy(cfg.data.val)
        val_dataset.pipeline = cfg.data.train.pipeline
        datasets.append(build_dataset(val_dataset))
    if len(datasets[0]) == 0:  # CustomDataset builds empty (as 2.28 does); training cannot
        raise ValueError(f'data.train: the training dataset is empty ({type(datasets[0]).__name__} '
                         f"with ann_file {cfg.data.train.get('ann_file')!r}): nothing to train on")
    if any(hook.get('type') == 'NumClassCheckHook' for hook in cfg.get('custom_hooks', [])):
        # The hook checks again before each epoch; failing here keeps the work_dir untouched.
        check_num_classes(model, datasets[0])
    return model, datasets, build_val_dataset(cfg) if validate else None


def main(argv=None):
    args = parse_args(argv)
    cfg = load_train_config(args)
    # A logger backend whose package is missing (tensorboard, wandb, ...) fails here, not after
    # the work_dir is written, where mmcv would import it.
    check_logger_hooks(cfg.get('log_config'))
    multi_process_notes = setup_multi_processes(cfg)
    if osp.exists(cfg.work_dir) and not osp.isdir(cfg.work_dir):
        raise NotADirectoryError(f'work_dir {cfg.work_dir} exists and is not a directory')
    # Refuse a missing, corrupt or unsafe checkpoint before anything is written (memory-mapped:
    # the tensors are read once, by the resume).
    checked = {key: check_checkpoint(cfg[key]) for key in ('resume_from', 'load_from') if cfg.get(key)}

    if args.launcher == 'none':
        distributed = False
        device_note = select_devices(args, cfg)
    else:
        distributed = True
        device_note = init_dist(args.launcher, **cfg.dist_params)
        _, world_size = get_dist_info()
        cfg.gpu_ids = range(world_size)
        cfg.device = get_device()

    seed = train_seed(args, cfg.device)
    set_random_seed(seed, deterministic=args.deterministic)
    cfg.seed = seed
    # Built before the work_dir is touched: a config naming a missing component or data
    # (train or val), or setting a loader key twice, fails here and leaves an earlier run's
    # files as they were. train_detector makes the same compat_cfg copy and gives its
    # deprecation warnings (once, not here as well).
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        loader_cfg = compat_cfg(cfg)
    model, datasets, val_dataset = build_model_and_datasets(loader_cfg, validate=not args.no_validate)
    if cfg.get('resume_from'):
        check_fits_model(model, cfg.resume_from, checked['resume_from'])
    del checked

    # One run per work_dir (rank 0 holds it): a second is refused here, before it writes anything.
    with WorkDirLock(cfg.work_dir) if get_dist_info()[0] == 0 else nullcontext() as lock:
        if cfg.get('auto_resume') and not cfg.get('resume_from'):
            # The same search train_detector makes (and logs): here it refuses before any write.
            find_latest_checkpoint(cfg.work_dir, model=model,
                                   start_fresh=cfg.get('auto_resume_start_fresh', False))
        run(args, cfg, model, datasets, val_dataset, distributed,
            [device_note, multi_process_line(multi_process_notes)], lock.notes if lock else [])


def multi_process_line(notes) -> str:
    return 'Multi-processing: ' + ', '.join(f'{name}={value}' for name, value in notes.items())


def run(args, cfg, model, datasets, val_dataset, distributed, device_notes, lock_notes):
    mmcv.mkdir_or_exist(osp.abspath(cfg.work_dir))
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    log_file = osp.join(cfg.work_dir, f'{timestamp}.log')
    logger = get_root_logger(log_file=log_file, log_level=cfg.log_level)
    for note in lock_notes:
        logger.warning(note)
    try:
        train(args, cfg, model, datasets, val_dataset, distributed, device_notes, timestamp, logger)
    except TrainingPreempted:
        if distributed:
            torch.distributed.destroy_process_group()
        marker = os.environ.get(PREEMPTED_MARKER_ENV)
        if marker:  # dist_train.sh: exit 0 here (torchrun reports no failure), it exits 75 itself
            open(marker, 'a').close()
            return
        raise
    except Exception:
        log_traceback_to_file(logger)
        raise
    if distributed:
        torch.distributed.destroy_process_group()  # NCCL warns at exit otherwise


def train(args, cfg, model, datasets, val_dataset, distributed, device_notes, timestamp, logger):
    meta = dict()
    env_info = '\n'.join(f'{k}: {v}' for k, v in {**collect_env(), **process_env.describe()}.items())
    dash_line = '-' * 60 + '\n'
    logger.info('Environment info:\n' + dash_line + env_info + '\n' + dash_line)
    meta['env_info'] = env_info
    # pretty_text runs yapf over the whole config: format it once.
    meta['config'] = config_text = cfg.pretty_text
    logger.info(f'Distributed training: {distributed}')
    for note in device_notes:
        logger.info(note)
    logger.info(f'Config:\n{config_text}')
    logger.info(f'Set random seed to {cfg.seed}, deterministic: {args.deterministic}')
    meta['seed'] = cfg.seed
    meta['exp_name'] = osp.basename(args.config)

    model.init_weights()
    cfg.dump(osp.join(cfg.work_dir, osp.basename(args.config)))
    if cfg.checkpoint_config is not None:
        cfg.checkpoint_config.meta = dict(mmdet_version=__version__ + get_git_hash(),
                                          CLASSES=datasets[0].CLASSES)
    model.CLASSES = datasets[0].CLASSES
    train_detector(model, datasets, cfg, distributed=distributed,
                   validate=not args.no_validate, timestamp=timestamp, meta=meta,
                   val_dataset=val_dataset)


if __name__ == '__main__':
    sys.exit(run_cli(main, 'train.py'))
