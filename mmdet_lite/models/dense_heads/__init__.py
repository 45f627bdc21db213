from .anchor_head import AnchorHead
from .base_dense_head import BaseDenseHead
from .cascade_rpn_head import CascadeRPNHead, StageCascadeRPNHead
from .ga_rpn_head import GARPNHead
from .guided_anchor_head import FeatureAdaption, GuidedAnchorHead
from .rpn_head import RPNHead

__all__ = [
    'BaseDenseHead', 'AnchorHead', 'RPNHead', 'GuidedAnchorHead', 'FeatureAdaption', 'GARPNHead',
    'StageCascadeRPNHead', 'CascadeRPNHead'
]
