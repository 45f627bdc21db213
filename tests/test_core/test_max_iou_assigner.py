import pytest
import torch

from mmdet_lite.core.bbox import AssignResult, MaxIoUAssigner, bbox_overlaps, build_assigner

BOXES = torch.tensor([[0., 0., 10., 10.], [10., 10., 20., 20.], [5., 5., 15., 15.],
                      [32., 32., 38., 42.]])
GTS = torch.tensor([[0., 0., 10., 9.], [0., 10., 10., 19.]])
LABELS = torch.tensor([2, 3])


def naive_assign(overlaps, pos_thr, neg_thr, min_pos_iou, match_low_quality, gt_max_assign_all):
    """Reference: MMDetection's per-box / per-GT procedure written as plain loops."""
    num_gts, num_boxes = overlaps.shape
    result = [-1] * num_boxes
    for j in range(num_boxes):
        column = overlaps[:, j].tolist()
        best = max(column)
        if 0 <= best < neg_thr:
            result[j] = 0
        if best >= pos_thr:
            result[j] = column.index(best) + 1
    if match_low_quality:
        for i in range(num_gts):
            row = overlaps[i].tolist()
            best = max(row)
            if best < min_pos_iou:
                continue
            if gt_max_assign_all:
                for j in range(num_boxes):
                    if row[j] == best:
                        result[j] = i + 1
            else:
                result[row.index(best)] = i + 1
    return result


def test_hand_made_boxes_with_low_quality_match():
    assigner = build_assigner(dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5))
    result = assigner.assign(BOXES, GTS, gt_labels=LABELS)
    # box0 IoU 0.9 with gt0; box2 is gt1's best box (IoU 25/165) -> low-quality positive
    assert result.gt_inds.tolist() == [1, 0, 2, 0]
    assert result.labels.tolist() == [2, -1, 3, -1]
    torch.testing.assert_close(result.max_overlaps, torch.tensor([0.9, 0., 25 / 165, 0.]))
    assert result.num_gts == 2 and result.num_preds == 4


def test_without_low_quality_or_above_min_pos_iou():
    no_lq = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, match_low_quality=False)
    assert no_lq.assign(BOXES, GTS).gt_inds.tolist() == [1, 0, 0, 0]
    strict = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.3)
    assert strict.assign(BOXES, GTS).gt_inds.tolist() == [1, 0, 0, 0]
    assert no_lq.assign(BOXES, GTS).labels is None


def test_neg_iou_range_leaves_others_ignored():
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=(0.1, 0.5), match_low_quality=False)
    # max IoUs 0.9, 0, 0.15, 0 -> only box2 falls into [0.1, 0.5)
    assert assigner.assign(BOXES, GTS).gt_inds.tolist() == [1, -1, 0, -1]


def test_ignore_regions_by_iof():
    ignore = torch.tensor([[30., 30., 40., 40.]])
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=0.5)
    # box3 overlaps the ignore box by 48 = 80% of its own area
    assert assigner.assign(BOXES, GTS, gt_bboxes_ignore=ignore).gt_inds.tolist() == [1, 0, 2, -1]
    wrt_ignore = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=0.5,
                                ignore_wrt_candidates=False)
    # 48 is only 48% of the ignore box
    assert wrt_ignore.assign(BOXES, GTS, gt_bboxes_ignore=ignore).gt_inds.tolist() == [1, 0, 2, 0]
    disabled = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5)
    assert disabled.assign(BOXES, GTS, gt_bboxes_ignore=ignore).gt_inds.tolist() == [1, 0, 2, 0]


def test_later_gt_overwrites_tied_low_quality_matches():
    boxes = torch.tensor([[0., 0., 10., 10.], [20., 0., 30., 10.]])
    # both GTs have the same best box (box0, IoU 1/3 each); gt1 comes last and wins
    gts = torch.tensor([[-5., 0., 5., 10.], [5., 0., 15., 10.]])
    assigner = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=0.1)
    result = assigner.assign(boxes, gts)
    # box1 touches nothing (IoU 0) -> negative
    assert result.gt_inds.tolist()[0] == 2
    assert result.gt_inds.tolist()[1] == 0


