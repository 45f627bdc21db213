"""Test (and evaluate) a detector: MMDetection 2.x's ``tools/test.py`` command line.

    python tools/test.py CONFIG CHECKPOINT --eval bbox [--out results.pkl]
    bash dist_test.sh CONFIG CHECKPOINT N --eval bbox
"""
import argparse
import os.path as osp
import sys
import time
import warnings
from typing import Optional

import process_env

process_env.apply()  # before torch is imported (mmdet_lite imports it)

import mmdet_lite  # noqa: E402,F401  (before mmcv: installs mmdet_lite.compat)
import mmcv  # noqa: E402
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.cnn import fuse_conv_bn  # noqa: E402

from mmdet_lite.apis.test import multi_gpu_test, single_gpu_test
from mmdet_lite.core.evaluation import dataset_eval_kwargs
from mmdet_lite.core.fp16 import enable_autocast
from mmdet_lite.datasets import build_dataloader, build_dataset, replace_ImageToTensor
from mmdet_lite.models.builder import build_detector
from mmdet_lite.utils import compat_cfg, setup_multi_processes
from mmdet_lite.utils.compat_config import loader_settings
from mmdet_lite.utils.checkpoint import CheckpointError, check_checkpoint, load_checkpoint_matched
from mmdet_lite.utils.cli import (StrictDictAction, add_launcher_arguments, export_local_rank,
                                  load_config, run_cli)
from mmdet_lite.utils.dist import get_dist_info, init_dist, wrap_model
from mmdet_lite.utils.logger import get_root_logger, log_traceback_to_file


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='MMDet test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='output result file in pickle format')
    parser.add_argument('--work-dir', help='the directory to save the file containing evaluation '
                                           'metrics (eval_<timestamp>.json, with --eval) and the '
                                           'log of the run (test_<timestamp>.log)')
    parser.add_argument('--allow-partial-checkpoint', action='store_true',
                        help='test even when the checkpoint fills less than half of the '
                             "model's tensors (refused otherwise: it was most likely saved by "
                             'another config, and the rest of the model would keep random weights)')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='Whether to fuse conv and bn, this will slightly increase the '
                             'inference speed')
    parser.add_argument('--amp', action='store_true',
                        help='mixed-precision inference: the forward under autocast (float16 on CUDA, '
                             'bfloat16 on the CPU), post-processing in float32; same as an fp16 '
                             'section in the config')
    parser.add_argument('--gpu-ids', type=int, nargs='+',
                        help='ids of gpus to use (only applicable to non-distributed testing)')
    parser.add_argument('--format-only', action='store_true',
                        help='Format the output results without perform evaluation. It is '
                             'useful when you want to format the result to a specific format '
                             'and submit it to the test server')
    parser.add_argument('--eval', type=str, nargs='+',
                        help='evaluation metrics, which depends on the dataset, e.g., "bbox", '
                             '"segm", "proposal" for COCO, and "mAP", "recall" for PASCAL VOC')
    parser.add_argument('--show', action='store_true', help='show results')
    parser.add_argument('--show-dir', help='directory where painted images will be saved')
    parser.add_argument('--show-score-thr', type=float, default=0.3,
                        help='score threshold (default: 0.3)')
    parser.add_argument('--gpu-collect', action='store_true',
                        help='whether to use gpu to collect results.')
    parser.add_argument('--tmpdir', help='tmp directory used for collecting results from '
                                         'multiple workers, available when gpu-collect is not '
                                         'specified')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file.')
    parser.add_argument('--options', nargs='+', action=StrictDictAction,
                        help='custom options for evaluation, the key-value pair in xxx=yyy '
                             'format will be kwargs for dataset.evaluate() function (deprecate), '
                             'change to --eval-options instead.')
    parser.add_argument('--eval-options', nargs='+', action=StrictDictAction,
                        help='custom options for evaluation, the key-value pair in xxx=yyy '
                             'format will be kwargs for dataset.evaluate() function')
    add_launcher_arguments(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)

    if args.options and args.eval_options:
        raise ValueError('--options and --eval-options cannot be both specified, --options is '
                         'deprecated in favor of --eval-options')
    if args.options:
        warnings.warn('--options is deprecated in favor of --eval-options')
        args.eval_options = args.options
    if not (args.out or args.eval or args.format_only or args.show or args.show_dir):
        parser.error('Please specify at least one operation (save/eval/format/show the '
                     'results / save the results) with the argument "--out", "--eval", '
                     '"--format-only", "--show" or "--show-dir"')
    if args.eval and args.format_only:
        parser.error('--eval and --format_only cannot be both specified')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'The output file must be a pkl file, got --out {args.out}')
    return args


def load_test_config(args) -> Config:
    """The config as MMDetection 2.28's test.py prepares it: loaded (``${key}`` references,
    ``MMDET_DATASETS``, ``--cfg-options``), through ``compat_cfg``, its multi-processing settings
    applied."""
    cfg = compat_cfg(load_config(args.config, args.cfg_options))
    setup_multi_processes(cfg)
    # Refuse a missing, corrupt or unsafe checkpoint before building anything.
    check_checkpoint(args.checkpoint)
    if 'pretrained' in cfg.model:
        cfg.model.pretrained = None
    cfg.model.train_cfg = None
    return cfg


