"""Evaluation helpers with 2.28's signatures: use_legacy_coordinate (+1 widths), tpfp_fn, ioa_thr, nproc."""
import numpy as np
import pytest

from mmdet_lite.core.evaluation import bbox_overlaps, eval_map, eval_recalls
from mmdet_lite.core.evaluation.mean_ap import tpfp_default

# IoU 2/6 with w = x2 - x1; with the legacy +1 it is (2 * 3) / (9 + 9 - 6) = 0.5
DET = np.array([[0, 0, 2, 2, 0.9]], np.float32)
GT = np.array([[1, 0, 3, 2]], np.float32)


def test_bbox_overlaps_legacy_coordinate_adds_one_to_widths_and_heights():
    a = np.array([[0, 0, 9, 9]], np.float32)
    b = np.array([[5, 5, 14, 14]], np.float32)
    # areas 81, overlap 4 * 4 = 16; legacy: areas 100, overlap 5 * 5 = 25
    assert bbox_overlaps(a, b)[0, 0] == pytest.approx(16 / 146)
    assert bbox_overlaps(a, b, use_legacy_coordinate=True)[0, 0] == pytest.approx(25 / 175)
    assert bbox_overlaps(a, b, mode='iof', use_legacy_coordinate=True)[0, 0] == pytest.approx(25 / 100)


def test_tpfp_default_legacy_coordinate_changes_matches_and_area_ranges():
    assert tpfp_default(DET, GT, iou_thr=0.5)[0].tolist() == [[0.]]
    assert tpfp_default(DET, GT, None, 0.5, None, True)[0].tolist() == [[1.]]
    # without GT a detection is a FP only inside the area range: area 9 < 10, legacy 16 >= 10
    det = np.array([[0, 0, 3, 3, 0.5]], np.float32)
    no_gt = np.zeros((0, 4), np.float32)
    assert tpfp_default(det, no_gt, area_ranges=[(0, 10)])[1].tolist() == [[1.]]
    assert tpfp_default(det, no_gt, area_ranges=[(0, 10)], use_legacy_coordinate=True)[1].tolist() == [[0.]]


def test_eval_map_and_eval_recalls_pass_legacy_coordinate_through():
    annotations = [dict(bboxes=GT, labels=np.array([0]))]
    assert eval_map([[DET]], annotations, logger='silent')[0] == 0.
    assert eval_map([[DET]], annotations, logger='silent', use_legacy_coordinate=True)[0] == 1.
    assert eval_recalls([GT], [DET], iou_thrs=0.5, logger='silent').tolist() == [[0.]]
    assert eval_recalls([GT], [DET], iou_thrs=0.5, logger='silent', use_legacy_coordinate=True).tolist() == [[1.]]


def test_eval_map_scale_ranges_count_gts_by_legacy_area():
    # a 3 x 3 GT (legacy 4 x 4) against the area range [0, 3.5 ** 2 = 12.25)
    annotations = [dict(bboxes=np.array([[0, 0, 3, 3]], np.float32), labels=np.array([0]))]
    dets = [[np.zeros((0, 5), np.float32)]]
    _, (res, ) = eval_map(dets, annotations, scale_ranges=[(0, 3.5)], logger='silent')
    _, (legacy, ) = eval_map(dets, annotations, scale_ranges=[(0, 3.5)], logger='silent', use_legacy_coordinate=True)
    assert res['num_gts'].tolist() == [1] and legacy['num_gts'].tolist() == [0]


def test_eval_map_gives_tpfp_fn_its_2_28_arguments_and_checks_them():
    calls = []

    def tpfp_fn(dets, gts, gts_ignore, iou_thr, area_ranges, use_legacy_coordinate, ioa_thr):
        calls.append((iou_thr, area_ranges, use_legacy_coordinate, ioa_thr))
        return tpfp_default(dets, gts, gts_ignore, iou_thr, area_ranges, use_legacy_coordinate)

    annotations = [dict(bboxes=GT, labels=np.array([0]))]
    eval_map([[DET]], annotations, iou_thr=0.4, ioa_thr=0.6, tpfp_fn=tpfp_fn, use_legacy_coordinate=True,
             logger='silent')
    assert calls == [(0.4, None, True, 0.6)]
    with pytest.raises(ValueError, match='tpfp_fn has to be a function or None, but got 3'):
        eval_map([[DET]], annotations, tpfp_fn=3, logger='silent')
    with pytest.raises(ValueError, match="dataset='det'"):
        eval_map([[DET]], annotations, dataset='det', logger='silent')
    with pytest.raises(ValueError, match='nproc must be at least one, got 0'):
        eval_map([[DET]], annotations, nproc=0, logger='silent')


def test_eval_hooks_are_exported_from_core_as_in_2_x():
    import mmdet_lite.core as core
    from mmdet_lite.core import evaluation
    from mmdet_lite.core.bbox import bbox_overlaps as tensor_bbox_overlaps
    assert core.EvalHook is evaluation.EvalHook and core.DistEvalHook is evaluation.DistEvalHook
    assert core.bbox_overlaps is tensor_bbox_overlaps
