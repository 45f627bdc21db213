"""ApproxMaxIoUAssigner (oracle: MaxIoUAssigner on the max over approxs) and RegionAssigner (hand-made case,
oracle: 2.28's box-by-box painting)."""
import pytest
import torch

from mmdet_lite.core.anchor import AnchorGenerator, calc_region
from mmdet_lite.core.bbox import ApproxMaxIoUAssigner, MaxIoUAssigner, RegionAssigner, bbox_overlaps

ASSIGNER_ARGS = dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, ignore_iof_thr=-1)


def test_approx_assigner_is_max_iou_assigner_on_max_over_approxs():
    torch.manual_seed(0)
    num_squares, per_octave = 7, 3
    centers = torch.rand(num_squares, 1, 2) * 40
    sizes = torch.rand(num_squares, per_octave, 2) * 20 + 4
    approxs = torch.cat([centers - sizes / 2, centers + sizes / 2], dim=-1).view(-1, 4)
    squares = torch.cat([centers[:, 0] - 6, centers[:, 0] + 6], dim=-1)
    gts = torch.tensor([[5., 5., 25., 30.], [20., 10., 40., 22.]])
    labels = torch.tensor([4, 1])
    result = ApproxMaxIoUAssigner(**ASSIGNER_ARGS).assign(approxs, squares, per_octave, gts, gt_labels=labels)
    overlaps = torch.zeros(len(gts), num_squares)
    for s in range(num_squares):
        for k in range(per_octave):
            iou = bbox_overlaps(gts, approxs[s * per_octave + k][None])[:, 0]
            overlaps[:, s] = torch.maximum(overlaps[:, s], iou)
    expected = MaxIoUAssigner(**ASSIGNER_ARGS).assign_wrt_overlaps(overlaps, labels)
    assert torch.equal(result.gt_inds, expected.gt_inds)
    assert torch.equal(result.labels, expected.labels)
    assert torch.allclose(result.max_overlaps, expected.max_overlaps)


@pytest.mark.parametrize('num_gts,num_squares', [(0, 4), (2, 0)])
def test_approx_assigner_empty(num_gts, num_squares):
    result = ApproxMaxIoUAssigner(**ASSIGNER_ARGS).assign(torch.rand(num_squares * 2, 4), torch.rand(num_squares, 4),
                                                          2, torch.rand(num_gts, 4))
    assert result.gt_inds.shape == (num_squares, )
    assert (result.gt_inds == 0).all() if num_gts == 0 else True


def _level_anchors(featmap_sizes):
    generator = AnchorGenerator(strides=[4, 8], ratios=[1.0], scales=[8])
    return generator.grid_priors(featmap_sizes, device='cpu'), generator.valid_flags(featmap_sizes, (64, 64), 'cpu')


def test_region_assigner_hand_made_single_box():
    featmap_sizes = [(16, 16), (8, 8)]
    anchors, flags = _level_anchors(featmap_sizes)
    gt = torch.tensor([[0., 0., 32., 32.]])  # scale 32 = 8 * stride 4 -> level 0
    result = RegionAssigner(center_ratio=0.2, ignore_ratio=0.5).assign(
        anchors, flags, gt, dict(img_shape=(64, 64, 3)), featmap_sizes, 8, [4, 8], allowed_border=-1)
    level0 = result.gt_inds[:256].view(16, 16)
    level1 = result.gt_inds[256:].view(8, 8)
    expected0 = torch.zeros(16, 16, dtype=torch.long)
    expected0[2:7, 2:7] = -1  # ignore region: round(0.75 * 0 + 0.25 * 8) .. round(0.25 * 0 + 0.75 * 8)
    expected0[3:6, 3:6] = 1  # centre region: round(3.2) .. round(4.8)
    expected1 = torch.zeros(8, 8, dtype=torch.long)
    expected1[1:4, 1:4] = -1  # ignore region on the next level: box / 8 = (0, 0, 4, 4) -> 1 .. 3
    assert torch.equal(level0, expected0)
    assert torch.equal(level1, expected1)
    assert result.max_overlaps is None


def naive_region_assign(anchors, gts, featmap_sizes, strides, anchor_scale, center_ratio, ignore_ratio):
    """2.28's procedure: boxes one by one, ignore then centre region on their level, then the neighbours."""
    center_cut, ignore_cut = (1 - center_ratio) / 2, (1 - ignore_ratio) / 2
    assigned = [torch.zeros(len(a), dtype=torch.long) for a in anchors]
    near_ignore = [torch.zeros(len(a), dtype=torch.bool) for a in anchors]

    def inside(level, gt, cut):
        region = calc_region(gt[None] / strides[level], cut, featmap_sizes[level])[0]
        centers = (anchors[level][:, :2] + anchors[level][:, 2:]) / 2 / strides[level]
        return ((centers[:, 0] >= region[0]) & (centers[:, 0] <= region[2]) & (centers[:, 1] >= region[1])
                & (centers[:, 1] <= region[3]))

    for gt_id, gt in enumerate(gts):
        scale = torch.sqrt((gt[2] - gt[0]) * (gt[3] - gt[1]))
        level = int(torch.floor(torch.log2(scale) - torch.log2(torch.tensor(anchor_scale * strides[0])) + 0.5)
                    .clamp(0, len(anchors) - 1))
        assigned[level][inside(level, gt, ignore_cut)] = -1
        assigned[level][inside(level, gt, center_cut)] = gt_id + 1
        for other in (level - 1, level + 1):
            if 0 <= other < len(anchors):
                near_ignore[other] |= inside(other, gt, ignore_cut)
    for level in range(len(anchors)):
        assigned[level][near_ignore[level]] = -1
    return torch.cat(assigned)


def test_region_assigner_matches_box_by_box_painting():
    torch.manual_seed(3)
    featmap_sizes = [(16, 16), (8, 8)]
    anchors, flags = _level_anchors(featmap_sizes)
    xy = torch.rand(9, 2) * 40
    wh = torch.rand(9, 2) * 40 + 8
    gts = torch.cat([xy, xy + wh], dim=1)
    result = RegionAssigner().assign(anchors, flags, gts, dict(img_shape=(64, 64, 3)), featmap_sizes, 8, [4, 8],
                                     allowed_border=-1)
    expected = naive_region_assign(anchors, gts, featmap_sizes, [4, 8], 8, 0.2, 0.5)
    assert torch.equal(result.gt_inds, expected)
    assert (result.gt_inds > 0).any() and (result.gt_inds == -1).any()


def test_region_assigner_rejects_empty_gts():
    anchors, flags = _level_anchors([(16, 16), (8, 8)])
    with pytest.raises(ValueError, match='no gt bboxes'):
        RegionAssigner().assign(anchors, flags, torch.zeros(0, 4), dict(img_shape=(64, 64, 3)),
                                [(16, 16), (8, 8)], 8, [4, 8])
