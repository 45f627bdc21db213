"""mmdet_lite: MMDetection 2.x's training workflow on current PyTorch."""
import logging
import os
import warnings

# torch's OpenMP threads (GNU libgomp) busy-wait ~300k spins between parallel regions. When other
# processes share the cores (loader workers, a second DDP rank, another job) the spinning threads
# take their time slices: two 2-thread training processes on 2 cores ran 7x slower per step each,
# not 2x. 10k spins keeps the idle speed (measured within 1%) and cut that to 2.6x. Takes effect only
# if torch is not imported yet (the tools import mmdet_lite first); an explicit setting wins.
os.environ.setdefault('GOMP_SPINCOUNT', '10000')

# Import-time notices that say nothing about mmdet_lite: mmcv 1.7.2 announcing its 2.0
# rename, and torch's C++-extension helper (imported by mmcv) finding no CUDA runtime.
warnings.filterwarnings('ignore', message='On January 1, 2023, MMCV will release v2.0.0')
logging.getLogger('torch.utils.cpp_extension').setLevel(logging.ERROR)

from .version import __version__, short_version  # noqa: E402

__all__ = ['__version__', 'short_version']
