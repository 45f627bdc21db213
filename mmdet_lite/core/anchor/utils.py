"""Helpers that reshape anchor-level targets and filter anchors by the image border."""
from typing import List, Optional, Sequence

import torch


def images_to_levels(target: Sequence[torch.Tensor], num_levels: Sequence[int]) -> List[torch.Tensor]:
    """Turn per-image targets into per-level targets.

    Args:
        target: B tensors of shape (R, ...) where R = sum(num_levels) (all levels of one image).
        num_levels: number of anchors Ri on each level.

    Returns:
        One tensor per level, shape (B, Ri, ...).
    """
    stacked = torch.stack(list(target), 0)
    total = sum(num_levels)
    if stacked.size(1) != total:
        raise ValueError(f'images_to_levels: targets have {stacked.size(1)} rows per image '
                         f'(shape {tuple(stacked.shape)}) but num_levels={list(num_levels)} sums to {total}')
    return list(torch.split(stacked, list(num_levels), dim=1))


def anchor_inside_flags(flat_anchors: torch.Tensor,
                        valid_flags: torch.Tensor,
                        img_shape: Sequence[int],
                        allowed_border: float = 0) -> torch.Tensor:
    """Flags of anchors that are valid and lie inside the image (with a tolerance).

    Args:
        flat_anchors: (R, 4) x1y1x2y2 anchors of all levels.
        valid_flags: (R,) bool flags from ``AnchorGenerator.valid_flags``.
        img_shape: (h, w, ...) of the resized, unpadded image.
        allowed_border: pixels an anchor may extend past the border; negative disables the check
            (only ``valid_flags`` are used).

    Returns:
        (R,) bool.
    """
    return batch_anchor_inside_flags(flat_anchors, valid_flags[None], [img_shape], allowed_border)[0]


def batch_anchor_inside_flags(anchors: torch.Tensor,
                              valid_flags: torch.Tensor,
                              img_shapes: Sequence[Sequence[int]],
                              allowed_border: float = 0) -> torch.Tensor:
    """:func:`anchor_inside_flags` of N images at once.

    Args:
        anchors: (R, 4) anchors shared by the images, or (N, R, 4) per image.
        valid_flags: (N, R) bool.
        img_shapes: N shapes (h, w, ...) of the resized, unpadded images.
        allowed_border: as in :func:`anchor_inside_flags`.

    Returns:
        (N, R) bool.
    """
    if allowed_border < 0:
        return valid_flags
    bounds = [[-allowed_border, -allowed_border, img_shape[1] + allowed_border, img_shape[0] + allowed_border]
              for img_shape in img_shapes]
    # rounded to the anchors' dtype like a Python scalar in a comparison; one non-blocking copy
    bounds = torch.tensor(bounds, dtype=anchors.dtype).to(anchors.device, non_blocking=True)[:, None, :]
    anchors = anchors if anchors.dim() == 3 else anchors[None]
    return (valid_flags
            & (anchors[..., 0] >= bounds[..., 0]) & (anchors[..., 1] >= bounds[..., 1])
            & (anchors[..., 2] < bounds[..., 2]) & (anchors[..., 3] < bounds[..., 3]))


def calc_region(bboxes: torch.Tensor, ratio: float, featmap_size: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Central part of boxes on a feature grid (MMDetection's ``calc_region``, for G boxes at once).

    Args:
        bboxes: (G, 4) x1y1x2y2 already divided by the level's stride.
        ratio: fraction cut from each side: ``x1' = round((1 - ratio) x1 + ratio x2)``,
            ``x2' = round(ratio x1 + (1 - ratio) x2)`` (same for y).
        featmap_size: (H, W); when given, x is clamped to [0, W] and y to [0, H].

    Returns:
        (G, 4) long inclusive cell ranges x1, y1, x2, y2.
    """
    x1 = torch.round((1 - ratio) * bboxes[:, 0] + ratio * bboxes[:, 2])
    y1 = torch.round((1 - ratio) * bboxes[:, 1] + ratio * bboxes[:, 3])
    x2 = torch.round(ratio * bboxes[:, 0] + (1 - ratio) * bboxes[:, 2])
    y2 = torch.round(ratio * bboxes[:, 1] + (1 - ratio) * bboxes[:, 3])
    region = torch.stack([x1, y1, x2, y2], dim=1).long()
    if featmap_size is not None:
        feat_h, feat_w = int(featmap_size[0]), int(featmap_size[1])
        region = torch.minimum(region.clamp(min=0), region.new_tensor([feat_w, feat_h, feat_w, feat_h]))
    return region


def points_in_regions(xs: torch.Tensor, ys: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """(G, P) flags of P points (xs, ys) inside G inclusive regions (G, 4) x1y1x2y2."""
    return ((xs[None, :] >= regions[:, 0:1]) & (xs[None, :] <= regions[:, 2:3])
            & (ys[None, :] >= regions[:, 1:2]) & (ys[None, :] <= regions[:, 3:4]))


def gt_target_levels(gt_bboxes: torch.Tensor, min_anchor_size: float, num_levels: int) -> torch.Tensor:
    """(G,) level of each box by scale: ``floor(log2(sqrt(w h) / min_anchor_size) + 0.5)`` clamped to
    [0, num_levels - 1] (the guided-anchoring / RegionAssigner rule)."""
    scale = torch.sqrt((gt_bboxes[:, 2] - gt_bboxes[:, 0]) * (gt_bboxes[:, 3] - gt_bboxes[:, 1]))
    min_size = scale.new_full((1, ), float(min_anchor_size))
    levels = torch.floor(torch.log2(scale) - torch.log2(min_size) + 0.5)
    return levels.clamp(min=0, max=num_levels - 1).long()


def last_region_owner(in_ignore: torch.Tensor, in_center: torch.Tensor) -> torch.Tensor:
    """Outcome of painting, box after box, each box's ignore region then its centre region.

    Args:
        in_ignore, in_center: (G, P) bool, point p inside box g's ignore / centre region.

    Returns:
        (P,) long: 0 where no box touched the point, -1 where the last box touching it covered it only
        with its ignore region, g + 1 where the last one (box g) covered it with its centre region.
    """
    num_boxes = in_ignore.size(0)
    if num_boxes == 0:
        return in_ignore.new_zeros(in_ignore.size(1), dtype=torch.long)
    id_dtype = torch.int16 if num_boxes < 2**15 else torch.int32
    box_ids = torch.arange(1, num_boxes + 1, dtype=id_dtype, device=in_ignore.device)[:, None]
    last = (box_ids * (in_ignore | in_center)).amax(dim=0).long()
    last_in_center = in_center.gather(0, (last - 1).clamp(min=0)[None, :])[0]
    owner = torch.where(last_in_center, last, last.new_full((), -1))
    return torch.where(last > 0, owner, last.new_zeros(()))
