from .anchor_generator import AnchorGenerator
from .legacy_anchor_generator import LegacyAnchorGenerator
from .builder import (ANCHOR_GENERATORS, PRIOR_GENERATORS, build_anchor_generator,
                      build_prior_generator)
from .utils import (anchor_inside_flags, batch_anchor_inside_flags, calc_region, gt_target_levels, images_to_levels,
                    last_region_owner, points_in_regions)

__all__ = [
    'AnchorGenerator', 'LegacyAnchorGenerator', 'anchor_inside_flags', 'batch_anchor_inside_flags', 'calc_region',
    'gt_target_levels', 'last_region_owner',
    'points_in_regions', 'images_to_levels', 'build_anchor_generator',
    'ANCHOR_GENERATORS', 'PRIOR_GENERATORS', 'build_prior_generator'
]
