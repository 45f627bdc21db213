"""Helpers that reshape anchor-level targets and filter anchors by the image border."""
from typing import List, Sequence

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
    img_h, img_w = img_shape[:2]
    if allowed_border < 0:
        return valid_flags
    return (valid_flags
            & (flat_anchors[:, 0] >= -allowed_border)
            & (flat_anchors[:, 1] >= -allowed_border)
            & (flat_anchors[:, 2] < img_w + allowed_border)
            & (flat_anchors[:, 3] < img_h + allowed_border))
