"""Time one training step (forward + backward + SGD) of mmdet_lite's Faster R-CNN R50-FPN against
torchvision's ``fasterrcnn_resnet50_fpn`` on the same random batch, in one process.

    python tools/analysis_tools/benchmark_train.py [--shape 2 3 512 672] [--batch-sizes 2 4 8 ...] [--steps 5]
                                                   [--warmup 2] [--threads N] [--rows NAME ...]
                                                   [--device cpu|cuda] [--config CONFIG]

All rows are built first and warmed up (``--warmup`` steps each); the ``--steps`` timed steps are then
interleaved (row A, row B, row A, ...) so that load from other processes on a shared CPU hits every row
alike. Reported as a Markdown table: median seconds per step, images per second, RoIs pooled per step
(random weights make torchvision drop degenerate proposals, so its RoI head may see fewer RoIs), peak
memory, and the speed-up over ``mmdet_lite`` (fp32, NCHW), with the load average at the end. Rows are
registered in ``ROWS``: mmdet_lite in fp32 or ``--amp``'s autocast (bfloat16 on the CPU), NCHW or
``channels_last`` (the model config's ``channels_last`` switch), with torch's default, foreach or fused SGD, or
with backbone and neck ``torch.compile``d (the ``compile`` config key; its build-and-warm-up time, printed
per row, includes the compilation); torchvision in fp32 or under bfloat16 autocast. ``--config``: the
model of another config for the mmdet_lite rows.

``--batch-sizes``: one measurement (build, warm up, time) per batch size, images of ``--shape``'s C, H, W,
to pick the batch per GPU; a row that runs out of GPU memory is reported as OOM. With ``--device cuda``
the steps run on the GPU (``--amp`` rows then mean float16 autocast with a dynamic ``GradScaler``, as
``AmpOptimizerHook`` does there), each timed up to a synchronize, and the memory columns are the row's
own peak GPU allocation (weights, optimizer state and the step's activations) and that per image. On the
CPU the memory column is the process's peak RSS after the row was built and warmed up (a high-water mark:
it only grows), with no per-image figure.
"""
import argparse
import gc
import logging
import os
import os.path as osp
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple, Union

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/, for process_env
import process_env  # noqa: E402

process_env.apply()  # as tools/train.py does, before torch is imported

import mmdet_lite  # noqa: E402,F401  (before mmcv: installs mmdet_lite.compat)
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.utils import get_logger  # noqa: E402

from mmdet_lite.utils.cli import run_cli  # noqa: E402
from mmdet_lite.utils.dist import check_device  # noqa: E402

CONFIG = 'configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py'
NUM_CLASSES = 80  # foreground classes; both models get 81 logits (background included)


