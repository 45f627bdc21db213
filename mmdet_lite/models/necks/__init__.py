from .fpn import FPN
from .fpn_carafe import FPN_CARAFE

__all__ = ['FPN', 'FPN_CARAFE']
