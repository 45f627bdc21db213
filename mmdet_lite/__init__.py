"""mmdet_lite: MMDetection 2.x's training workflow on current PyTorch."""
from .compat import install as _install_compat

_install_compat()  # first: every workaround for mmcv 1.7.2 on current torch (see mmdet_lite/compat)

from mmcv import digit_version  # noqa: E402  (MMDetection 2.x exposes mmdet.digit_version)

from .version import __version__, short_version  # noqa: E402

__all__ = ['__version__', 'short_version', 'digit_version']
