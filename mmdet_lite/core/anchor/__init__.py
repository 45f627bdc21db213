from .anchor_generator import AnchorGenerator
from .builder import (ANCHOR_GENERATORS, PRIOR_GENERATORS, build_anchor_generator,
                      build_prior_generator)
from .utils import anchor_inside_flags, images_to_levels

__all__ = [
    'AnchorGenerator', 'anchor_inside_flags', 'images_to_levels', 'build_anchor_generator',
    'ANCHOR_GENERATORS', 'PRIOR_GENERATORS', 'build_prior_generator'
]