@dataclass
class Row:
    """A training step to time and the module whose forward receives the RoIs (to count them)."""
    # returns the loss: read at every step as torchvision's reference does, left on the device as
    # mmdet_lite's runner does
    step: Callable[[], Union[float, torch.Tensor]]
    roi_module: torch.nn.Module
    count_rois: Callable[[tuple], int]
    times: List[float] = field(default_factory=list)
    peak_memory_mib: float = 0.0
    rois: List[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.roi_module.register_forward_hook(lambda _m, inputs, _out: self.rois.append(self.count_rois(inputs)))


def make_batch(shape: Tuple[int, int, int, int], boxes_per_img: int, seed: int = 0,
               device: str = 'cpu') -> dict:
    """Random images (N, C, H, W) and ``boxes_per_img`` random boxes / labels in [0, 80) per image."""
    num_imgs, channels, height, width = shape
    gen = torch.Generator().manual_seed(seed)
    imgs = torch.randn(num_imgs, channels, height, width, generator=gen)
    xy = torch.rand(num_imgs, boxes_per_img, 2, generator=gen) * torch.tensor([width * 0.7, height * 0.7])
    wh = (0.1 + 0.2 * torch.rand(num_imgs, boxes_per_img, 2, generator=gen)) * torch.tensor([width, height])
    gt_bboxes = list(torch.cat([xy, xy + wh], dim=-1))
    gt_labels = list(torch.randint(0, NUM_CLASSES, (num_imgs, boxes_per_img), generator=gen))
    return dict(imgs=imgs.to(device), gt_bboxes=[b.to(device) for b in gt_bboxes],
                gt_labels=[l.to(device) for l in gt_labels])


def mmdet_lite_row(batch: dict, args, channels_last: bool = False, amp: bool = False,
                   foreach: Optional[bool] = None, fused: Optional[bool] = None,
                   compile_backbone_and_neck: bool = False) -> Row:
    """The training step of ``tools/train.py``: ``train_step`` (under autocast when ``amp``, as
    ``AmpOptimizerHook`` sets it up: bfloat16 on the CPU, no loss scaler), backward, SGD step."""
    from mmdet_lite.apis.train import compile_backbone_and_neck as compile_parts
    from mmdet_lite.core.fp16 import autocast_dtype, enable_autocast
    from mmdet_lite.models import build_detector
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None
    cfg.model.channels_last = channels_last
    model = build_detector(cfg.model)
    model.init_weights()
    model.to(args.device)
    compile_parts(model, compile_backbone_and_neck)
    model.train()
    # float16 needs a loss scaler, bfloat16 (the CPU's) does not
    scaler = torch.amp.GradScaler('cuda') if amp and args.device == 'cuda' else None
    if amp:
        enable_autocast(model, autocast_dtype(args.device))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args.lr, momentum=0.9,
                                weight_decay=1e-4, foreach=foreach, fused=fused)
    imgs = batch['imgs']
    num_imgs, _, height, width = imgs.shape
    shape = (height, width, 3)

    def step() -> torch.Tensor:
        metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=shape, scale_factor=[1.0] * 4, flip=False)
                 for _ in range(num_imgs)]
        data = dict(img=imgs, img_metas=metas, gt_bboxes=batch['gt_bboxes'], gt_labels=batch['gt_labels'])
        outputs = model.train_step(data, optimizer)
        optimizer.zero_grad()
        if scaler is None:
            outputs['loss'].backward()
            optimizer.step()
        else:
            scaler.scale(outputs['loss']).backward()
            scaler.step(optimizer)
            scaler.update()
        return outputs['log_vars']['loss']

    return Row(step, model.roi_head.bbox_roi_extractor, lambda inputs: inputs[1].shape[0])


def _torchvision_step(model: torch.nn.Module, batch: dict, args, bf16: bool = False) -> Row:
    model.to(args.device)
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args.lr, momentum=0.9,
                                weight_decay=1e-4)
    images = list(batch['imgs'])
    # torchvision's label 0 is background
    targets = [dict(boxes=b, labels=l + 1) for b, l in zip(batch['gt_bboxes'], batch['gt_labels'])]

    def step() -> float:
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16):
            losses = model(images, targets)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return Row(step, model.roi_heads.box_roi_pool, lambda inputs: sum(len(p) for p in inputs[1]))


def _no_resize_kwargs(batch: dict) -> dict:
    # the transform keeps the input size when min_size/max_size equal it
    _, _, height, width = batch['imgs'].shape
    return dict(min_size=min(height, width), max_size=max(height, width))


def torchvision_row(batch: dict, args, bf16: bool = False) -> Row:
    """``fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)``: all layers train, BatchNorm in train mode."""
    from torchvision.models.detection import fasterrcnn_resnet50_fpn
    model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=NUM_CLASSES + 1,
                                    **_no_resize_kwargs(batch))
    return _torchvision_step(model, batch, args, bf16=bf16)


