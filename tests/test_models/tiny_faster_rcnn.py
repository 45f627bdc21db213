"""A small Faster R-CNN (ResNet-18, 32-channel FPN, 3 classes) built from the R50-FPN 1x config.

``base_channels`` narrows the ResNet-18 (64: the standard widths 64..512) where a test trains
many steps and needs speed more than the standard backbone."""
from pathlib import Path
from typing import List

import torch
from mmcv import Config

from mmdet_lite.models import build_detector

CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'faster_rcnn' / 'faster_rcnn_r50_fpn_1x_coco.py'


def tiny_model_cfg(num_classes: int = 3, base_channels: int = 64):
    cfg = Config.fromfile(str(CONFIG)).model
    cfg.backbone.update(depth=18, base_channels=base_channels, init_cfg=None, frozen_stages=-1,
                        norm_eval=False)
    cfg.neck.update(in_channels=[base_channels * 2**i for i in range(4)], out_channels=32)
    cfg.rpn_head.update(in_channels=32, feat_channels=32)
    cfg.roi_head.bbox_roi_extractor.out_channels = 32
    cfg.roi_head.bbox_head.update(in_channels=32, fc_out_channels=64, num_classes=num_classes)
    return cfg


def build_tiny(seed: int = 0, num_classes: int = 3, channels_last=None, base_channels: int = 64):
    torch.manual_seed(seed)
    cfg = tiny_model_cfg(num_classes, base_channels)
    cfg.channels_last = channels_last
    model = build_detector(cfg)
    model.init_weights()
    return model


def img_metas(num_imgs: int, height: int = 128, width: int = 160):
    shape = (height, width, 3)
    return [dict(img_shape=shape, pad_shape=shape, ori_shape=shape, scale_factor=[1.0, 1.0, 1.0, 1.0], flip=False,
                 flip_direction=None)
            for _ in range(num_imgs)]


def sgd_steps(model, data: dict, optimizer, num_steps: int) -> List[float]:
    """``num_steps`` training steps on the same batch (``train_step``, backward, optimizer step);
    returns the total loss logged by each."""
    model.train()
    losses = []
    for _ in range(num_steps):
        outputs = model.train_step(data, optimizer)
        optimizer.zero_grad()
        outputs['loss'].backward()
        optimizer.step()
        losses.append(outputs['log_vars']['loss'])
    return losses
