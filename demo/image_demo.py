"""Detect objects in one image and draw them: MMDetection 2.x's ``demo/image_demo.py``.

    python demo/image_demo.py IMG CONFIG CHECKPOINT --device cpu --out-file result.jpg

Boxes are drawn in the ``--palette`` class colours with ``name|score`` labels, for detections
scoring above ``--score-thr``; without ``--out-file`` the picture opens in a matplotlib window.
"""
import os.path as osp
import sys
from argparse import ArgumentParser

import mmdet_lite  # noqa: F401  (before mmcv: installs mmdet_lite.compat)
from mmdet_lite.apis import inference_detector, init_detector, show_result_pyplot
from mmdet_lite.utils.cli import run_cli


def parse_args(argv=None):
    parser = ArgumentParser()
    parser.add_argument('img', help='Image file')
    parser.add_argument('config', help='Config file')
    parser.add_argument('checkpoint', help='Checkpoint file')
    parser.add_argument('--out-file', default=None, help='Path to output file')
    parser.add_argument('--device', default='cuda:0', help='Device used for inference')
    parser.add_argument('--palette', default='coco', choices=['coco', 'voc', 'citys', 'random'],
                        help='Color palette used for visualization')
    parser.add_argument('--score-thr', type=float, default=0.3, help='bbox score threshold')
    parser.add_argument('--async-test', action='store_true',
                        help='whether to set async options for async inference (not supported: '
                             'refused with a message)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.async_test:
        raise ValueError('--async-test: asynchronous inference (MMDetection\'s '
                         'async_inference_detector, on CUDA streams) is not supported by '
                         'mmdet_lite; run without --async-test')
    if not osp.isfile(args.img):
        raise FileNotFoundError(f'image file {args.img} does not exist')
    model = init_detector(args.config, args.checkpoint, device=args.device)
    result = inference_detector(model, args.img)
    show_result_pyplot(model, args.img, result, palette=args.palette, score_thr=args.score_thr,
                       out_file=args.out_file)
    if args.out_file is not None:
        print(f'detections drawn to {args.out_file}')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'image_demo.py'))
