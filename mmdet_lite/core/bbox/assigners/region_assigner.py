"""Assign anchors by where their centres fall inside ground-truth regions (MMDetection 2.x ``RegionAssigner``,
the first stage of Cascade RPN).

Symbols: G ground-truth boxes, L levels, level l has a (Hl, Wl) map with one anchor per location,
R = sum(Hl * Wl).
"""
from typing import List, Optional, Sequence, Tuple

import torch

from ...anchor.utils import calc_region, gt_target_levels, last_region_owner, points_in_regions
from ..builder import BBOX_ASSIGNERS
from .assign_result import AssignResult
from .base_assigner import BaseAssigner


def anchor_ctr_inside_region_flags(anchors: torch.Tensor, stride: int, regions: torch.Tensor) -> torch.Tensor:
    """(G, A) flags of the A anchors (A, 4) whose centre / stride lies in each of G regions (G, 4)."""
    centers_x = (anchors[:, 0] + anchors[:, 2]) * 0.5 / stride
    centers_y = (anchors[:, 1] + anchors[:, 3]) * 0.5 / stride
    return points_in_regions(centers_x, centers_y, regions)


@BBOX_ASSIGNERS.register_module()
class RegionAssigner(BaseAssigner):
    """Every anchor gets -1 (ignore), 0 (negative) or g + 1 (box g); in this order:

    1. all anchors are negative;
    2. boxes are taken in order; box g (on its scale level) marks the anchors whose centres lie in its
       ignore region -1, then those in its centre region g + 1 (a later box overwrites an earlier one);
    3. anchors inside a box's ignore region on the levels next to its own become -1;
    4. anchors outside the image (beyond ``allowed_border``, or not valid) become -1.

    Args:
        center_ratio: side fraction of the centre region (cut ``(1 - center_ratio) / 2`` each side).
        ignore_ratio: side fraction of the ignore region.
    """

    def __init__(self, center_ratio: float = 0.2, ignore_ratio: float = 0.5) -> None:
        self.center_ratio = center_ratio
        self.ignore_ratio = ignore_ratio

    def assign(self,
               mlvl_anchors: List[torch.Tensor],
               mlvl_valid_flags: List[torch.Tensor],
               gt_bboxes: torch.Tensor,
               img_meta: dict,
               featmap_sizes: Sequence[Tuple[int, int]],
               anchor_scale: float,
               anchor_strides: Sequence[int],
               gt_bboxes_ignore: Optional[torch.Tensor] = None,
               gt_labels: Optional[torch.Tensor] = None,
               allowed_border: float = 0) -> AssignResult:
        """Assign the (G, 4) ``gt_bboxes`` to L levels of anchors (Hl * Wl, 4) with valid flags (Hl * Wl,).

        Returns:
            AssignResult over the R anchors (levels concatenated); ``max_overlaps`` is None as in 2.28.
        """
        if gt_bboxes_ignore is not None:
            raise NotImplementedError('RegionAssigner does not support gt_bboxes_ignore')
        if gt_bboxes.shape[0] == 0:
            raise ValueError('RegionAssigner: no gt bboxes')
        num_gts, num_levels = gt_bboxes.size(0), len(mlvl_anchors)
        for anchors, (feat_h, feat_w) in zip(mlvl_anchors, featmap_sizes):
            if anchors.size(0) != feat_h * feat_w:
                raise ValueError(f'{anchors.size(0)} anchors for a {feat_h}x{feat_w} map; RegionAssigner '
                                 'needs one anchor per location')
        center_cut = (1 - self.center_ratio) / 2
        ignore_cut = (1 - self.ignore_ratio) / 2
        target_levels = gt_target_levels(gt_bboxes, anchor_scale * anchor_strides[0], num_levels)

        mlvl_assigned = []
        for level, (anchors, featmap_size) in enumerate(zip(mlvl_anchors, featmap_sizes)):
            stride = anchor_strides[level]
            on_level = target_levels == level
            next_to_level = (target_levels - level).abs() == 1
            scaled_gts = gt_bboxes[:, :4] / stride
            assigned = last_region_owner(
                anchor_ctr_inside_region_flags(anchors, stride,
                                               calc_region(scaled_gts[on_level], ignore_cut, featmap_size)),
                anchor_ctr_inside_region_flags(anchors, stride,
                                               calc_region(scaled_gts[on_level], center_cut, featmap_size)))
            # painted ids count among this level's boxes; map them back to indices into gt_bboxes
            level_gt_ids = torch.nonzero(on_level).squeeze(1)
            painted = assigned > 0
            assigned[painted] = level_gt_ids[assigned[painted] - 1] + 1
            near_regions = calc_region(scaled_gts[next_to_level], ignore_cut, featmap_size)
            assigned[anchor_ctr_inside_region_flags(anchors, stride, near_regions).any(dim=0)] = -1
            mlvl_assigned.append(assigned)

        assigned_gt_inds = torch.cat(mlvl_assigned)
        flat_anchors = torch.cat(mlvl_anchors)
        inside = torch.cat(mlvl_valid_flags)
        if allowed_border >= 0:
            img_h, img_w = img_meta['img_shape'][:2]
            inside = (inside & (flat_anchors[:, 0] >= -allowed_border) & (flat_anchors[:, 1] >= -allowed_border)
                      & (flat_anchors[:, 2] < img_w + allowed_border)
                      & (flat_anchors[:, 3] < img_h + allowed_border))
        assigned_gt_inds[~inside] = -1

        assigned_labels = None
        if gt_labels is not None:
            assigned_labels = torch.zeros_like(assigned_gt_inds)
            pos = assigned_gt_inds > 0
            assigned_labels[pos] = gt_labels[assigned_gt_inds[pos] - 1]
        return AssignResult(num_gts, assigned_gt_inds, None, labels=assigned_labels)
