from .bfp import BFP
from .fpn import FPN
from .hrfpn import HRFPN
from .pafpn import PAFPN

__all__ = ['BFP', 'FPN', 'HRFPN', 'PAFPN']
