"""Loading transforms: image from file, annotations, proposals (MMDetection 2.x result keys)."""
import os.path as osp
from typing import Dict, Optional

import mmcv
import numpy as np

from ...core.mask import bitmap_masks_from_coco
from ..builder import PIPELINES


class CorruptImageError(ValueError):
    """An image file that exists but cannot be decoded (empty, truncated, not an image)."""


@PIPELINES.register_module()
class LoadImageFromFile:
    """Load an image from ``results['img_prefix']/results['img_info']['filename']``.

    Adds ``filename``, ``ori_filename``, ``img`` (H, W, 3) uint8 in ``channel_order``
    (``'bgr'``, the default, or ``'rgb'``; float32 with ``to_float32``), ``img_shape``,
    ``ori_shape`` and ``img_fields=['img']``.

    Raises:
        FileNotFoundError: the file does not exist (message names it).
        CorruptImageError: the bytes cannot be decoded, e.g. an empty file or a truncated JPEG
            (message names the file).
    """

    def __init__(self, to_float32: bool = False, color_type: str = 'color', channel_order: str = 'bgr',
                 file_client_args: Optional[dict] = None) -> None:
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.to_float32 = to_float32
        self.color_type = color_type
        self.channel_order = channel_order
        self.file_client_args = dict(backend='disk') if file_client_args is None \
            else file_client_args.copy()
        self.file_client = None

    def __call__(self, results: Dict) -> Dict:
        if self.file_client is None:
            self.file_client = mmcv.FileClient(**self.file_client_args)
        if results.get('img_prefix') is not None:
            filename = osp.join(results['img_prefix'], results['img_info']['filename'])
        else:
            filename = results['img_info']['filename']
        if self.file_client_args.get('backend') == 'disk' and not osp.isfile(filename):
            raise FileNotFoundError(f'image file {filename!r} does not exist')
        img_bytes = self.file_client.get(filename)
        if len(img_bytes) == 0:  # OpenCV's own error would not name the file
            raise CorruptImageError(f'image file {filename!r} is empty (0 bytes)')
        img = mmcv.imfrombytes(img_bytes, flag=self.color_type, channel_order=self.channel_order)
        if img is None:  # OpenCV returns None for undecodable and truncated files
            raise CorruptImageError(f'cannot decode image file {filename!r} '
                                    f'({len(img_bytes)} bytes): unreadable or truncated image')
        if self.to_float32:
            img = img.astype(np.float32)
        results['filename'] = filename
        results['ori_filename'] = results['img_info']['filename']
        results['img'] = img
        results['img_shape'] = img.shape
        results['ori_shape'] = img.shape
        results['img_fields'] = ['img']
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', channel_order='{self.channel_order}', "
                f'file_client_args={self.file_client_args})')


@PIPELINES.register_module()
class LoadImageFromWebcam(LoadImageFromFile):
    """Take the image array already in ``results['img']`` (H, W, 3) BGR, e.g. a video frame or an
    array given to ``inference_detector``; ``filename`` and ``ori_filename`` are None."""

    def __call__(self, results: Dict) -> Dict:
        img = results['img']
        if self.to_float32:
            img = img.astype(np.float32)
        results['filename'] = None
        results['ori_filename'] = None
        results['img'] = img
        results['img_shape'] = img.shape
        results['ori_shape'] = img.shape
        results['img_fields'] = ['img']
        return results


@PIPELINES.register_module()
class LoadAnnotations:
    """Copy boxes and labels from ``results['ann_info']``.

    Adds ``gt_bboxes`` (k, 4) float32 x1y1x2y2, ``gt_bboxes_ignore`` (j, 4) float32 when
    present (both appended to ``bbox_fields``), ``gt_labels`` (k,) int64 and, when the
    annotation has them (OpenImages), ``gt_is_group_ofs`` (k,) bool. ``denorm_bbox``: the
    boxes are relative to the image size (OpenImages) and are scaled by ``img_shape``.
    ``with_mask`` adds ``gt_masks``, :class:`BitmapMasks` of the image size decoded from
    ``ann_info['masks']`` (COCO polygons or RLE; appended to ``mask_fields``), which the transforms
    follow; no model here uses them. Polygon masks (``poly2mask=False``) and semantic maps are not
    supported.
    """

    def __init__(self, with_bbox: bool = True, with_label: bool = True, with_mask: bool = False,
                 with_seg: bool = False, poly2mask: bool = True, denorm_bbox: bool = False,
                 file_client_args: Optional[dict] = None) -> None:
        if with_seg or (with_mask and not poly2mask):
            raise NotImplementedError(
                f'LoadAnnotations(with_mask={with_mask}, poly2mask={poly2mask}, with_seg={with_seg}): '
                f'mmdet_lite loads boxes, labels and bitmap masks only')
        self.with_bbox = with_bbox
        self.with_label = with_label
        self.with_mask = with_mask
        self.with_seg = with_seg
        self.poly2mask = poly2mask
        self.denorm_bbox = denorm_bbox
        self.file_client_args = dict(backend='disk') if file_client_args is None \
            else file_client_args.copy()

    def _load_bboxes(self, results: Dict) -> Dict:
        ann_info = results['ann_info']
        results['gt_bboxes'] = ann_info['bboxes'].copy()
        if self.denorm_bbox:
            height, width = results['img_shape'][:2]
            results['gt_bboxes'] *= np.array([width, height, width, height], dtype=np.float32)
        if ann_info.get('gt_is_group_ofs', None) is not None:
            results['gt_is_group_ofs'] = ann_info['gt_is_group_ofs'].copy()
        gt_bboxes_ignore = ann_info.get('bboxes_ignore', None)
        if gt_bboxes_ignore is not None:
            results['gt_bboxes_ignore'] = gt_bboxes_ignore.copy()
            results['bbox_fields'].append('gt_bboxes_ignore')
        results['bbox_fields'].append('gt_bboxes')
        return results

    @staticmethod
    def _load_masks(results: Dict) -> Dict:
        img_info = results['img_info']
        results['gt_masks'] = bitmap_masks_from_coco(results['ann_info']['masks'], img_info['height'],
                                                     img_info['width'])
        results['mask_fields'].append('gt_masks')
        return results

    def __call__(self, results: Dict) -> Dict:
        if self.with_bbox:
            results = self._load_bboxes(results)
        if self.with_label:
            results['gt_labels'] = results['ann_info']['labels'].copy()
        if self.with_mask:
            results = self._load_masks(results)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(with_bbox={self.with_bbox}, '
                f'with_label={self.with_label}, with_mask={self.with_mask}, '
                f'with_seg={self.with_seg}, poly2mask={self.poly2mask}, '
                f'denorm_bbox={self.denorm_bbox})')


@PIPELINES.register_module()
class LoadProposals:
    """Take the first ``num_max_proposals`` rows of ``results['proposals']`` (n, 4 or 5)."""

    def __init__(self, num_max_proposals: Optional[int] = None) -> None:
        self.num_max_proposals = num_max_proposals

    def __call__(self, results: Dict) -> Dict:
        proposals = results['proposals']
        if proposals.ndim != 2 or proposals.shape[1] not in (4, 5):
            raise ValueError(f'proposals should have shape (n, 4) or (n, 5), '
                             f'got {proposals.shape}')
        proposals = proposals[:, :4]
        if self.num_max_proposals is not None:
            proposals = proposals[:self.num_max_proposals]
        if len(proposals) == 0:
            proposals = np.array([[0, 0, 0, 0]], dtype=np.float32)
        results['proposals'] = proposals
        results['bbox_fields'].append('proposals')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_max_proposals={self.num_max_proposals})'
