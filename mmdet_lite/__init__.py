"""mmdet_lite: MMDetection 2.x's training workflow on current PyTorch."""
import logging
import warnings

# Import-time notices that say nothing about mmdet_lite: mmcv 1.7.2 announcing its 2.0
# rename, and torch's C++-extension helper (imported by mmcv) finding no CUDA runtime.
warnings.filterwarnings('ignore', message='On January 1, 2023, MMCV will release v2.0.0')
logging.getLogger('torch.utils.cpp_extension').setLevel(logging.ERROR)

from .version import __version__, short_version  # noqa: E402

__all__ = ['__version__', 'short_version']
