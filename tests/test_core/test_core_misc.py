import pytest
import torch

from mmdet_lite.core.utils import filter_scores_and_topk, multi_apply, select_single_mlvl, unmap


def test_multi_apply_regroups_outputs_and_passes_kwargs():
    def add_mul(a, b, offset=0):
        return a + b + offset, a * b

    sums, prods = multi_apply(add_mul, [1, 2, 3], [4, 5, 6], offset=10)
    assert sums == [15, 17, 19] and prods == [4, 10, 18]


def test_unmap_with_bool_mask_and_indices():
    mask = torch.tensor([True, False, True, False])
    assert unmap(torch.tensor([7, 8]), 4, mask, fill=-1).tolist() == [7, -1, 8, -1]
    rows = unmap(torch.ones(2, 3), 4, mask)
    assert rows.shape == (4, 3) and rows.sum(1).tolist() == [3., 0., 3., 0.]
    assert unmap(torch.tensor([5., 6.]), 3, torch.tensor([2, 0])).tolist() == [6., 0., 5.]


def test_select_single_mlvl_takes_one_image_of_every_level_detached():
    levels = [torch.arange(8.).view(2, 4).requires_grad_(), torch.arange(6.).view(2, 3).requires_grad_()]
    picked = select_single_mlvl(levels, 1)
    assert [p.tolist() for p in picked] == [[4., 5., 6., 7.], [3., 4., 5.]]
    assert not any(p.requires_grad for p in picked)
    assert all(p.requires_grad for p in select_single_mlvl(levels, 0, detach=False))
    with pytest.raises(TypeError, match='list or tuple'):
        select_single_mlvl(levels[0], 0)


def test_filter_scores_and_topk_keeps_best_pairs_above_threshold():
    scores = torch.tensor([[0.1, 0.9],
                           [0.6, 0.3],
                           [0.8, 0.05]])
    boxes = torch.tensor([[0.], [1.], [2.]])
    # pairs above 0.2: (0,1)=.9, (1,0)=.6, (1,1)=.3, (2,0)=.8 -> best 3: .9, .8, .6
    kept, labels, keep_idxs, filtered = filter_scores_and_topk(scores, 0.2, 3, dict(boxes=boxes))
    assert kept.tolist() == pytest.approx([0.9, 0.8, 0.6])
    assert labels.tolist() == [1, 0, 0] and keep_idxs.tolist() == [0, 2, 1]
    assert filtered['boxes'].flatten().tolist() == [0., 2., 1.]
    assert filter_scores_and_topk(scores, 0.2, 10, [boxes])[3][0].flatten().tolist() == [0., 2., 1., 1.]
    none = filter_scores_and_topk(scores, 0.95, 3)
    assert none[0].numel() == 0 and none[3] is None
    with pytest.raises(TypeError, match="got <class 'tuple'>"):
        filter_scores_and_topk(scores, 0.2, 3, (boxes, ))


def test_unmap_with_a_mask_calls_no_nonzero_and_matches_boolean_indexing():
    from torch.profiler import ProfilerActivity, profile
    gen = torch.Generator().manual_seed(0)
    mask = torch.rand(50, generator=gen) > 0.5
    data = torch.randn(int(mask.sum()), 4, generator=gen)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        rows = unmap(data, 50, mask, fill=-2.)
    assert not any(event.name == 'aten::nonzero' for event in prof.events())  # a host-device sync on a GPU
    expected = torch.full((50, 4), -2.)
    expected[mask] = data
    assert torch.equal(rows, expected)
    assert torch.equal(unmap(data, 50, mask.to(torch.uint8), fill=-2.), expected)
