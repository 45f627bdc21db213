from .bfp import BFP
from .fpg import FPG
from .fpn import FPN
from .fpn_carafe import FPN_CARAFE
from .hrfpn import HRFPN
from .pafpn import PAFPN

__all__ = ['BFP', 'FPG', 'FPN', 'FPN_CARAFE', 'HRFPN', 'PAFPN']
