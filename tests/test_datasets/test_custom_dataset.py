"""CustomDataset (middle format) and its VOC-style evaluation (eval_map, eval_recalls)."""
import mmcv
import numpy as np
import pytest

from mmdet_lite.core.evaluation import average_precision, bbox_overlaps, eval_map
from mmdet_lite.core.evaluation.mean_ap import tpfp_default
from mmdet_lite.datasets import CustomDataset


def test_average_precision_area_and_11points_hand_computed():
    recalls, precisions = np.array([0.5, 1.0]), np.array([1.0, 0.5])
    # envelope: precision 1 up to recall .5, then .5 -> .5 * 1 + .5 * .5
    assert average_precision(recalls, precisions, 'area') == pytest.approx(0.75)
    # recall thresholds 0..0.5 (6 points) reach precision 1, 0.6..1.0 (5 points) only .5
    assert average_precision(recalls, precisions, '11points') == pytest.approx(8.5 / 11)
    both = average_precision(np.stack([recalls] * 2), np.stack([precisions] * 2))
    np.testing.assert_allclose(both, [0.75, 0.75])


def naive_tpfp(dets, gts, gts_ignore, iou_thr, area_ranges):
    """MMDetection's per-detection loop, as the oracle."""
    all_gts = np.vstack([gts, gts_ignore])
    ignore = np.r_[np.zeros(len(gts), bool), np.ones(len(gts_ignore), bool)]
    ious = bbox_overlaps(dets[:, :4], all_gts)
    tp = np.zeros((len(area_ranges), len(dets)), np.float32)
    fp = np.zeros_like(tp)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    for k, (lo, hi) in enumerate(area_ranges):
        covered = np.zeros(len(all_gts), bool)
        gt_out = np.zeros(len(all_gts), bool) if lo is None else \
            (area(all_gts) < lo) | (area(all_gts) >= hi)
        for i in np.argsort(-dets[:, 4], kind='stable'):
            if ious[i].max() >= iou_thr:
                g = ious[i].argmax()
                if not (ignore[g] or gt_out[g]):
                    if not covered[g]:
                        covered[g], tp[k, i] = True, 1
                    else:
                        fp[k, i] = 1
            elif lo is None or lo <= area(dets[i]) < hi:
                fp[k, i] = 1
    return tp, fp


def random_boxes(rng, n, scale=100):
    xy = rng.uniform(0, scale, size=(n, 2))
    wh = rng.uniform(5, 40, size=(n, 2))
    return np.hstack([xy, xy + wh]).astype(np.float32)


@pytest.mark.parametrize('seed', range(5))
def test_tpfp_default_matches_the_greedy_loop(seed):
    rng = np.random.default_rng(seed)
    gts, gts_ignore = random_boxes(rng, 6), random_boxes(rng, 2)
    # detections: jittered copies of GT (some duplicated) and random boxes
    near = np.repeat(gts, 2, axis=0) + rng.normal(0, 3, size=(12, 4)).astype(np.float32)
    dets = np.vstack([near, random_boxes(rng, 8)])
    dets = np.hstack([dets, rng.uniform(size=(len(dets), 1)).astype(np.float32)])
    ranges = [(None, None), (0, 32**2), (32**2, 1e10)]
    tp, fp = tpfp_default(dets, gts, gts_ignore, 0.5, ranges)
    ref_tp, ref_fp = naive_tpfp(dets, gts, gts_ignore, 0.5, ranges)
    np.testing.assert_array_equal(tp, ref_tp)
    np.testing.assert_array_equal(fp, ref_fp)
    assert tp[0].sum() > 0


def test_eval_map_duplicate_detection_hand_computed():
    gts = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    dets = np.array([[0, 0, 10, 10, 0.9], [0, 0, 10, 10, 0.8], [20, 20, 30, 30, 0.7]],
                    np.float32)
    annotations = [dict(bboxes=gts, labels=np.array([0, 0]))]
    mean_ap, per_class = eval_map([[dets, np.zeros((0, 5), np.float32)]], annotations,
                                  logger='silent')
    # TP, FP (duplicate), TP: recall .5 .5 1, precision 1 .5 .667 -> .5 * 1 + .5 * 2/3
    assert per_class[0]['ap'] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert per_class[1]['num_gts'] == 0 and mean_ap == pytest.approx(0.5 + 0.5 * 2 / 3)
    np.testing.assert_allclose(per_class[0]['precision'], [1, 0.5, 2 / 3])