def torchvision_matched_row(batch: dict, args) -> Row:
    """torchvision set up like the mmdet config: stem + layer1 frozen, frozen BN, 1000 proposals per image,
    and mmdet's zero-initialised last BN of each residual block (otherwise random-weight features blow up,
    nearly every proposal is degenerate and the RoI head has almost nothing to do)."""
    from torchvision.models import resnet50
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import FrozenBatchNorm2d
    backbone = _resnet_fpn_extractor(resnet50(weights=None, norm_layer=FrozenBatchNorm2d,
                                                   zero_init_residual=True), trainable_layers=3)
    model = FasterRCNN(backbone, num_classes=NUM_CLASSES + 1, rpn_post_nms_top_n_train=1000,
                       **_no_resize_kwargs(batch))
    return _torchvision_step(model, batch, args)


ROWS: Dict[str, Callable] = {
    'mmdet_lite': mmdet_lite_row,  # fp32, NCHW: the baseline of the speed-up column
    'mmdet_lite_channels_last': partial(mmdet_lite_row, channels_last=True),
    'mmdet_lite_channels_last_foreach': partial(mmdet_lite_row, channels_last=True, foreach=True),
    'mmdet_lite_amp': partial(mmdet_lite_row, amp=True),
    'mmdet_lite_amp_channels_last': partial(mmdet_lite_row, channels_last=True, amp=True),
    'mmdet_lite_amp_channels_last_foreach': partial(mmdet_lite_row, channels_last=True, amp=True, foreach=True),
    # fused SGD takes the GradScaler's inf check on the device: no read back per step
    'mmdet_lite_amp_channels_last_fused': partial(mmdet_lite_row, channels_last=True, amp=True, fused=True),
    'mmdet_lite_compile': partial(mmdet_lite_row, compile_backbone_and_neck=True),
    'torchvision': torchvision_row,
    'torchvision_bf16': partial(torchvision_row, bf16=True),
    'torchvision_matched': torchvision_matched_row,
}


def peak_memory_mib(device: str = 'cpu') -> float:
    """Peak resident memory of the process, or the GPU's peak allocation with ``device='cuda'``."""
    if device == 'cuda':
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark Faster R-CNN training steps')
    parser.add_argument('--shape', type=int, nargs=4, default=[2, 3, 512, 672], metavar=('N', 'C', 'H', 'W'))
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=None, metavar='N',
                        help="measure each of these batch sizes in turn (replaces --shape's N)")
    parser.add_argument('--boxes', type=int, default=3, help='ground-truth boxes per image')
    parser.add_argument('--steps', type=int, default=5, help='timed steps per row (median reported)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per row')
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--config', default=CONFIG, help='config whose model the mmdet_lite rows train')
    parser.add_argument('--rows', nargs='+', default=['mmdet_lite', 'mmdet_lite_channels_last', 'mmdet_lite_amp',
                                                      'mmdet_lite_amp_channels_last', 'torchvision',
                                                      'torchvision_bf16'],
                        choices=list(ROWS))
    args = parser.parse_args(argv)
    check_device(args.device)
    if args.steps < 1:
        raise ValueError(f'--steps must be >= 1, got {args.steps}')
    if args.batch_sizes is not None and min(args.batch_sizes) < 1:
        raise ValueError(f'--batch-sizes must be >= 1, got {args.batch_sizes}')
    return args


def _release_gpu_memory() -> None:
    gc.collect()  # a row and its RoI module's hook refer to each other
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _build_and_warm_up(name: str, batch: dict, args) -> Optional[Row]:
    try:
        row = ROWS[name](batch, args)
        for _ in range(args.warmup):
            row.step()
    except torch.OutOfMemoryError:
        return None
    return row


def build_and_warm_up(name: str, batch: dict, args) -> Optional[Row]:
    """Row ``name`` built and warmed up, its peak memory recorded (on CUDA: above what was allocated
    before it); None when it ran out of GPU memory."""
    torch.manual_seed(0)
    cuda = args.device == 'cuda'
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    allocated_before = torch.cuda.memory_allocated() / 2**20 if cuda else 0.0
    start = time.perf_counter()
    row = _build_and_warm_up(name, batch, args)
    if row is None:
        _release_gpu_memory()
        return None
    row.peak_memory_mib = peak_memory_mib(args.device) - allocated_before
    memory = 'peak GPU MiB' if cuda else 'peak RSS MiB'
    print(f'built and warmed up {name:38s} in {time.perf_counter() - start:6.1f} s, {memory} '
          f'{row.peak_memory_mib:8.0f}', flush=True)
    return row


