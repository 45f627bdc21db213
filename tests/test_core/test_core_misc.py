import torch

from mmdet_lite.core.utils import multi_apply, unmap


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
