"""Inference on images outside a dataset (MMDetection 2.x ``mmdet.apis.inference``).

    model = init_detector('configs/toy/faster_rcnn_r18_fpn_toy.py', 'latest.pth', device='cpu')
    result = inference_detector(model, 'demo.jpg')       # per class (n, 5) float32 arrays
    show_result_pyplot(model, 'demo.jpg', result, out_file='demo_result.jpg')
"""
import copy
import os.path as osp
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmcv import Config
from mmcv.parallel import collate, scatter

from mmdet_lite.datasets import DATASETS, CocoDataset, CustomDataset, replace_ImageToTensor
from mmdet_lite.datasets.pipelines import Compose
from mmdet_lite.models import build_detector
from mmdet_lite.utils.checkpoint import check_checkpoint, load_checkpoint_matched
from mmdet_lite.utils.cli import load_config
from mmdet_lite.utils.dist import check_device

ImageInput = Union[str, Path, np.ndarray]


def _dataset_classes(config: Config) -> Optional[tuple]:
    """The class names of ``config.data.test`` (its ``classes``, else its type's ``CLASSES``),
    found without reading its annotation file."""
    test_cfg = config.get('data', {}).get('test')
    if isinstance(test_cfg, (list, tuple)):
        test_cfg = test_cfg[0] if test_cfg else None
    if not test_cfg:
        return None
    if test_cfg.get('classes'):
        return tuple(CustomDataset.get_classes(test_cfg['classes']))
    dataset_cls = DATASETS.get(test_cfg.get('type', ''))
    return getattr(dataset_cls, 'CLASSES', None)


def init_detector(config: Union[str, Path, Config], checkpoint: Optional[str] = None,
                  device: Union[str, torch.device] = 'cuda:0',
                  cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build a detector from a config file or ``Config`` and load a checkpoint (weights only).

    Args:
        config: config file path or ``mmcv.Config`` (copied, not modified).
        checkpoint: checkpoint file; None leaves the weights as built.
        device: where the model goes, e.g. ``'cuda:0'`` or ``'cpu'``.
        cfg_options: overrides merged into the config (as ``--cfg-options``).

    Returns:
        the detector in eval mode on ``device``, with ``cfg`` (the config) and ``CLASSES``: the
        checkpoint's ``meta['CLASSES']``, else the test dataset's classes, else COCO's.

    Raises:
        FileNotFoundError: the config file does not exist.
        CheckpointError: the checkpoint is missing, corrupt or needs unsafe unpickling.
        RuntimeError: a CUDA device on a machine without it.
        TypeError: ``config`` is neither a path nor a ``Config``.
    """
    if isinstance(config, (str, Path)):
        config = load_config(str(config), cfg_options)
    elif isinstance(config, Config):
        config = copy.deepcopy(config)
        if cfg_options is not None:
            config.merge_from_dict(cfg_options)
    else:
        raise TypeError(f'config must be a filename or Config object, but got {type(config)}')
    device = check_device(device)
    if checkpoint is not None:
        check_checkpoint(str(checkpoint))  # a bad file is refused before the model is built
    if 'pretrained' in config.model:
        config.model.pretrained = None
    elif config.model.get('backbone', {}).get('init_cfg') is not None:
        config.model.backbone.init_cfg = None
    config.model.train_cfg = None
    model = build_detector(config.model, test_cfg=config.get('test_cfg'))

    meta = {}
    if checkpoint is not None:
        loaded, _ = load_checkpoint_matched(model, str(checkpoint), map_location='cpu')
        meta = loaded.get('meta', {}) or {}
    classes = meta.get('CLASSES') or _dataset_classes(config)
    if classes is None:
        warnings.warn('Class names are neither in the checkpoint\'s meta data nor in the '
                      'config\'s test dataset: using COCO classes')
        classes = CocoDataset.CLASSES
    model.CLASSES = classes
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def _test_pipelines(cfg: Config) -> dict:
    """The test pipeline for image files and, with its loader replaced by
    ``LoadImageFromWebcam``, for arrays; both batchable (``ImageToTensor`` ->
    ``DefaultFormatBundle``)."""
    pipeline = replace_ImageToTensor(cfg.data.test.pipeline)
    array_pipeline = copy.deepcopy(pipeline)
    array_pipeline[0]['type'] = 'LoadImageFromWebcam'
    return dict(file=Compose(pipeline), array=Compose(array_pipeline))


def _prepare(img: ImageInput, pipelines: dict) -> dict:
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'image array must be (H, W, 3) BGR, got shape {img.shape}')
        return pipelines['array'](dict(img=img))
    if isinstance(img, (str, Path)):
        if not osp.isfile(img):
            raise FileNotFoundError(f'image file {img} does not exist')
        return pipelines['file'](dict(img_info=dict(filename=str(img)), img_prefix=None))
    raise TypeError(f'an image must be a file path or an (H, W, 3) array, got {type(img)}')


def inference_detector(model: torch.nn.Module,
                       imgs: Union[ImageInput, Sequence[ImageInput]]) -> Union[list, List[list]]:
    """Detect objects in one image or a batch of images.

    Args:
        model: a detector from :func:`init_detector` (it holds the config in ``model.cfg``).
        imgs: an image file, an (H, W, 3) BGR uint8 array, or a list/tuple of them (one batch,
            padded to its largest image).

    Returns:
        for one image, its result: per class an (n, 5) float32 array of x1, y1, x2, y2, score
        in the image's pixels; for a list/tuple, a list of such results in the same order.
    """
    is_batch = isinstance(imgs, (list, tuple))
    imgs = list(imgs) if is_batch else [imgs]
    if not imgs:
        raise ValueError('inference_detector got an empty list of images')
    pipelines = _test_pipelines(model.cfg)
    # Collating makes one (N, 3, H, W) batch per augmentation, as the data loader does; a single
    # pipeline output is an unbatched (3, H, W) image, which the detector refuses.
    data = collate([_prepare(img, pipelines) for img in imgs], samples_per_gpu=len(imgs))
    data['img_metas'] = [img_metas.data[0] for img_metas in data['img_metas']]
    data['img'] = [img.data[0] for img in data['img']]
    device = next(model.parameters()).device
    if device.type == 'cuda':
        data = scatter(data, [device])[0]
    with torch.no_grad():
        results = model(return_loss=False, rescale=True, **data)
    return results if is_batch else results[0]


def show_result_pyplot(model: torch.nn.Module, img: ImageInput, result, score_thr: float = 0.3,
                       title: str = 'result', wait_time: float = 0, palette=None,
                       out_file: Optional[str] = None) -> None:
    """Draw ``result`` on ``img`` with boxes in the ``palette`` colours (``'coco'``, ``'voc'``,
    ``'citys'``, ``'random'``, an RGB tuple or a list of them; None: random) and light grey
    labels; shown in a window titled ``title``, or written to ``out_file`` instead."""
    if hasattr(model, 'module'):
        model = model.module
    if isinstance(img, (str, Path)) and not osp.isfile(img):
        raise FileNotFoundError(f'image file {img} does not exist')
    model.show_result(img if isinstance(img, np.ndarray) else str(img), result,
                      score_thr=score_thr, show=True, wait_time=wait_time, win_name=title,
                      bbox_color=palette, text_color=(200, 200, 200), mask_color=palette,
                      out_file=out_file)