@pytest.mark.parametrize('gt_max_assign_all', [True, False])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_vectorised_assignment_matches_naive_loop(gt_max_assign_all, seed):
    gen = torch.Generator().manual_seed(seed)
    xy = (torch.rand(40, 2, generator=gen) * 40).round()
    boxes = torch.cat([xy, xy + (torch.rand(40, 2, generator=gen) * 20 + 1).round()], 1)
    xy = (torch.rand(6, 2, generator=gen) * 40).round()
    gts = torch.cat([xy, xy + (torch.rand(6, 2, generator=gen) * 20 + 1).round()], 1)
    gts = torch.cat([gts, gts[:1]])  # duplicated GT forces ties between GTs
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.3, min_pos_iou=0.1,
                              gt_max_assign_all=gt_max_assign_all)
    expected = naive_assign(bbox_overlaps(gts, boxes), 0.5, 0.3, 0.1, True, gt_max_assign_all)
    assert assigner.assign(boxes, gts).gt_inds.tolist() == expected


def test_empty_gt_marks_all_boxes_negative():
    assigner = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=0.3)
    result = assigner.assign(BOXES, torch.zeros(0, 4), gt_labels=torch.zeros(0, dtype=torch.long))
    assert result.gt_inds.tolist() == [0, 0, 0, 0]
    assert result.labels.tolist() == [-1, -1, -1, -1]
    assert result.max_overlaps.tolist() == [0., 0., 0., 0.]
    assert assigner.assign(BOXES, torch.zeros(0, 4)).labels is None


def test_empty_boxes_and_both_empty():
    assigner = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=0.3)
    no_boxes = assigner.assign(torch.zeros(0, 4), GTS, gt_labels=LABELS)
    assert no_boxes.gt_inds.shape == (0, ) and no_boxes.labels.shape == (0, )
    assert no_boxes.num_gts == 2
    both = assigner.assign(torch.zeros(0, 4), torch.zeros(0, 4))
    assert both.gt_inds.shape == (0, ) and both.max_overlaps.shape == (0, ) and both.num_gts == 0


def test_cpu_fallback_gives_same_result_and_scores_are_ignored():
    on_cpu = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, gpu_assign_thr=1)
    boxes_with_scores = torch.cat([BOXES, torch.rand(4, 1)], dim=1)
    result = on_cpu.assign(boxes_with_scores, GTS, gt_labels=LABELS)
    assert result.gt_inds.tolist() == [1, 0, 2, 0]
    assert result.labels.tolist() == [2, -1, 3, -1]


def test_degenerate_gt_does_not_produce_nan():
    gts = torch.tensor([[5., 5., 5., 5.]])
    result = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.1).assign(BOXES, gts)
    assert torch.isfinite(result.max_overlaps).all()
    assert result.gt_inds.tolist() == [0, 0, 0, 0]


def test_assign_result_add_gt_prepends_self_assignments():
    result = AssignResult(2, torch.tensor([0, 2, -1]), torch.tensor([0.1, 0.8, 0.]),
                          labels=torch.tensor([-1, 5, -1]))
    result.add_gt_(torch.tensor([4, 5]))
    assert result.gt_inds.tolist() == [1, 2, 0, 2, -1]
    assert result.labels.tolist() == [4, 5, -1, 5, -1]
    torch.testing.assert_close(result.max_overlaps, torch.tensor([1., 1., 0.1, 0.8, 0.]))
    assert result.num_preds == 5
    result.set_extra_property('foo', 3)
    assert result.get_extra_property('foo') == 3 and result.info['foo'] == 3
    assert 'num_gts=2' in repr(result)


def _random_boxes(gen, num, size=40):
    xy = (torch.rand(num, 2, generator=gen) * size).round()
    return torch.cat([xy, xy + (torch.rand(num, 2, generator=gen) * 20).round()], 1)  # some zero-size


def _pad(boxes_list):
    num_max = max(len(boxes) for boxes in boxes_list)
    padded = torch.zeros(len(boxes_list), num_max, 4)
    valid = torch.zeros(len(boxes_list), num_max, dtype=torch.bool)
    for i, boxes in enumerate(boxes_list):
        padded[i, :len(boxes)], valid[i, :len(boxes)] = boxes, True
    return padded, valid


