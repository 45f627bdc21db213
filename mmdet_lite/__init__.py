"""mmdet_lite: MMDetection 2.x's training workflow on current PyTorch."""
import warnings

# mmcv 1.7.2 warns on import about its own 2.0 rename; it says nothing about mmdet_lite.
warnings.filterwarnings('ignore', message='On January 1, 2023, MMCV will release v2.0.0')

from .version import __version__, short_version  # noqa: E402

__all__ = ['__version__', 'short_version']
