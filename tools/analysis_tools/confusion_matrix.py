"""Confusion matrix of saved detection results against the test set (MMDetection 2.x's tool).

    python tools/analysis_tools/confusion_matrix.py CONFIG RESULTS.pkl SAVE_DIR [--show]
        [--color-theme plasma] [--score-thr 0.3] [--tp-iou-thr 0.5] [--nms-iou-thr 0.5]
        [--cfg-options KEY=VALUE ...]

Rows are ground-truth classes, columns predicted classes, each with a last ``background`` entry
((C + 1) x (C + 1) for C classes). Per image and predicted class, detections scoring at least
``--score-thr`` (after an optional per-class NMS at ``--nms-iou-thr``) are compared with every
ground-truth box: each box it overlaps with IoU >= ``--tp-iou-thr`` counts once in (its class,
predicted class); a detection overlapping none counts in (background, predicted class); a
ground-truth box no detection of its own class overlaps counts in (its class, background). The
figure shows each row in percent of its total (-1% for a row with no count) and is written to
``SAVE_DIR/confusion_matrix.png``. RESULTS.pkl is what ``tools/test.py --out`` writes.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/, for process_env
import process_env  # noqa: E402

process_env.apply()  # as tools/train.py does, before torch is imported

import mmdet_lite  # noqa: E402,F401  (before mmcv: installs mmdet_lite.compat)
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import MultipleLocator  # noqa: E402
from torchvision.ops import nms  # noqa: E402

from mmdet_lite.core.evaluation.bbox_overlaps import bbox_overlaps  # noqa: E402
from mmdet_lite.datasets import build_dataset  # noqa: E402
from mmdet_lite.utils.cli import (StrictDictAction, load_config, require_config_keys,  # noqa: E402
                                  run_cli)
from mmdet_lite.utils.results_file import check_results_length, load_results  # noqa: E402

DPI = 180
MIN_LABELS_FOR_SIZE = 12  # below this many labels MMDetection's 0.5 in per label is unreadable


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Generate confusion matrix from detection results')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('prediction_path', help='prediction path where test .pkl result')
    parser.add_argument('save_dir', help='directory where confusion matrix will be saved')
    parser.add_argument('--show', action='store_true', help='show confusion matrix')
    parser.add_argument('--color-theme', default='plasma', help='theme of the matrix color map')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='score threshold to filter detection bboxes')
    parser.add_argument('--tp-iou-thr', type=float, default=0.5,
                        help='IoU threshold to be considered as matched')
    parser.add_argument('--nms-iou-thr', type=float, default=None,
                        help='nms IoU threshold, only applied when users want to change the nms '
                             'IoU threshold.')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file.')
    return parser.parse_args(argv)


def _nms(det_bboxes: np.ndarray, score_thr: float, iou_thr: float) -> np.ndarray:
    """(n, 5) boxes+scores scoring above ``score_thr``, NMS at ``iou_thr``, by descending score
    (mmcv's ``nms(..., score_threshold=score_thr)``)."""
    det_bboxes = det_bboxes[det_bboxes[:, 4] > score_thr]
    boxes = torch.from_numpy(np.ascontiguousarray(det_bboxes[:, :4], dtype=np.float32))
    keep = nms(boxes, torch.from_numpy(np.ascontiguousarray(det_bboxes[:, 4], dtype=np.float32)),
               iou_thr)
    return det_bboxes[keep.numpy()]


def analyze_per_img_dets(confusion_matrix: np.ndarray, gt_bboxes: np.ndarray,
                         gt_labels: np.ndarray, result: Sequence[np.ndarray], score_thr: float = 0,
                         tp_iou_thr: float = 0.5, nms_iou_thr: Optional[float] = None) -> None:
    """Add one image to ``confusion_matrix`` ((C + 1, C + 1), in place).

    Args:
        gt_bboxes: (G, 4) x1y1x2y2; gt_labels: (G,) in [0, C).
        result: C arrays (n_c, 5) x1y1x2y2 + score, one per predicted class.
    """
    gt_labels = np.asarray(gt_labels, dtype=np.int64)
    true_positive = np.zeros(len(gt_labels), dtype=bool)
    for det_label, det_bboxes in enumerate(result):
        det_bboxes = np.asarray(det_bboxes, dtype=np.float32).reshape(-1, 5)
        if nms_iou_thr:
            det_bboxes = _nms(det_bboxes, score_thr, nms_iou_thr)
        det_bboxes = det_bboxes[det_bboxes[:, 4] >= score_thr]
        matched = bbox_overlaps(det_bboxes[:, :4], gt_bboxes) >= tp_iou_thr  # (D, G)
        np.add.at(confusion_matrix, (gt_labels, det_label), matched.sum(axis=0))
        confusion_matrix[-1, det_label] += np.count_nonzero(~matched.any(axis=1))
        true_positive |= matched.any(axis=0) & (gt_labels == det_label)
    np.add.at(confusion_matrix, (gt_labels[~true_positive], -1), 1)


def _bbox_results(results: list, path: str) -> List[Sequence[np.ndarray]]:
    """Per image, the per-class box arrays (the first part of (bbox, segm) results)."""
    if results and isinstance(results[0], tuple):
        return [result[0] for result in results]
    if results and not isinstance(results[0], list):
        raise TypeError(f'results file {path}: invalid type of prediction results: expected per '
                        f'image a list of per-class (n, 5) arrays, got {type(results[0]).__name__}')
    return results


def calculate_confusion_matrix(dataset, results: list, score_thr: float = 0,
                               nms_iou_thr: Optional[float] = None,
                               tp_iou_thr: float = 0.5) -> np.ndarray:
    """(C + 1, C + 1) counts over ``dataset`` (C classes), rows ground truth, columns predictions."""
    num_classes = len(dataset.CLASSES)
    confusion_matrix = np.zeros((num_classes + 1, num_classes + 1))
    prog_bar = mmcv.ProgressBar(len(results))
    for idx, result in enumerate(results):
        if len(result) != num_classes:
            raise ValueError(f'the results of image {idx} have {len(result)} classes, the dataset '
                             f'{num_classes} ({", ".join(dataset.CLASSES)})')
        ann = dataset.get_ann_info(idx)
        analyze_per_img_dets(confusion_matrix, ann['bboxes'], ann['labels'], result, score_thr,
                             tp_iou_thr, nms_iou_thr)
        prog_bar.update()
    print()
    return confusion_matrix


def row_percentages(confusion_matrix: np.ndarray) -> np.ndarray:
    """Each row in percent of its total; a row without counts is NaN."""
    with np.errstate(invalid='ignore', divide='ignore'):
        return confusion_matrix / confusion_matrix.sum(axis=1, keepdims=True) * 100


def figure_size(num_labels: int) -> tuple:
    """Inches: MMDetection's 0.5 x 0.4 per label, for at least ``MIN_LABELS_FOR_SIZE`` labels."""
    side = 0.5 * max(num_labels, MIN_LABELS_FOR_SIZE)
    return side, side * 0.8


def _text_colour(image, value: float) -> str:
    """Black on a light cell (or an empty row's blank one), white on a dark cell."""
    if np.isnan(value):
        return 'k'
    red, green, blue, _ = image.cmap(image.norm(value))
    return 'k' if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else 'w'


def plot_confusion_matrix(confusion_matrix: np.ndarray, labels: Sequence[str],
                          save_dir: Optional[str] = None, show: bool = True,
                          title: str = 'Normalized Confusion Matrix', color_theme: str = 'plasma'):
    """Draw the row-normalised matrix (percent, -1 for an empty row); save it as
    ``save_dir/confusion_matrix.png``. Returns the Figure."""
    percent = row_percentages(confusion_matrix)
    num_labels = len(labels)
    fig, ax = plt.subplots(figsize=figure_size(num_labels), dpi=DPI)
    image = ax.imshow(percent, cmap=plt.get_cmap(color_theme), vmin=0, vmax=100)
    fig.colorbar(mappable=image, ax=ax)
    ax.set_title(title, fontdict={'weight': 'bold', 'size': 12})
    ax.set_ylabel('Ground Truth Label', fontdict={'size': 10})
    ax.set_xlabel('Prediction Label', fontdict={'size': 10})
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MultipleLocator(1))
        axis.set_minor_locator(MultipleLocator(0.5))
    ax.grid(True, which='minor', linestyle='-')
    ax.tick_params(which='minor', length=0)  # the minor locator only places the grid lines
    ax.set_xticks(np.arange(num_labels))
    ax.set_yticks(np.arange(num_labels))
    ax.set_xticklabels(labels)
    ax.set_yticklabels(labels)
    ax.tick_params(axis='x', bottom=False, top=True, labelbottom=False, labeltop=True)
    ax.xaxis.set_label_position('top')
    plt.setp(ax.get_xticklabels(), rotation=45, ha='left', rotation_mode='anchor')
    for i in range(num_labels):
        for j in range(num_labels):
            value = -1 if np.isnan(percent[i, j]) else int(percent[i, j])
            ax.text(j, i, f'{value}%', ha='center', va='center', size=7,
                    color=_text_colour(image, percent[i, j]))
    ax.set_ylim(num_labels - 0.5, -0.5)
    fig.tight_layout()
    if save_dir is not None:
        fig.savefig(osp.join(save_dir, 'confusion_matrix.png'), format='png')
    if show:
        plt.show()
    return fig


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.show:
        plt.switch_backend('Agg')
    if args.color_theme not in plt.colormaps():
        raise ValueError(f'--color-theme {args.color_theme} is not a matplotlib colormap '
                         '(e.g. plasma, viridis, Blues)')
    cfg = load_config(args.config, args.cfg_options)
    require_config_keys(cfg, args.config, 'data.test')
    results = _bbox_results(load_results(args.prediction_path), args.prediction_path)
    if osp.exists(args.save_dir) and not osp.isdir(args.save_dir):
        raise NotADirectoryError(f'save_dir {args.save_dir} exists and is not a directory')
    cfg.data.test.test_mode = True
    cfg.data.test.pop('samples_per_gpu', None)
    dataset = build_dataset(cfg.data.test)
    check_results_length(results, dataset, args.prediction_path, args.config)
    confusion_matrix = calculate_confusion_matrix(dataset, results, args.score_thr,
                                                  args.nms_iou_thr, args.tp_iou_thr)
    os.makedirs(args.save_dir, exist_ok=True)
    fig = plot_confusion_matrix(confusion_matrix, tuple(dataset.CLASSES) + ('background', ),
                                save_dir=args.save_dir, show=args.show,
                                color_theme=args.color_theme)
    plt.close(fig)
    print(f'confusion matrix saved to {osp.join(args.save_dir, "confusion_matrix.png")}')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'confusion_matrix.py'))
