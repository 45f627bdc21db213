"""Dataset registries and builders."""
from mmcv.utils import Registry

DATASETS = Registry('dataset')
PIPELINES = Registry('pipeline')
