"""Evaluation helpers with 2.28's signatures: use_legacy_coordinate (+1 widths), tpfp_fn, ioa_thr, nproc."""
import numpy as np
import pytest

from mmdet_lite.core.evaluation import bbox_overlaps, eval_map, eval_recalls
from mmdet_lite.core.evaluation.mean_ap import tpfp_default, tpfp_openimages

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


# One class, 3 GTs; detections by score: TP, FP, TP, FP (the third GT is never found).
# recall 1/3, 1/3, 2/3, 2/3; precision 1, 1/2, 2/3, 1/2.
PR_RECALLS = np.array([1 / 3, 1 / 3, 2 / 3, 2 / 3])
PR_PRECISIONS = np.array([1, 1 / 2, 2 / 3, 1 / 2])
# area under the precision envelope: 1/3 * 1 + 1/3 * 2/3 = 5/9
AREA_AP = 5 / 9
# best precision at recall >= 0, .1, .2, .3: 1 (four points); at .4, .5, .6: 2/3; above: 0
ELEVEN_POINT_AP = (4 * 1 + 3 * 2 / 3) / 11


def test_average_precision_of_a_hand_computed_pr_curve():
    from mmdet_lite.core.evaluation import average_precision
    assert average_precision(PR_RECALLS, PR_PRECISIONS, 'area') == pytest.approx(AREA_AP)
    assert average_precision(PR_RECALLS, PR_PRECISIONS, '11points') == pytest.approx(ELEVEN_POINT_AP)
    # (S, D) input: one AP per scale range
    two = average_precision(np.stack([PR_RECALLS] * 2), np.stack([PR_PRECISIONS] * 2), '11points')
    assert two == pytest.approx([ELEVEN_POINT_AP] * 2)


def _pr_curve_case():
    """Boxes giving the PR curve above: GTs at x = 0, 20, 40; TPs on the first two, FPs far away."""
    gts = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], np.float32)
    dets = np.array([[0, 0, 10, 10, 0.9], [60, 60, 70, 70, 0.8], [20, 0, 30, 10, 0.7],
                     [80, 80, 90, 90, 0.6]], np.float32)
    return [[dets]], [dict(bboxes=gts, labels=np.zeros(3, np.int64))]


@pytest.mark.parametrize('kwargs, expected', [
    (dict(), AREA_AP),
    (dict(eval_mode='area'), AREA_AP),
    (dict(eval_mode='11points'), ELEVEN_POINT_AP),
    (dict(dataset='voc07'), ELEVEN_POINT_AP),  # 2.28's way to ask for VOC2007's AP
    (dict(dataset='voc07', eval_mode='area'), AREA_AP),
])
def test_eval_map_ap_mode(kwargs, expected):
    results, annotations = _pr_curve_case()
    mean_ap, (per_class, ) = eval_map(results, annotations, logger='silent', **kwargs)
    assert mean_ap == pytest.approx(expected)
    assert per_class['recall'] == pytest.approx(PR_RECALLS)
    assert per_class['precision'] == pytest.approx(PR_PRECISIONS)


def test_eval_map_rejects_an_unknown_eval_mode():
    results, annotations = _pr_curve_case()
    with pytest.raises(ValueError, match="eval_mode must be 'area' or '11points', got 'voc'"):
        eval_map(results, annotations, eval_mode='voc', logger='silent')


def test_map_summary_names_the_classes_of_a_dataset_name(capsys):
    from mmdet_lite.core.evaluation import get_classes
    results, annotations = _pr_curve_case()
    eval_map([results[0] * 20], [annotations[0]], dataset='voc07')
    out = capsys.readouterr().out
    assert 'aeroplane' in out and 'tvmonitor' in out
    assert get_classes('WIDERFace') == ['face'] and len(get_classes('cityscapes')) == 8
    with pytest.raises(ValueError, match="Unrecognized dataset: 'kitti'"):
        get_classes('kitti')


def test_eval_recalls_of_hand_counted_proposals():
    # 2 images, 3 GTs; the top proposal of image 0 hits GT 0, its second GT 1; image 1's misses
    gts = [np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32), np.array([[0, 0, 10, 10]], np.float32)]
    proposals = [np.array([[0, 0, 10, 10, 0.9], [20, 0, 30, 10, 0.8]], np.float32),
                 np.array([[0, 0, 10, 4, 0.9]], np.float32)]  # IoU 0.4 with image 1's GT
    recalls = eval_recalls(gts, proposals, proposal_nums=[1, 2], iou_thrs=[0.3, 0.5], logger='silent')
    assert recalls == pytest.approx(np.array([[2 / 3, 1 / 3], [1, 2 / 3]]))


def test_group_of_box_counts_once_and_takes_the_best_detection_inside_it():
    """GTs: a box A and a group-of box G. Detections: .9 on A (TP); .8 and .7 inside G (IoA 1,
    IoU < .5): one TP at .8 for G; .85 elsewhere (FP). Ranked .9 TP, .85 FP, .8 TP: recall
    1/2, 1/2, 1 at precision 1, 1/2, 2/3 -> AP = 1/2 * 1 + 1/2 * 2/3."""
    dets = np.array([[0, 0, 10, 10, .9], [22, 2, 32, 12, .8], [40, 20, 50, 30, .7],
                     [70, 70, 80, 80, .85]], np.float32)
    gts = np.array([[0, 0, 10, 10], [20, 0, 60, 40]], np.float32)
    group_of = np.array([False, True])
    tp, fp, scored = tpfp_openimages(dets, gts, np.zeros((0, 4), np.float32),
                                     gt_bboxes_group_of=group_of, ioa_thr=0.5)
    np.testing.assert_array_equal(scored[:, -1], np.float32([.9, .85, .8]))
    np.testing.assert_array_equal(tp, [[1, 0, 1]])
    np.testing.assert_array_equal(fp, [[0, 1, 0]])
    annotations = [dict(bboxes=gts, labels=np.array([0, 0]), gt_is_group_ofs=group_of)]
    mean_ap, [result] = eval_map([[dets]], annotations, ioa_thr=0.5, use_group_of=True,
                                 logger='silent')
    assert mean_ap == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert result['num_gts'] == 2 and result['num_dets'] == 3
    # an empty group (no detection inside) is a FP of score 0; IoA below ioa_thr does not count
    tp, fp, scored = tpfp_openimages(dets[:1], gts, None, gt_bboxes_group_of=group_of,
                                     ioa_thr=0.5)
    np.testing.assert_array_equal(np.vstack([tp, fp, scored[:, -1:].T]),
                                  [[1, 0], [0, 1], np.float32([.9, 0])])
    assert eval_map([[dets]], annotations, ioa_thr=1.01, use_group_of=True,
                    logger='silent')[0] == pytest.approx(1 / 2 * 1)  # .9 TP then FPs: 1/2
