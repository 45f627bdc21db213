"""Draw the training set's ground truth as the model sees it: MMDetection 2.x's
``tools/misc/browse_dataset.py``.

    python tools/misc/browse_dataset.py CONFIG --output-dir vis/ --not-show

Each sample goes through ``data.train``'s pipeline (augmentations included) without the steps
named by ``--skip-type`` (by default the formatting ones, so images stay uint8 arrays); its boxes
are drawn in the dataset's ``PALETTE`` class colours with their class names, and written to
``--output-dir/<image file name>`` and/or shown for ``--show-interval`` seconds.
"""
import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import mmdet_lite  # noqa: F401  (before mmcv: installs mmdet_lite.compat)
import mmcv
import numpy as np
from mmcv import Config

from mmdet_lite.core.visualization import imshow_det_bboxes
from mmdet_lite.datasets.builder import build_dataset
from mmdet_lite.utils.cli import StrictDictAction, load_config, run_cli

WRAPPERS = ('RepeatDataset', 'ConcatDataset', 'ClassBalancedDataset')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse a dataset')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--skip-type', type=str, nargs='+',
                        default=['DefaultFormatBundle', 'Normalize', 'Collect'],
                        help='skip some useless pipeline')
    parser.add_argument('--output-dir', default=None, type=str,
                        help='If there is no display interface, you can save it')
    parser.add_argument('--not-show', default=False, action='store_true')
    parser.add_argument('--show-interval', type=float, default=2,
                        help='the interval of show (s)')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file.')
    args = parser.parse_args(argv)
    if args.not_show and args.output_dir is None:
        parser.error('--not-show without --output-dir would draw nothing anyone sees: give '
                     '--output-dir')
    return args


def retrieve_data_cfg(config_path: str, skip_type, cfg_options) -> Config:
    """The config with ``skip_type`` steps removed from the train dataset's pipeline (that of
    the dataset inside wrappers)."""
    cfg = load_config(config_path, cfg_options)
    train_data_cfg = cfg.data.train
    while isinstance(train_data_cfg, dict) and train_data_cfg.get('type') in WRAPPERS \
            and 'dataset' in train_data_cfg:
        train_data_cfg = train_data_cfg['dataset']
    data_cfgs = train_data_cfg if isinstance(train_data_cfg, Sequence) else [train_data_cfg]
    for data_cfg in data_cfgs:
        data_cfg['pipeline'] = [step for step in data_cfg.pipeline if step['type'] not in skip_type]
    return cfg


def _array(value) -> np.ndarray:
    """A pipeline value as an array (a DataContainer or tensor when formatting is not skipped)."""
    value = getattr(value, 'data', value)
    return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = retrieve_data_cfg(args.config, args.skip_type, args.cfg_options)
    dataset = build_dataset(cfg.data.train)
    progress_bar = mmcv.ProgressBar(len(dataset))
    for item in dataset:
        img = _array(item['img'])
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'image of {item.get("filename")} has shape {img.shape} after the '
                             'pipeline, not (H, W, 3): skip the steps that turn it into a tensor '
                             '(--skip-type DefaultFormatBundle Normalize Collect)')
        filename = None
        if args.output_dir is not None:
            filename = os.path.join(args.output_dir, Path(item['filename']).name)
        imshow_det_bboxes(img, _array(item['gt_bboxes']), _array(item['gt_labels']),
                          class_names=dataset.CLASSES, show=not args.not_show,
                          wait_time=args.show_interval, out_file=filename,
                          bbox_color=dataset.PALETTE, text_color=(200, 200, 200),
                          mask_color=dataset.PALETTE)
        progress_bar.update()


if __name__ == '__main__':
    sys.exit(run_cli(main, 'browse_dataset.py'))
