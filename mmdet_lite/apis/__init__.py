from mmdet_lite.utils.seed import init_random_seed, set_random_seed

from .test import multi_gpu_test, single_gpu_test
from .train import build_val_dataset, train_detector

__all__ = ['init_random_seed', 'set_random_seed', 'build_val_dataset', 'train_detector',
           'multi_gpu_test',
           'single_gpu_test']