def write_middle_format(tmp_path):
    infos = [
        dict(filename='a.jpg', width=80, height=64,
             ann=dict(bboxes=np.array([[10, 8, 30, 38]], np.float32), labels=np.array([0]))),
        dict(filename='b.jpg', width=64, height=80,
             ann=dict(bboxes=np.array([[5, 5, 45, 45], [50, 50, 60, 70]], np.float32),
                      labels=np.array([1, 0]))),
        dict(filename='c.jpg', width=20, height=80,
             ann=dict(bboxes=np.zeros((0, 4), np.float32), labels=np.zeros(0, np.int64))),
    ]
    mmcv.dump(infos, str(tmp_path / 'ann.pkl'))
    (tmp_path / 'imgs').mkdir()
    return infos


def test_custom_dataset_loads_filters_and_flags(tmp_path):
    write_middle_format(tmp_path)
    with pytest.warns(UserWarning, match='does not support filtering empty gt'):
        dataset = CustomDataset('ann.pkl', [], classes=('x', 'y'), data_root=str(tmp_path),
                                img_prefix='imgs')
    assert len(dataset) == 2  # c.jpg is narrower than 32 px
    np.testing.assert_array_equal(dataset.flag, [1, 0])
    assert dataset.get_cat_ids(1) == [1, 0] and dataset.img_prefix == str(tmp_path / 'imgs')


def test_custom_dataset_evaluate_map_and_recall(tmp_path):
    infos = write_middle_format(tmp_path)
    dataset = CustomDataset(str(tmp_path / 'ann.pkl'), [], classes=('x', 'y'), test_mode=True)
    perfect = []
    for info in infos:
        ann = info['ann']
        dets = np.hstack([ann['bboxes'], np.ones((len(ann['bboxes']), 1), np.float32)])
        perfect.append([dets[ann['labels'] == c] for c in range(2)])
    metrics = dataset.evaluate(perfect, iou_thr=[0.5, 0.75])
    assert metrics == {'AP50': 1.0, 'AP75': 1.0, 'mAP': 1.0}
    perfect[1][1] = np.zeros((0, 5), np.float32)  # miss class y entirely
    assert dataset.evaluate(perfect)['mAP'] == pytest.approx(0.5)
    proposals = [np.vstack(r) for r in perfect]
    recall = dataset.evaluate(proposals, metric='recall', proposal_nums=(1, 10))
    assert recall['recall@1@0.5'] == pytest.approx(2 / 3)  # a.jpg 1/1, b.jpg 1 of 2
    assert recall['recall@10@0.5'] == pytest.approx(2 / 3)
    with pytest.raises(KeyError, match='allowed metrics are mAP, recall'):
        dataset.evaluate(perfect, metric='bbox')


def test_middle_format_json_syntax_error_names_file_line_and_column(tmp_path):
    ann = tmp_path / 'ann.json'
    ann.write_text('[{"filename": "a.jpg", "width": 80}\n {"filename": "b.jpg"}]')
    with pytest.raises(ValueError, match=f"^{ann} is not valid JSON: Expecting ',' delimiter at "
                                         'line 2, column 2$'):
        CustomDataset(str(ann), [], classes=('x',))


def test_custom_dataset_without_images_is_built_empty_with_a_warning(tmp_path):
    mmcv.dump([], str(tmp_path / 'none.pkl'))
    with pytest.warns(UserWarning, match=r"none\.pkl' holds no image$"):
        dataset = CustomDataset(str(tmp_path / 'none.pkl'), [], classes=('x', ), test_mode=True)
    assert len(dataset) == 0 and dataset.data_infos == []