def prepare_test_data_cfg(cfg: Config, distributed: bool) -> dict:
    """Put ``cfg.data.test`` in test mode; returns the test loader's ``build_dataloader``
    arguments: ``data.test_dataloader`` over MMDetection 2.28's defaults."""
    loader_args = {'dist': distributed, 'shuffle': False, **loader_settings(cfg, 'test_dataloader')}
    test_cfgs = cfg.data.test if isinstance(cfg.data.test, list) else [cfg.data.test]
    for ds_cfg in test_cfgs:
        ds_cfg.test_mode = True
        if loader_args['samples_per_gpu'] > 1:
            ds_cfg.pipeline = replace_ImageToTensor(ds_cfg.pipeline)
    return loader_args


def check_eval_metrics(dataset, metrics) -> None:
    """Refuse unknown ``--eval`` metrics before inference (the dataset decides which exist)."""
    while hasattr(dataset, 'dataset') or hasattr(dataset, 'datasets'):
        dataset = dataset.dataset if hasattr(dataset, 'dataset') else dataset.datasets[0]
    allowed = getattr(dataset, 'ALLOWED_METRICS', None)
    unknown = [m for m in metrics or [] if allowed is not None and m not in allowed]
    if unknown:
        raise ValueError(f'--eval: metric {", ".join(unknown)} is not supported by '
                         f'{type(dataset).__name__}; allowed metrics are {", ".join(allowed)}')


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_test_config(args)
    if args.work_dir is not None and osp.exists(args.work_dir) and not osp.isdir(args.work_dir):
        raise NotADirectoryError(f'--work-dir {args.work_dir} exists and is not a directory')

    if args.launcher == 'none':
        distributed = False
    else:
        distributed = True
        init_dist(args.launcher, **cfg.get('dist_params', {}))
    loader_args = prepare_test_data_cfg(cfg, distributed)

    rank, _ = get_dist_info()
    logger, eval_json = None, None
    if args.work_dir is not None and rank == 0:
        mmcv.mkdir_or_exist(osp.abspath(args.work_dir))
        timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
        eval_json = osp.join(args.work_dir, f'eval_{timestamp}.json')
        logger = get_root_logger(log_file=osp.join(args.work_dir, f'test_{timestamp}.log'))
        logger.info(f'Testing {args.checkpoint} with {args.config}')
    try:
        test(args, cfg, loader_args, distributed, rank, eval_json)
    except Exception:
        if logger is not None:
            log_traceback_to_file(logger, 'Testing')
        raise


def test(args, cfg: Config, loader_args: dict, distributed: bool, rank: int,
         eval_json: Optional[str]) -> None:
    """Inference, then on rank 0 ``--out``, ``--format-only`` and ``--eval`` (its metrics also
    written to ``eval_json`` unless None)."""
    dataset = build_dataset(cfg.data.test)
    check_eval_metrics(dataset, args.eval)
    data_loader = build_dataloader(dataset, **loader_args)

    model = build_detector(cfg.model, test_cfg=cfg.get('test_cfg'))
    if args.amp and cfg.get('fp16', None) is None:
        cfg.fp16 = dict()
    if cfg.get('fp16', None) is not None:
        enable_autocast(model, cfg.fp16.get('dtype'))
    checkpoint, match = load_checkpoint_matched(model, args.checkpoint, map_location='cpu')
    if 2 * len(match.loaded) < match.num_model and not args.allow_partial_checkpoint:
        raise CheckpointError(
            f'checkpoint file {args.checkpoint} fills only {len(match.loaded)} of the '
            f'{match.num_model} tensors of {match.model_name} ({len(match.missing)} missing, '
            f'{len(match.mismatched)} shape-mismatched, {len(match.unexpected)} unexpected): was it '
            'saved with another config? Pass --allow-partial-checkpoint to test it anyway')
    if args.fuse_conv_bn:
        model = fuse_conv_bn(model)
    # Old checkpoints have no CLASSES in meta: fall back to the dataset's.
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}
    model.CLASSES = meta['CLASSES'] if 'CLASSES' in meta else dataset.CLASSES

    gpu_id = (args.gpu_ids or [0])[0] if torch.cuda.is_available() else None
    model = wrap_model(model, distributed, gpu_id)
    if not distributed:
        outputs = single_gpu_test(model, data_loader, args.show, args.show_dir,
                                  args.show_score_thr)
    else:
        outputs = multi_gpu_test(model, data_loader, args.tmpdir, args.gpu_collect)
        torch.distributed.destroy_process_group()  # results are gathered; NCCL warns at exit otherwise

    if rank != 0:
        return
    if args.out:
        print(f'\nwriting results to {args.out}')
        mmcv.dump(outputs, args.out)
    kwargs = {} if args.eval_options is None else args.eval_options
    if args.format_only:
        dataset.format_results(outputs, **kwargs)
    if args.eval:
        eval_kwargs = dataset_eval_kwargs(cfg.get('evaluation', {}))
        eval_kwargs.update(dict(metric=args.eval, **kwargs))
        metric = dataset.evaluate(outputs, **eval_kwargs)
        print(metric)
        if eval_json is not None:
            mmcv.dump(dict(config=args.config, metric=metric), eval_json)


if __name__ == '__main__':
    sys.exit(run_cli(main, 'test.py'))
