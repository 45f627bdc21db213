"""FLOPs and parameters of a detector's ``forward_dummy`` (MMDetection 2.x's tool).

    python tools/analysis_tools/get_flops.py CONFIG [--shape 1280 800] [--size-divisor 32]
                                             [--cfg-options KEY=VALUE ...]

Counted with torch's own counter (``torch.utils.flop_counter.FlopCounterMode``) and reported in
MMDetection's convention, which is mmcv's: one multiply-add is one "FLOP", so the "GFLOPs" printed
are giga multiply-accumulates (torch counts 2 per multiply-add; that count is halved). What is
counted: convolutions and matrix products, the ops torch's counter has formulas for. mmcv's counter
also adds one per output element of bias, normalisation, activation and pooling layers, so
MMDetection prints slightly more for the same model (docs/benchmarks.md, "FLOPs: torch's counter
against mmcv's"). Params counts the trainable parameters (``requires_grad``), as mmcv does: frozen
backbone stages are left out.

``forward_dummy`` runs the backbone, neck and heads on one ``(1, 3, H, W)`` image; a two-stage
detector's RoI head runs on 1000 random proposals whatever the image holds.
"""
import argparse
import os.path as osp
import sys
from typing import Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/, for process_env
import process_env  # noqa: E402

process_env.apply()  # as tools/train.py does, before torch is imported

import mmdet_lite  # noqa: E402,F401  (before mmcv: installs mmdet_lite.compat)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmcv.cnn.utils.flops_counter import flops_to_string, params_to_string  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from mmdet_lite.models.builder import build_detector  # noqa: E402
from mmdet_lite.utils.cli import (StrictDictAction, load_config, require_config_keys,  # noqa: E402
                                  run_cli)

CAUTION = ('!!!Please be cautious if you use the results in papers. You may need to check if all '
           'ops are supported and verify that the flops computation is correct.')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Get the FLOPs and params of a detector. FLOPs follow MMDetection (mmcv): a '
                    'multiply-add counts as one FLOP, so "GFLOPs" are giga multiply-accumulates '
                    "(MACs) of the convolutions and matrix products, counted by torch's "
                    'FlopCounterMode; Params are the trainable parameters.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', default=[1280, 800],
                        help='input image size: H W, or one number for a square')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file.')
    parser.add_argument('--size-divisor', type=int, default=32,
                        help='Pad the input image, the minimum size that is divisible by '
                             'size_divisor, -1 means do not pad the image.')
    return parser.parse_args(argv)


def input_shapes(shape, size_divisor: int) -> Tuple[tuple, tuple]:
    """``(3, H, W)`` as asked and as padded up to multiples of ``size_divisor`` (if > 0)."""
    if len(shape) == 1:
        height = width = shape[0]
    elif len(shape) == 2:
        height, width = shape
    else:
        raise ValueError(f'--shape takes H W or one size, got {len(shape)} numbers: {shape}')
    if min(height, width) <= 0:
        raise ValueError(f'--shape must be positive, got {shape}')
    asked = (3, height, width)
    if size_divisor > 0:
        height = int(np.ceil(height / size_divisor)) * size_divisor
        width = int(np.ceil(width / size_divisor)) * size_divisor
    return asked, (3, height, width)


def model_complexity(model: torch.nn.Module, input_shape: tuple) -> Tuple[int, int]:
    """``(multiply-adds, trainable parameters)`` of ``model.forward_dummy`` on one image of
    ``input_shape`` (C, H, W), in eval mode without gradients."""
    if not hasattr(model, 'forward_dummy'):
        raise NotImplementedError(f'FLOPs counter is currently not supported with '
                                  f'{type(model).__name__}: it has no forward_dummy')
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.forward_dummy(torch.ones((1, *input_shape), device=device))
    num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counter.get_total_flops() // 2, num_params


def main(argv=None) -> None:
    args = parse_args(argv)
    asked_shape, input_shape = input_shapes(args.shape, args.size_divisor)
    cfg = load_config(args.config, args.cfg_options)
    require_config_keys(cfg, args.config, 'model')
    model = build_detector(cfg.model, train_cfg=cfg.get('train_cfg'), test_cfg=cfg.get('test_cfg'))
    if torch.cuda.is_available():
        model.cuda()
    macs, num_params = model_complexity(model, input_shape)
    split_line = '=' * 30
    if input_shape != asked_shape:
        print(f'{split_line}\nUse size divisor set input shape from {asked_shape} to {input_shape}\n')
    print(f'{split_line}\nInput shape: {input_shape}\nFlops: {flops_to_string(macs)}\n'
          f'Params: {params_to_string(num_params)}\n{split_line}')
    print(CAUTION)


if __name__ == '__main__':
    sys.exit(run_cli(main, 'get_flops.py'))