def _timed_step(row: Row, args) -> bool:
    """One step of ``row``, its time appended; False when it ran out of GPU memory."""
    start = time.perf_counter()
    try:
        row.step()
        if args.device == 'cuda':
            torch.cuda.synchronize()
    except torch.OutOfMemoryError:
        return False
    row.times.append(time.perf_counter() - start)
    return True


def time_rows(rows: Dict[str, Row], args) -> None:
    """``args.steps`` timed steps per row, interleaved; a row that runs out of GPU memory is removed."""
    for _ in range(args.steps):
        for name in list(rows):
            if not _timed_step(rows[name], args):
                del rows[name]
                _release_gpu_memory()


def measure(batch_size: int, args) -> Dict[str, Optional[Row]]:
    """Every row of ``args.rows`` at ``batch_size`` images: built, warmed up and timed (None: OOM)."""
    _, channels, height, width = args.shape
    batch = make_batch((batch_size, channels, height, width), args.boxes, device=args.device)
    timed = {}
    for name in args.rows:
        row = build_and_warm_up(name, batch, args)
        if row is not None:
            timed[name] = row
    time_rows(timed, args)
    return {name: timed.get(name) for name in args.rows}


def table_lines(batch_size: int, rows: Dict[str, Optional[Row]], args) -> List[str]:
    """The Markdown rows of one batch size."""
    cuda = args.device == 'cuda'
    medians = {name: statistics.median(row.times) for name, row in rows.items() if row is not None}
    baseline = medians.get('mmdet_lite')
    lines = []
    for name, row in rows.items():
        if row is None:
            lines.append(f'| {name:38s} | {batch_size:5d} | OOM | | | | | | |')
            continue
        speed_up = f'{baseline / medians[name]:.2f}x' if baseline else '-'
        per_image = f'{row.peak_memory_mib / batch_size:7.0f}' if cuda else '    n/a'
        lines.append(f'| {name:38s} | {batch_size:5d} | {medians[name]:6.3f} | {batch_size / medians[name]:6.2f} | '
                     f'{min(row.times):.2f}..{max(row.times):.2f} | {statistics.median(row.rois[-args.steps:]):9.0f} | '
                     f'{row.peak_memory_mib:10.0f} | {per_image} | {speed_up:>13s} |')
    return lines


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    get_logger('mmcv').setLevel(logging.WARNING)  # silence the per-parameter init report (already initialised at import)
    cuda = args.device == 'cuda'
    batch_sizes = args.batch_sizes or [args.shape[0]]
    where = torch.cuda.get_device_name() if cuda else f'threads {torch.get_num_threads()}'
    print(f'input {tuple(args.shape[1:])}, batch sizes {batch_sizes}, {args.boxes} boxes/img, {where}, '
          f'{args.warmup} warm-up + {args.steps} timed steps, torch {torch.__version__}, '
          + ', '.join(f'{name}={value}' for name, value in process_env.describe().items()))
    lines = []
    for batch_size in batch_sizes:
        lines += table_lines(batch_size, measure(batch_size, args), args)
        _release_gpu_memory()
    memory = 'peak GPU MiB' if cuda else 'peak RSS MiB'
    print(f'load average {" ".join(f"{load:.2f}" for load in os.getloadavg())}')
    print(f'| {"row":38s} | batch | s/step |  img/s | min..max s | RoIs/step | {memory} | MiB/img | vs mmdet_lite |')
    print(f'|{"-" * 40}|------:|-------:|-------:|-----------:|----------:|-------------:|--------:|--------------:|')
    print('\n'.join(lines))


if __name__ == '__main__':
    sys.exit(run_cli(main, 'benchmark_train.py'))
