"""Detector base class (MMDetection 2.x ``BaseDetector``): train/test dispatch, loss parsing, train step."""
from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
import torch.distributed as dist
from mmcv.runner import BaseModule

from ...core.fp16 import auto_fp16


class BaseDetector(BaseModule, metaclass=ABCMeta):
    """``forward(img, img_metas, return_loss=True, **kwargs)`` -> ``forward_train`` (losses dict) or
    ``forward_test`` (per image, per class float32 arrays (n, 5)).

    Symbols: N images per batch, A test-time augmentations, H x W the padded batch size.
    """

    def __init__(self, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.fp16_enabled = False
        # ``DetDataPreprocessor`` set by ``train_detector`` with ``device_preprocess`` on: the
        # training batches then come unnormalised (``DeviceNormalize``, ``DevicePad``)
        self.data_preprocessor: Optional[torch.nn.Module] = None

    @property
    def with_neck(self) -> bool:
        return hasattr(self, 'neck') and self.neck is not None

    @property
    def with_shared_head(self) -> bool:
        return hasattr(self, 'roi_head') and self.roi_head.with_shared_head

    @property
    def with_bbox(self) -> bool:
        return ((hasattr(self, 'roi_head') and self.roi_head.with_bbox)
                or (hasattr(self, 'bbox_head') and self.bbox_head is not None))

    @property
    def with_mask(self) -> bool:
        return ((hasattr(self, 'roi_head') and self.roi_head.with_mask)
                or (hasattr(self, 'mask_head') and self.mask_head is not None))

    @abstractmethod
    def extract_feat(self, imgs: torch.Tensor):
        """Backbone (+ neck) features of (N, 3, H, W) images."""

    def extract_feats(self, imgs: List[torch.Tensor]) -> list:
        """Features of each augmentation's batch."""
        if not isinstance(imgs, list):
            raise TypeError(f'imgs must be a list of tensors (one per augmentation), got {type(imgs)}')
        return [self.extract_feat(img) for img in imgs]

    def forward_train(self, imgs: torch.Tensor, img_metas: List[dict], **kwargs) -> dict:
        """Record the padded batch shape (H, W) as ``batch_input_shape`` in every image meta."""
        batch_input_shape = tuple(imgs[0].size()[-2:])
        for img_meta in img_metas:
            img_meta['batch_input_shape'] = batch_input_shape
        return {}

    @abstractmethod
    def simple_test(self, img: torch.Tensor, img_metas: List[dict], **kwargs):
        """Test without augmentation."""

    @abstractmethod
    def aug_test(self, imgs: List[torch.Tensor], img_metas: List[List[dict]], **kwargs):
        """Test with augmentations."""

    def forward_test(self, imgs: List[torch.Tensor], img_metas: List[List[dict]], **kwargs):
        """imgs: A tensors (N, 3, H, W); img_metas: A lists of N dicts. One augmentation -> ``simple_test``."""
        for var, name in [(imgs, 'imgs'), (img_metas, 'img_metas')]:
            if not isinstance(var, list):
                raise TypeError(f'{name} must be a list, but got {type(var)}')
        num_augs = len(imgs)
        if num_augs != len(img_metas):
            raise ValueError(f'num of augmentations ({len(imgs)}) != num of image meta ({len(img_metas)})')
        for img, img_meta in zip(imgs, img_metas):
            for meta in img_meta:
                meta['batch_input_shape'] = tuple(img.size()[-2:])
        if num_augs == 1:
            if 'proposals' in kwargs:
                kwargs['proposals'] = kwargs['proposals'][0]
            return self.simple_test(imgs[0], img_metas[0], **kwargs)
        if imgs[0].size(0) != 1:
            raise ValueError(f'aug test supports only batch size 1, got imgs[0] of shape {tuple(imgs[0].shape)}')
        if 'proposals' in kwargs:
            raise ValueError('aug test does not support precomputed proposals')
        return self.aug_test(imgs, img_metas, **kwargs)

    @auto_fp16
    def forward(self, img, img_metas, return_loss: bool = True, **kwargs):
        """Train: ``img`` (N, 3, H, W), ``img_metas`` N dicts, gt kwargs -> losses. Test (``return_loss=False``):
        lists over augmentations -> detections."""
        if return_loss:
            return self.forward_train(img, img_metas, **kwargs)
        return self.forward_test(img, img_metas, **kwargs)

    def _parse_losses(self, losses: Dict[str, Union[torch.Tensor, List[torch.Tensor]]]
                      ) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Total loss (sum of entries whose name contains ``'loss'``) and float log values.

        Tensors are averaged, lists of tensors summed over their means. Under torch.distributed every log
        value is averaged over ranks (MMDetection 2.x all-reduces each entry; here all go in one tensor).
        The floats are read from the device in one go; ``train_step`` leaves them there (see
        ``_reduce_losses``).
        """
        loss, log_vars = self._reduce_losses(losses)
        return loss, OrderedDict(zip(log_vars.keys(), torch.stack(list(log_vars.values())).tolist()))

    def _reduce_losses(self, losses: Dict[str, Union[torch.Tensor, List[torch.Tensor]]]
                       ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """``_parse_losses`` without the read: the log values are detached 0-d tensors on the
        losses' device, in a dtype that holds each exactly (``float(value)`` is 2.x's float)."""
        log_vars = OrderedDict()
        for loss_name, loss_value in losses.items():
            if isinstance(loss_value, torch.Tensor):
                log_vars[loss_name] = loss_value.mean()
            elif isinstance(loss_value, list) and all(_loss.dim() == 0 for _loss in loss_value) and loss_value:
                log_vars[loss_name] = torch.stack(loss_value).sum()  # per-level scalars: two operators
            elif isinstance(loss_value, list):
                log_vars[loss_name] = sum(_loss.mean() for _loss in loss_value)
            else:
                raise TypeError(f'{loss_name} is not a tensor or list of tensors')
        loss = sum(_value for _key, _value in log_vars.items() if 'loss' in _key)

        distributed = dist.is_available() and dist.is_initialized()
        if distributed:
            # ranks with different log keys would deadlock in the all-reduces below
            log_var_length = torch.tensor(len(log_vars), device=loss.device)
            dist.all_reduce(log_var_length)
            if log_var_length != len(log_vars) * dist.get_world_size():
                raise RuntimeError(f'loss log variables are different across GPUs!\nrank {dist.get_rank()} '
                                   f'len(log_vars): {len(log_vars)} keys: ' + ','.join(log_vars.keys()))
        log_vars['loss'] = loss
        # one tensor (stack promotes to a dtype that holds each value exactly) and one all-reduce for
        # all values, not one per entry
        values = torch.stack(list(log_vars.values())).detach()
        if distributed:
            dist.all_reduce(values.div_(dist.get_world_size()))
        return loss, OrderedDict(zip(log_vars.keys(), values.unbind()))

    def _preprocess(self, data: dict) -> dict:
        """``data`` with ``img`` normalised and padded by ``data_preprocessor``, when there is one."""
        if self.data_preprocessor is None:
            return data
        return {**data, 'img': self.data_preprocessor(data['img'], data['img_metas'])}

    def train_step(self, data: dict, optimizer) -> dict:
        """One training iteration's forward: ``dict(loss, log_vars, num_samples)``; backward and the
        optimizer step are done by the runner's OptimizerHook.

        ``log_vars`` holds 0-d tensors on the model's device, not 2.x's floats: reading them waits
        for the device, so the runner's log buffer reads them once per logging interval.
        """
        losses = self(**self._preprocess(data))
        loss, log_vars = self._reduce_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data['img_metas']))

    def val_step(self, data: dict, optimizer=None) -> dict:
        """Same as ``train_step`` (used by a ``('val', 1)`` workflow)."""
        losses = self(**self._preprocess(data))
        loss, log_vars = self._reduce_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data['img_metas']))

    def show_result(self, img, result, score_thr: float = 0.3, bbox_color=(72, 101, 241),
                    text_color=(72, 101, 241), mask_color=None, thickness: int = 2,
                    font_size: float = 13, win_name: str = '', show: bool = False,
                    wait_time: float = 0, out_file: Optional[str] = None) -> Optional[np.ndarray]:
        """Draw ``result`` (per class (n, 5) arrays, or a tuple (those, masks)) on ``img`` (a
        file or a BGR array, not modified) with the names in ``self.CLASSES``.

        Colours are palettes for ``get_palette`` (one RGB tuple, a list indexed by label such as
        a dataset's ``PALETTE``, 'coco', ...). With ``out_file`` the image is written there and
        not shown.

        Returns:
            the drawn BGR image when neither shown nor written, else None.
        """
        # matplotlib (most of a second to import) loads only when something is drawn
        from ...core.visualization import imshow_det_bboxes, parse_det_result
        img = mmcv.imread(img).copy()
        bboxes, labels, segms = parse_det_result(result)
        if out_file is not None:
            show = False
        img = imshow_det_bboxes(img, bboxes, labels, segms, class_names=getattr(self, 'CLASSES', None),
                                score_thr=score_thr, bbox_color=bbox_color, text_color=text_color,
                                mask_color=mask_color, thickness=thickness, font_size=font_size,
                                win_name=win_name, show=show, wait_time=wait_time, out_file=out_file)
        if not (show or out_file):
            return img
        return None
