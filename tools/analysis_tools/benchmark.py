"""Inference speed of a detector on its test set, one image a forward (MMDetection 2.x's tool).

    python tools/analysis_tools/benchmark.py CONFIG CHECKPOINT [--repeat-num 1] [--max-iter 2000]
        [--log-interval 50] [--fuse-conv-bn] [--cfg-options KEY=VALUE ...]
    torchrun --nproc_per_node=N tools/analysis_tools/benchmark.py CONFIG CHECKPOINT --launcher pytorch

Only the model's forward is timed (``time.perf_counter``, after a CUDA synchronize on GPUs), not
loading and preprocessing; the first 5 images warm up and are not counted. Every
``--log-interval`` images it prints the fps so far, then the overall fps after ``--max-iter``
images (or the whole test set, if smaller). ``--repeat-num R`` measures R times and also prints
each fps and their mean. MMDetection's tool runs only under a launcher; this one also runs in one
process (``--launcher none``, the default). Under a launcher every process measures its own share
of the test set and prints its own lines.
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Union

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/, for process_env
import process_env  # noqa: E402

process_env.apply()  # as tools/train.py does, before torch is imported

import mmdet_lite  # noqa: E402,F401  (before mmcv: installs mmdet_lite.compat)
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.cnn import fuse_conv_bn  # noqa: E402

from mmdet_lite.core.fp16 import enable_autocast  # noqa: E402
from mmdet_lite.datasets import build_dataloader, build_dataset, replace_ImageToTensor  # noqa: E402
from mmdet_lite.models.builder import build_detector  # noqa: E402
from mmdet_lite.utils.checkpoint import check_checkpoint, load_checkpoint  # noqa: E402
from mmdet_lite.utils.compat_config import compat_cfg, loader_settings  # noqa: E402
from mmdet_lite.utils.cli import (StrictDictAction, add_launcher_arguments,  # noqa: E402
                                  export_local_rank, load_config, require_config_keys, run_cli)
from mmdet_lite.utils.dist import init_dist, wrap_model  # noqa: E402

NUM_WARMUP = 5  # the first iterations (allocations, cuDNN autotuning) are not timed


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='MMDet benchmark a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--repeat-num', type=int, default=1,
                        help='number of repeat times of measurement for averaging the results')
    parser.add_argument('--max-iter', type=int, default=2000, help='num of max iter')
    parser.add_argument('--log-interval', type=int, default=50, help='interval of logging')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='Whether to fuse conv and bn, this will slightly increase the '
                             'inference speed')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file.')
    add_launcher_arguments(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    for name in ('repeat_num', 'max_iter', 'log_interval'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1, got {getattr(args, name)}')
    if args.max_iter <= NUM_WARMUP:
        parser.error(f'--max-iter must be more than the {NUM_WARMUP} warm-up iterations, got '
                     f'{args.max_iter}')
    return args


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measure_inference_speed(cfg: Config, checkpoint: str, max_iter: int, log_interval: int,
                            is_fuse_conv_bn: bool, distributed: bool = False) -> float:
    """Images per second of the forward on ``cfg.data.test`` (``cfg`` not changed), one image a
    batch, the first ``NUM_WARMUP`` images left out; prints MMDetection's progress and overall
    lines."""
    cfg = compat_cfg(cfg)
    cfg.model.pretrained = None
    cfg.model.train_cfg = None
    cfg.data.test.test_mode = True
    loader_args = loader_settings(cfg, 'test_dataloader')
    if loader_args['samples_per_gpu'] > 1:
        cfg.data.test.pipeline = replace_ImageToTensor(cfg.data.test.pipeline)
    dataset = build_dataset(cfg.data.test)
    data_loader = build_dataloader(dataset, **{**loader_args, 'samples_per_gpu': 1},
                                   dist=distributed, shuffle=False)
    if len(data_loader) <= NUM_WARMUP:
        raise ValueError(f'data.test of {cfg.filename} gives {len(data_loader)} images to this '
                         f'process: the benchmark needs more than the {NUM_WARMUP} warm-up images')

    model = build_detector(cfg.model, test_cfg=cfg.get('test_cfg'))
    if cfg.get('fp16', None) is not None:
        enable_autocast(model, cfg.fp16.get('dtype'))
    load_checkpoint(model, checkpoint, map_location='cpu')
    if is_fuse_conv_bn:
        model = fuse_conv_bn(model)
    model = wrap_model(model, distributed, 0 if torch.cuda.is_available() else None)
    model.eval()

    pure_inf_time = 0.0
    fps = 0.0
    for i, data in enumerate(data_loader):
        _synchronize()
        start_time = time.perf_counter()
        with torch.no_grad():
            model(return_loss=False, rescale=True, **data)
        _synchronize()
        elapsed = time.perf_counter() - start_time
        if i >= NUM_WARMUP:
            pure_inf_time += elapsed
            fps = (i + 1 - NUM_WARMUP) / pure_inf_time
            if (i + 1) % log_interval == 0:
                print(f'Done image [{i + 1:<3}/ {max_iter}], fps: {fps:.1f} img / s, '
                      f'times per image: {1000 / fps:.1f} ms / img', flush=True)
        if i + 1 == max_iter:
            break
    print(f'Overall fps: {fps:.1f} img / s, times per image: {1000 / fps:.1f} ms / img', flush=True)
    return fps


def repeat_measure_inference_speed(cfg: Config, checkpoint: str, max_iter: int, log_interval: int,
                                   is_fuse_conv_bn: bool, repeat_num: int = 1,
                                   distributed: bool = False) -> Union[float, List[float]]:
    """``measure_inference_speed`` ``repeat_num`` times (each on its own ``compat_cfg`` copy of
    ``cfg``); with more than one, prints every fps and ms per image with their means in brackets
    and returns the list."""
    fps_list = [measure_inference_speed(cfg, checkpoint, max_iter, log_interval, is_fuse_conv_bn,
                                        distributed)
                for _ in range(repeat_num)]
    if repeat_num == 1:
        return fps_list[0]
    rounded_fps = [round(fps, 1) for fps in fps_list]
    rounded_ms = [round(1000 / fps, 1) for fps in fps_list]
    print(f'Overall fps: {rounded_fps}[{sum(rounded_fps) / repeat_num:.1f}] img / s, times per '
          f'image: {rounded_ms}[{sum(rounded_ms) / repeat_num:.1f}] ms / img', flush=True)
    return fps_list


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    require_config_keys(cfg, args.config, 'model', 'data.test')
    check_checkpoint(args.checkpoint)  # a missing or unsafe checkpoint: refused before the dataset
    distributed = args.launcher != 'none'
    if distributed:
        init_dist(args.launcher, **cfg.get('dist_params', {}))
    try:
        repeat_measure_inference_speed(cfg, args.checkpoint, args.max_iter, args.log_interval,
                                       args.fuse_conv_bn, args.repeat_num, distributed)
    finally:
        if distributed:
            torch.distributed.destroy_process_group()


if __name__ == '__main__':
    sys.exit(run_cli(main, 'benchmark.py'))
