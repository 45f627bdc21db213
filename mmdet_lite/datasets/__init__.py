"""Datasets, pipelines, wrappers, samplers and their builders (MMDetection 2.x names)."""
from .builder import DATASETS, PIPELINES, build_dataloader, build_dataset
from .cityscapes import CityscapesDataset
from .coco import CocoDataset
from .custom import CustomDataset
from .dataset_wrappers import ConcatDataset, RepeatDataset
from .objects365 import Objects365V1Dataset, Objects365V2Dataset
from .openimages import OpenImagesChallengeDataset, OpenImagesDataset
from .samplers import ClassAwareSampler, DistributedGroupSampler, DistributedSampler, GroupSampler
from .utils import NumClassCheckHook, get_loading_pipeline, replace_ImageToTensor
from .voc import VOCDataset
from .wider_face import WIDERFaceDataset
from .xml_style import XMLDataset

__all__ = [
    'DATASETS', 'PIPELINES', 'build_dataset', 'build_dataloader', 'CustomDataset', 'CocoDataset',
    'ConcatDataset', 'RepeatDataset', 'GroupSampler', 'DistributedGroupSampler',
    'DistributedSampler', 'NumClassCheckHook', 'get_loading_pipeline', 'replace_ImageToTensor',
    'XMLDataset', 'VOCDataset', 'WIDERFaceDataset', 'CityscapesDataset', 'Objects365V1Dataset',
    'Objects365V2Dataset', 'OpenImagesDataset', 'OpenImagesChallengeDataset', 'ClassAwareSampler'
]
