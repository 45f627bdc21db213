"""Shared test helpers: a tiny COCO-format sample on disk and an oracle detector."""
import json
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn

from mmdet_lite.core.fp16 import auto_fp16
from mmdet_lite.models.builder import DETECTORS
from mmdet_lite.models.detectors.base import BaseDetector

# COCO's sparse ids: person=1, dog=18, toothbrush=90.
SPARSE_CATEGORIES = [dict(id=1, name='person'), dict(id=18, name='dog'),
                     dict(id=90, name='toothbrush')]

TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 48), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True),
        dict(type='RandomFlip'),
        dict(type='Normalize', mean=[0, 0, 0], std=[1, 1, 1], to_rgb=True),
        dict(type='Pad', size_divisor=32),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img']),
    ])
]


def write_image(path: Path, height: int, width: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


def write_coco(root: Path, ann_rel: str, img_dir_rel: str, images: List[Dict],
               annotations: List[Dict], categories: Sequence[Dict] = SPARSE_CATEGORIES) -> Path:
    """Write JPEGs for ``images`` (dicts with id, file_name, width, height) under
    ``root/img_dir_rel`` and the COCO json at ``root/ann_rel``; returns the json path."""
    for i, img in enumerate(images):
        write_image(root / img_dir_rel / img['file_name'], img['height'], img['width'], seed=i)
    ann_path = root / ann_rel
    ann_path.parent.mkdir(parents=True, exist_ok=True)
    with open(ann_path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=list(categories)), f)
    return ann_path


def standard_sample():
    """Three 80x64 images: image 1 has a person and a dog, image 2 a toothbrush plus a crowd
    person and a zero-width box, image 3 nothing."""
    images = [dict(id=i, file_name=f'{i:012d}.jpg', width=80, height=64) for i in (1, 2, 3)]
    annotations = [
        dict(id=1, image_id=1, category_id=1, bbox=[10, 8, 20, 30], area=600, iscrowd=0),
        dict(id=2, image_id=1, category_id=18, bbox=[40, 20, 30, 25], area=750, iscrowd=0),
        dict(id=3, image_id=2, category_id=90, bbox=[5, 5, 40, 40], area=1600, iscrowd=0),
        dict(id=4, image_id=2, category_id=1, bbox=[50, 10, 20, 20], area=400, iscrowd=1),
        dict(id=5, image_id=2, category_id=18, bbox=[60, 30, 0, 10], area=0, iscrowd=0),
    ]
    return images, annotations


def write_oracle_setup(root: Path, num_images: int, shift: float):
    """``num_images`` 80x64 COCO images of classes a/b (image i: one box [4 + i, 4, 30, 20] of class
    i % 2) under ``root``, a config whose ``OracleTestDetector`` answers each with [4 + i, 4, 34 + i,
    24] scored 0.9, and a checkpoint whose ``shift`` moves those ``shift`` px right. Returns
    ``(config, checkpoint, test_cfg)``."""
    images = [dict(id=i + 1, file_name=f'{i}.jpg', width=80, height=64) for i in range(num_images)]
    annotations = [dict(id=i + 1, image_id=i + 1, category_id=1 + i % 2, bbox=[4 + i, 4, 30, 20],
                        area=600, iscrowd=0) for i in range(num_images)]
    ann = write_coco(root, 'ann.json', 'imgs', images, annotations,
                     [dict(id=1, name='a'), dict(id=2, name='b')])
    predictions = {f'{i}.jpg': [[4 + i, 4, 34 + i, 24, 0.9, i % 2]] for i in range(num_images)}
    test_cfg = dict(type='CocoDataset', ann_file=str(ann), img_prefix=str(root / 'imgs'),
                    classes=('a', 'b'), pipeline=TEST_PIPELINE)
    config = root / 'oracle.py'
    config.write_text(
        "custom_imports = dict(imports=['tests.test_datasets.helpers'])\n"
        f'model = dict(type="OracleTestDetector", num_classes=2, predictions={predictions!r})\n'
        f'data = dict(workers_per_gpu=0, test={test_cfg!r})\n'
        "evaluation = dict(interval=1, metric='bbox', save_best='auto')\n"
        "dist_params = dict(backend='gloo')\n")
    checkpoint = root / 'oracle.pth'
    torch.save(dict(state_dict=dict(shift=torch.tensor(float(shift))), meta=dict(CLASSES=('a', 'b'))),
               checkpoint)
    return config, checkpoint, test_cfg


@DETECTORS.register_module()
class OracleTestDetector(nn.Module):
    """Answers fixed detections per file name, shifted right by the ``shift`` parameter.

    ``predictions``: ``{file_name: [[x1, y1, x2, y2, score, label], ...]}`` in original image
    coordinates (key ``'*'``: for any other image). Results follow MMDetection: per image,
    ``num_classes`` (n, 5) float32 arrays.
    As MMDetection's detectors, it takes part in mixed precision once ``enable_autocast`` sets
    ``fp16_enabled``; ``seen_autocast`` holds, per call, the autocast dtype in effect (None: off).
    A runner can train it (``train_step``): the loss pulls ``shift`` toward 1 px.
    """

    def __init__(self, predictions: Dict[str, list], num_classes: int, train_cfg=None,
                 test_cfg=None, pretrained=None) -> None:
        super().__init__()
        self.predictions = predictions
        self.num_classes = num_classes
        self.shift = nn.Parameter(torch.zeros(()))
        self.seen_shapes = []
        self.fp16_enabled = False
        self.seen_autocast = []

    @auto_fp16
    def forward(self, img, img_metas, return_loss=False, rescale=False, **kwargs):
        metas = img_metas[0]
        self.seen_shapes.append(tuple(img[0].shape))
        device = img[0].device.type
        self.seen_autocast.append(
            torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None)
        results = []
        for meta in metas:
            # '*': the detections of any other image (an array, e.g. a video frame, has no name)
            default = self.predictions.get('*', [])
            dets = np.array(self.predictions.get(meta['ori_filename'], default),
                            dtype=np.float32).reshape(-1, 6)
            dets[:, [0, 2]] += float(self.shift)
            if not rescale:
                dets[:, :4] *= meta['scale_factor']
            results.append([dets[dets[:, 5] == c, :5] for c in range(self.num_classes)])
        return results

    show_result = BaseDetector.show_result  # what tools/test.py --show-dir draws with

    def init_weights(self):
        """``shift`` starts at 0: the predictions as given."""

    def train_step(self, data, optimizer):
        loss_shift = (self.shift - 1.0) ** 2
        log_vars = OrderedDict(loss_shift=loss_shift.item(), loss=loss_shift.item())
        return dict(loss=loss_shift, log_vars=log_vars, num_samples=len(data['img_metas']))
