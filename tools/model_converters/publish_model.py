"""Prepare a checkpoint for release (MMDetection 2.x's tool).

    python tools/model_converters/publish_model.py work_dirs/exp/latest.pth faster_rcnn_exp.pth
    # -> faster_rcnn_exp-<first 8 hex digits of its sha256>.pth

The checkpoint is read safely (``torch.load(weights_only=True)``), its tensors moved to the CPU and
its ``optimizer`` state dropped (``meta`` and ``state_dict`` are kept); it is written atomically
under the name with the hash, in torch's current (zip) format.
"""
import argparse
import hashlib
import io
import sys

import mmdet_lite  # noqa: F401  (before mmcv: installs mmdet_lite.compat)
import torch

from mmdet_lite.utils.atomic_io import atomic_write_bytes
from mmdet_lite.utils.checkpoint import CheckpointError, load_from_local
from mmdet_lite.utils.cli import run_cli


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Process a checkpoint to be published')
    parser.add_argument('in_file', help='input checkpoint filename')
    parser.add_argument('out_file', help='output checkpoint filename')
    return parser.parse_args(argv)


def process_checkpoint(in_file: str, out_file: str) -> str:
    """Write ``in_file`` without its optimizer state as ``<out_file minus .pth>-<sha8>.pth``;
    returns that path."""
    checkpoint = load_from_local(in_file, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'checkpoint file {in_file} holds a {type(checkpoint).__name__}, '
                              'not a checkpoint dict')
    checkpoint.pop('optimizer', None)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    data = buffer.getvalue()
    stem = out_file[:-len('.pth')] if out_file.endswith('.pth') else out_file
    final_file = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    atomic_write_bytes(data, final_file)
    return final_file


def main(argv=None) -> None:
    args = parse_args(argv)
    print(f'published {process_checkpoint(args.in_file, args.out_file)}')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'publish_model.py'))