BATCH_CASES = [  # (assigner kwargs, gts per image, ignore regions per image)
    (dict(pos_iou_thr=0.5, neg_iou_thr=0.3, min_pos_iou=0.1), (3, 0, 5), (0, 0, 0)),
    (dict(pos_iou_thr=0.5, neg_iou_thr=0.3, min_pos_iou=0.1, gt_max_assign_all=False), (2, 4, 1), (0, 0, 0)),
    (dict(pos_iou_thr=0.4, neg_iou_thr=(0.1, 0.3), match_low_quality=False), (4, 1, 0), (0, 0, 0)),
    (dict(pos_iou_thr=0.5, neg_iou_thr=0.4, ignore_iof_thr=0.5), (3, 2, 0), (2, 0, 1)),
    (dict(pos_iou_thr=0.5, neg_iou_thr=0.4, ignore_iof_thr=0.5, ignore_wrt_candidates=False,
          gt_max_assign_all=False), (1, 3, 2), (1, 2, 0)),
    (dict(pos_iou_thr=0.5, neg_iou_thr=0.4), (0, 0, 0), (0, 0, 0)),
]


@pytest.mark.parametrize('kwargs,num_gts,num_ignores', BATCH_CASES)
def test_batch_assign_equals_assign_of_each_image(kwargs, num_gts, num_ignores):
    gen = torch.Generator().manual_seed(len(str(kwargs)))
    assigner = MaxIoUAssigner(**kwargs)
    boxes = torch.stack([_random_boxes(gen, 30) for _ in num_gts])
    boxes_valid = torch.rand(len(num_gts), 30, generator=gen) > 0.2
    gts_list = [_random_boxes(gen, n) for n in num_gts]
    gts_list[0] = torch.cat([gts_list[0], gts_list[0][:1]]) if num_gts[0] else gts_list[0]  # tied GTs
    ignores_list = [_random_boxes(gen, n) for n in num_ignores]
    gts, gt_valid = _pad(gts_list)
    ignores, ignore_valid = _pad(ignores_list)
    gt_inds, max_overlaps = assigner.batch_assign(boxes, gts, gt_valid, boxes_valid, ignores, ignore_valid)
    for i in range(len(num_gts)):
        inside = boxes_valid[i]
        expected = assigner.assign(boxes[i][inside], gts_list[i], ignores_list[i])
        assert torch.equal(gt_inds[i][inside], expected.gt_inds)
        assert torch.equal(max_overlaps[i][inside], expected.max_overlaps)
        assert (gt_inds[i][~inside] == -1).all()


@pytest.mark.parametrize('seed', range(6))
def test_assign_equals_naive_loop_with_zero_gts_ignores_and_neg_range(seed):
    gen = torch.Generator().manual_seed(seed)
    kwargs = dict(pos_iou_thr=0.5, neg_iou_thr=[0.3, (0.1, 0.4)][seed % 2], min_pos_iou=0.2,
                  gt_max_assign_all=seed % 3 == 0, ignore_iof_thr=0.6, match_low_quality=seed != 5)
    boxes, gts, ignores = _random_boxes(gen, 25), _random_boxes(gen, seed % 4), _random_boxes(gen, 2)
    labels = torch.arange(len(gts)) + 5
    result = MaxIoUAssigner(**kwargs).assign(boxes, gts, ignores, labels)
    overlaps = bbox_overlaps(gts, boxes)
    overlaps[:, bbox_overlaps(boxes, ignores, mode='iof').max(dim=1).values > 0.6] = -1
    expected = naive_assign_range(overlaps, kwargs)
    assert result.gt_inds.tolist() == expected
    assert result.labels.tolist() == [labels[i - 1].item() if i > 0 else -1 for i in expected]


def naive_assign_range(overlaps, kwargs):
    """naive_assign with a (lo, hi) negative range, and every box negative without GT."""
    num_gts, num_boxes = overlaps.shape
    if num_gts == 0:
        return [0] * num_boxes
    lo, hi = kwargs['neg_iou_thr'] if isinstance(kwargs['neg_iou_thr'], tuple) else (0, kwargs['neg_iou_thr'])
    result = naive_assign(overlaps, kwargs['pos_iou_thr'], float('inf'), kwargs['min_pos_iou'],
                          kwargs['match_low_quality'], kwargs['gt_max_assign_all'])
    for j in range(num_boxes):
        best = overlaps[:, j].max().item()
        if result[j] in (0, -1):
            result[j] = 0 if lo <= best < hi and best < kwargs['pos_iou_thr'] else -1
    return result
