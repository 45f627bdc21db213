"""Time the training step's target and proposal work, batched over the images against once per image.

    python tools/analysis_tools/benchmark_targets.py [--batch-sizes 2 8] [--size 800 1344] [--boxes 8]
        [--repeats 10] [--device cpu|cuda]

Faster R-CNN R50-FPN's heads (``benchmark_train.CONFIG``) on random head outputs of N images of the
given size: the RPN loss (anchor targets: assignment, sampling, box deltas), the RPN proposals
(decode, NMS, best ``max_per_img``) and the RoI head's assignment and sampling of 1000 proposals per
image. Each part runs both ways: the per-image path (what other assigners and samplers still take;
for the proposals, one NMS call per image, the default) and the batched one (for the proposals, one
NMS call for all images, ``RPNHead.nms_images_at_once``). Prints the median of ``--repeats`` runs per
way in a Markdown table.
"""
import argparse
import logging
import os.path as osp
import statistics
import sys
import time
from typing import Callable, List

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # benchmark_train, which sets up process_env
import benchmark_train  # noqa: E402  (before torch: it applies tools/process_env.py)

import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.utils import get_logger  # noqa: E402

from mmdet_lite.models import build_detector  # noqa: E402
from mmdet_lite.utils.cli import run_cli  # noqa: E402
from mmdet_lite.utils.dist import check_device  # noqa: E402

STRIDES = (4, 8, 16, 32, 64)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Time target and proposal work, batched against per image')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[2, 8])
    parser.add_argument('--size', type=int, nargs=2, default=[800, 1344], metavar=('H', 'W'))
    parser.add_argument('--boxes', type=int, default=8, help='ground-truth boxes per image')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--config', default=benchmark_train.CONFIG)
    args = parser.parse_args(argv)
    check_device(args.device)
    return args


def _median_ms(run: Callable[[], object], repeats: int, cuda: bool) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _random_boxes(num: int, height: int, width: int, device) -> torch.Tensor:
    corners = torch.rand(num, 2, device=device) * torch.tensor([width * 0.8, height * 0.8], device=device)
    sides = torch.rand(num, 2, device=device) * torch.tensor([width * 0.5, height * 0.5], device=device) + 8
    return torch.cat([corners, (corners + sides).minimum(torch.tensor([width, height], device=device))], dim=1)


def measure(args, num_imgs: int) -> List[tuple]:
    """Rows (part, N, per-image ms, batched ms) for one batch size."""
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model).to(args.device)
    rpn_head, roi_head = model.rpn_head, model.roi_head
    height, width = args.size
    device = torch.device(args.device)
    torch.manual_seed(0)
    featmap_sizes = [(-(-height // s), -(-width // s)) for s in STRIDES]
    num_anchors = rpn_head.num_anchors
    cls_scores = [torch.randn(num_imgs, num_anchors, h, w, device=device) for h, w in featmap_sizes]
    bbox_preds = [torch.randn(num_imgs, 4 * num_anchors, h, w, device=device) * 0.5 for h, w in featmap_sizes]
    shape = (height, width, 3)
    img_metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=shape, scale_factor=[1.0] * 4)
                 for _ in range(num_imgs)]
    gt_bboxes = [_random_boxes(args.boxes, height, width, device) for _ in range(num_imgs)]
    gt_labels = [torch.randint(0, 80, (args.boxes, ), device=device) for _ in range(num_imgs)]
    proposals = [torch.cat([_random_boxes(1000, height, width, device), torch.rand(1000, 1, device=device)], 1)
                 for _ in range(num_imgs)]
    cuda = args.device == 'cuda'
    rows = []

    def both_ways(part: str, run: Callable[[], object], use_per_image: Callable[[bool], None]) -> None:
        timings = []
        for per_image in (True, False):
            use_per_image(per_image)
            timings.append(_median_ms(run, args.repeats, cuda))
        rows.append((part, num_imgs, *timings))

    def rpn_targets_per_image(per_image: bool) -> None:
        rpn_head.__dict__.pop('_batched_targets_apply', None)
        if per_image:
            rpn_head._batched_targets_apply = lambda gts: False

    def roi_sampling_per_image(per_image: bool) -> None:
        roi_head.__dict__.pop('_batched_sampling_applies', None)
        if per_image:
            roi_head._batched_sampling_applies = lambda gts: False

    def nms_per_image(per_image: bool) -> None:
        rpn_head.nms_images_at_once = not per_image

    with torch.no_grad():
        both_ways('RPN loss (anchor targets)', lambda: rpn_head.loss(cls_scores, bbox_preds, gt_bboxes, img_metas),
                  rpn_targets_per_image)
        both_ways('RPN proposals (NMS per image / one call)',
                  lambda: rpn_head.get_bboxes(cls_scores, bbox_preds, img_metas=img_metas, cfg=cfg.model.train_cfg.rpn_proposal),
                  nms_per_image)
        both_ways('RoI assignment and sampling',
                  lambda: roi_head._assign_and_sample(proposals, gt_bboxes, gt_labels, [None] * num_imgs),
                  roi_sampling_per_image)
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    get_logger('mmcv').setLevel(logging.WARNING)  # silence the per-parameter init report
    where = torch.cuda.get_device_name() if args.device == 'cuda' else f'CPU, {torch.get_num_threads()} threads'
    print(f'{args.size[0]}x{args.size[1]} images, {args.boxes} ground truths each, {where}, torch {torch.__version__}, '
          f'median of {args.repeats}\n')
    print('| part | N | per image ms | batched ms | per image / batched |')
    print('|---|---:|---:|---:|---:|')
    for num_imgs in args.batch_sizes:
        for part, num, per_image_ms, batched_ms in measure(args, num_imgs):
            print(f'| {part} | {num} | {per_image_ms:.1f} | {batched_ms:.1f} | {per_image_ms / batched_ms:.2f}x |')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'benchmark_targets.py'))
