from mmdet_lite.utils.seed import init_random_seed, set_random_seed

from .inference import inference_detector, init_detector, show_result_pyplot
from .test import multi_gpu_test, single_gpu_test
from .train import build_val_dataset, train_detector

__all__ = ['init_random_seed', 'set_random_seed', 'build_val_dataset', 'train_detector',
           'init_detector', 'inference_detector', 'show_result_pyplot', 'multi_gpu_test',
           'single_gpu_test']
