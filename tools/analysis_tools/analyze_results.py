"""Find the test images a detector does best and worst on: MMDetection 2.x's
``tools/analysis_tools/analyze_results.py``.

    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/analysis_tools/analyze_results.py CONFIG results.pkl SHOW_DIR [--topk 20]

Each image of ``data.test`` gets its own bbox mAP (``eval_map`` on that image alone, averaged over
IoU thresholds 0.50:0.05:0.95). The ``--topk`` highest go to ``SHOW_DIR/good``, the ``--topk``
lowest to ``SHOW_DIR/bad``, each as ``<name>_<mAP>.<ext>`` with the ground truth and the
detections above ``--show-score-thr`` drawn in the dataset's class colours: ground truth above,
detections below, or both on one image with ``--overlay-gt-pred``.
"""
import argparse
import os.path as osp
import sys
from typing import Callable, List, Optional, Tuple

import mmdet_lite  # noqa: F401  (before mmcv: installs mmdet_lite.compat)
import mmcv
import numpy as np

from mmdet_lite.core.evaluation import eval_map
from mmdet_lite.core.visualization import imshow_gt_det_bboxes
from mmdet_lite.datasets import build_dataset, get_loading_pipeline
from mmdet_lite.utils.cli import StrictDictAction, load_config, run_cli

IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
WRAPPERS = ('MultiImageMixDataset', 'ClassBalancedDataset', 'RepeatDataset', 'ConcatDataset')


def bbox_map_eval(det_result, annotation: dict) -> float:
    """mAP of one image's detections (per class (n, 5) arrays, or a (boxes, masks) tuple)
    against its annotation (``bboxes``, ``labels``, ...), averaged over ``IOU_THRS``."""
    bbox_det_result = [det_result[0] if isinstance(det_result, tuple) else det_result]
    mean_aps = [eval_map(bbox_det_result, [annotation], iou_thr=thr, logger='silent', nproc=1)[0]
                for thr in IOU_THRS]
    return sum(mean_aps) / len(mean_aps)


class ResultVisualizer:
    """Ranks images by their own mAP and draws the best and the worst.

    Args:
        show: show each drawn image in a window; wait_time: seconds it stays (0 blocks).
        score_thr: minimum score of a drawn detection.
        overlay_gt_pred: detections drawn over the ground truth instead of below it.
    """

    def __init__(self, show: bool = False, wait_time: float = 0, score_thr: float = 0,
                 overlay_gt_pred: bool = False) -> None:
        self.show = show
        self.wait_time = wait_time
        self.score_thr = score_thr
        self.overlay_gt_pred = overlay_gt_pred

    def _save_image_gts_results(self, dataset, results: list,
                                performances: List[Tuple[int, float]], out_dir: str) -> None:
        mmcv.mkdir_or_exist(out_dir)
        for index, performance in performances:
            data_info = dataset.prepare_train_img(index)
            stem, ext = osp.splitext(osp.basename(data_info['filename']))
            out_file = osp.join(out_dir, f'{stem}_{round(performance, 3)}{ext}')
            imshow_gt_det_bboxes(data_info['img'], data_info, results[index], dataset.CLASSES,
                                 gt_bbox_color=dataset.PALETTE, gt_text_color=(200, 200, 200),
                                 gt_mask_color=dataset.PALETTE, det_bbox_color=dataset.PALETTE,
                                 det_text_color=(200, 200, 200), det_mask_color=dataset.PALETTE,
                                 show=self.show, score_thr=self.score_thr,
                                 wait_time=self.wait_time, out_file=out_file,
                                 overlay_gt_pred=self.overlay_gt_pred)

    def evaluate_and_show(self, dataset, results: list, topk: int = 20,
                          show_dir: str = 'work_dir') -> None:
        """Write the ``topk`` best images to ``show_dir/good`` and the ``topk`` worst to
        ``show_dir/bad`` (``topk`` is cut to half the dataset when larger)."""
        if topk <= 0:
            raise ValueError(f'--topk must be positive, got {topk}')
        if len(results) != len(dataset):
            raise ValueError(f'the prediction file holds {len(results)} results but data.test '
                             f'holds {len(dataset)} images: were they made with this config?')
        if not isinstance(results[0], (list, tuple)):
            raise TypeError(f'expected per-image detection results (lists of per-class arrays), '
                            f'got {type(results[0]).__name__}')
        if topk * 2 > len(dataset):
            topk = max(len(dataset) // 2, 1)
        good_samples, bad_samples = self.detection_evaluate(dataset, results, topk=topk)
        self._save_image_gts_results(dataset, results, good_samples,
                                     osp.abspath(osp.join(show_dir, 'good')))
        self._save_image_gts_results(dataset, results, bad_samples,
                                     osp.abspath(osp.join(show_dir, 'bad')))

    def detection_evaluate(self, dataset, results: list, topk: int = 20,
                           eval_fn: Optional[Callable] = None):
        """Per-image mAP; the ``topk`` best (ascending) and worst (ascending) as
        (index, mAP) pairs."""
        eval_fn = eval_fn or bbox_map_eval
        prog_bar = mmcv.ProgressBar(len(results))
        maps = {}
        for i, result in enumerate(results):
            maps[i] = eval_fn(result, dataset.get_ann_info(i))
            prog_bar.update()
        ranked = sorted(maps.items(), key=lambda item: item[1])
        return ranked[max(len(ranked) - topk, 0):], ranked[:topk]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='MMDet eval image prediction result for each')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('prediction_path', help='prediction path where test pkl result')
    parser.add_argument('show_dir', help='directory where painted images will be saved')
    parser.add_argument('--show', action='store_true', help='show results')
    parser.add_argument('--wait-time', type=float, default=0,
                        help='the interval of show (s), 0 is block')
    parser.add_argument('--topk', default=20, type=int,
                        help='saved Number of the highest topk and lowest topk after index '
                             'sorting')
    parser.add_argument('--show-score-thr', type=float, default=0,
                        help='score threshold (default: 0.)')
    parser.add_argument('--overlay-gt-pred', action='store_true',
                        help='whether to plot gts and predictions on the same image. If False, '
                             'predictions and gts will be plotted on two same image which will '
                             'be concatenated in vertical direction. The image above is drawn '
                             'with gt, and the image below is drawn with the prediction result.')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file.')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    if not osp.isfile(args.prediction_path):
        raise FileNotFoundError(f'prediction file {args.prediction_path} does not exist')
    cfg.data.test.test_mode = True
    cfg.data.test.pop('samples_per_gpu', 0)
    train_cfg = cfg.data.train
    train_pipeline = (train_cfg.dataset.pipeline if train_cfg.type in WRAPPERS
                      else train_cfg.pipeline)
    cfg.data.test.pipeline = get_loading_pipeline(train_pipeline)
    dataset = build_dataset(cfg.data.test)
    outputs = mmcv.load(args.prediction_path)
    result_visualizer = ResultVisualizer(args.show, args.wait_time, args.show_score_thr,
                                         args.overlay_gt_pred)
    result_visualizer.evaluate_and_show(dataset, outputs, topk=args.topk,
                                        show_dir=args.show_dir)


if __name__ == '__main__':
    sys.exit(run_cli(main, 'analyze_results.py'))
