"""Masks loaded with ``with_mask=True`` follow the boxes through the crop640-style train pipeline."""
import numpy as np
import pytest

from mmdet_lite.core.mask import BitmapMasks
from mmdet_lite.datasets.pipelines import Compose

BOXES = [(4, 6, 30, 20), (20, 30, 56, 50)]


def _results():
    polygons = [[[x1, y1, x2, y1, x2, y2, x1, y2]] for x1, y1, x2, y2 in BOXES]
    img = np.zeros((60, 64, 3), dtype=np.uint8)
    return dict(img=img, img_shape=img.shape, ori_shape=img.shape, img_fields=['img'],
                img_info=dict(height=60, width=64), bbox_fields=[], mask_fields=[], seg_fields=[],
                ann_info=dict(bboxes=np.array(BOXES, dtype=np.float32), labels=np.array([0, 1]), masks=polygons))


@pytest.mark.parametrize('seed', range(4))
def test_masks_follow_boxes_through_resize_crop_flip_pad(seed):
    np.random.seed(seed)
    pipeline = Compose([dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                        dict(type='Resize', img_scale=(64, 64), ratio_range=(0.8, 1.2), keep_ratio=True),
                        dict(type='RandomCrop', crop_size=(40, 40), allow_negative_crop=True),
                        dict(type='RandomFlip', flip_ratio=0.5),
                        dict(type='Pad', size=(48, 48))])
    out = pipeline(_results())
    masks = out['gt_masks']
    assert isinstance(masks, BitmapMasks) and out['mask_fields'] == ['gt_masks']
    assert (masks.height, masks.width) == out['pad_shape'][:2] == (48, 48)
    assert len(masks) == len(out['gt_bboxes']) == len(out['gt_labels'])
    # the polygon covers pixels x1..x2-1 (see test_mask_structures); nearest resizing moves edges by <= 2 px
    np.testing.assert_allclose(masks.get_bboxes(), out['gt_bboxes'], atol=2.5)


def test_format_bundle_keeps_masks_cpu_only_and_collect_drops_them():
    np.random.seed(0)
    out = Compose([dict(type='LoadAnnotations', with_bbox=True, with_mask=True), dict(type='DefaultFormatBundle'),
                   dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'], meta_keys=['img_shape'])])(_results())
    assert set(out) == {'img_metas', 'img', 'gt_bboxes', 'gt_labels'}
    bundled = Compose([dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                       dict(type='DefaultFormatBundle')])(_results())
    assert bundled['gt_masks'].cpu_only and len(bundled['gt_masks'].data) == 2
