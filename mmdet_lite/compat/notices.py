"""Silence two import-time notices that say nothing about mmdet_lite.

- mmcv 1.7.2 warns on import that "On January 1, 2023, MMCV will release v2.0.0" (a rename that
  does not concern users of 1.x).
- torch's C++-extension helper, imported by mmcv, logs "No CUDA runtime is found" on every CPU
  machine.

Both must be silenced before mmcv is first imported.
"""
import logging
import warnings

MMCV_2_NOTICE = 'On January 1, 2023, MMCV will release v2.0.0'
CPP_EXTENSION_LOGGER = 'torch.utils.cpp_extension'


def install() -> None:
    warnings.filterwarnings('ignore', message=MMCV_2_NOTICE)  # an equal filter is replaced, not added
    logging.getLogger(CPP_EXTENSION_LOGGER).setLevel(logging.ERROR)
