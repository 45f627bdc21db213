"""Time each stage of the Faster R-CNN training pipeline (``configs/_base_/datasets/coco_detection.py``)
on one image, at the 1333x800 training scale, in this process.

    python tools/analysis_tools/benchmark_pipeline.py [--img path.jpg] [--repeats 20] [--batch 2]

Stages: decode (``LoadImageFromFile``, the JPEG decode), annotations, resize (to fit 1333x800, keeping
the aspect ratio), flip (``flip_ratio=1``: every call flips, the cost a flipped sample pays), normalize,
pad (to a multiple of 32), format (``DefaultFormatBundle`` + ``Collect``: HWC -> CHW tensor) and collate
(``--batch`` samples into one padded batch). Without ``--img`` a 640x480 JPEG (COCO's typical size) of
smooth random content is written to a temporary directory. Each stage is timed ``--repeats`` times on
its own input (the previous stage's output, made once); the median is reported, with the sum per image
and the images/s one loader worker can give. Compare that with the training step's img/s
(``benchmark_train.py``) to size ``data.workers_per_gpu``.
"""
import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, List, Tuple

import mmdet_lite  # noqa: F401  (before mmcv: installs mmdet_lite.compat)
import cv2
import numpy as np
from mmcv.parallel import collate

from mmdet_lite.datasets.pipelines import (Collect, DefaultFormatBundle, LoadAnnotations, LoadImageFromFile,
                                           Normalize, Pad, RandomFlip, Resize)
from mmdet_lite.utils.cli import run_cli

IMG_NORM_CFG = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


def write_test_jpeg(directory: str, width: int = 640, height: int = 480) -> str:
    """A JPEG of smooth random colour (compresses and decodes like a photo, unlike white noise)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), (5, 5), 0)
    path = os.path.join(directory, 'bench.jpg')
    cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def initial_results(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'--img {path} does not exist')
    img = cv2.imread(path)
    if img is None:
        raise ValueError(f'--img {path} is not an image OpenCV can read')
    height, width = img.shape[:2]
    boxes = np.array([[10, 20, width / 2, height / 2], [width / 3, height / 3, width - 5, height - 5]], np.float32)
    return dict(img_prefix=None, img_info=dict(filename=path, width=width, height=height),
                ann_info=dict(bboxes=boxes, labels=np.array([0, 1]), bboxes_ignore=np.zeros((0, 4), np.float32)),
                bbox_fields=[], mask_fields=[], seg_fields=[])


def stages(batch: int) -> List[Tuple[str, Callable]]:
    format_bundle, collect = DefaultFormatBundle(), Collect(keys=['img', 'gt_bboxes', 'gt_labels'])
    return [
        ('decode', LoadImageFromFile()),
        ('annotations', LoadAnnotations(with_bbox=True)),
        ('resize', Resize(img_scale=(1333, 800), keep_ratio=True)),
        ('flip', RandomFlip(flip_ratio=1.0)),
        ('normalize', Normalize(**IMG_NORM_CFG)),
        ('pad', Pad(size_divisor=32)),
        ('format', lambda results: collect(format_bundle(results))),
        ('collate', lambda sample: collate([sample] * batch, samples_per_gpu=batch)),
    ]


def _img_shape(results: dict) -> tuple:
    img = results['img'].data if hasattr(results['img'], 'data') else results['img']
    return tuple(img[0].shape) if isinstance(img, list) else tuple(img.shape)


def time_stage(stage: Callable, stage_input: dict, repeats: int) -> Tuple[float, object]:
    times, output = [], None
    for _ in range(repeats):
        fresh = copy.deepcopy(stage_input)  # stages write into their input
        start = time.perf_counter()
        output = stage(fresh)
        times.append(time.perf_counter() - start)
    return statistics.median(times), output


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description='Time the training data pipeline stage by stage')
    parser.add_argument('--img', help='a JPEG to use (default: a generated 640x480 one)')
    parser.add_argument('--repeats', type=int, default=20, help='timed calls per stage (median reported)')
    parser.add_argument('--batch', type=int, default=2, help='samples per batch for the collate stage')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.img or write_test_jpeg(tmp)
        results = initial_results(path)
        print(f'image {path} ({results["img_info"]["width"]}x{results["img_info"]["height"]}), '
              f'scale 1333x800, {args.repeats} repeats, load average '
              f'{" ".join(f"{load:.2f}" for load in os.getloadavg())}')
        per_image_ms = 0.0
        print('| stage       | median ms | img after the stage |')
        print('|-------------|----------:|---------------------|')
        for name, stage in stages(args.batch):
            seconds, results = time_stage(stage, results, args.repeats)
            if name != 'collate':
                per_image_ms += seconds * 1e3
            if name == 'collate':  # per sample, like the other rows
                seconds /= args.batch
            print(f'| {name:11s} | {seconds * 1e3:9.2f} | {_img_shape(results)} |')
        print(f'per image (decode..format): {per_image_ms:.1f} ms -> {1e3 / per_image_ms:.1f} img/s per worker')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'benchmark_pipeline.py'))
