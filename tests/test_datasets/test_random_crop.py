"""RandomCrop: MMDetection 2.28's window sizes, box shift/clip/filter and negative-crop rule."""
import numpy as np
import pytest

from mmdet_lite.datasets.builder import PIPELINES
from mmdet_lite.datasets.pipelines import RandomCrop


def _results(boxes=((10, 8, 30, 38), (50, 40, 90, 60)), labels=(1, 2)):
    img = np.arange(64 * 80 * 3, dtype=np.int64).reshape(64, 80, 3)
    seg = np.arange(64 * 80, dtype=np.int64).reshape(64, 80)
    return dict(img=img, img_shape=img.shape, img_fields=['img'], gt_semantic_seg=seg, seg_fields=['gt_semantic_seg'],
                gt_bboxes=np.array(boxes, dtype=np.float32).reshape(-1, 4), bbox_fields=['gt_bboxes'],
                gt_labels=np.array(labels, dtype=np.int64))


@pytest.fixture
def highest_offsets(monkeypatch):
    """np.random.randint(low, high) -> high - 1: the window sits at the bottom-right."""
    monkeypatch.setattr(np.random, 'randint', lambda low, high: high - 1)


def test_window_shifts_clips_and_filters_boxes_by_hand(highest_offsets):
    """64 x 80 image, (32, 40) window at offset (y 32, x 40): box 1 - (40, 32) = (-30, -24, -10, 6) has
    no area after clipping and goes with its label; box 2 -> (10, 8, 50, 28) clipped to x <= 40."""
    results = _results()
    full = results['img'].copy()
    out = PIPELINES.build(dict(type='RandomCrop', crop_size=(32, 40)))(results)
    np.testing.assert_array_equal(out['img'], full[32:, 40:])
    np.testing.assert_array_equal(out['gt_semantic_seg'], full[32:, 40:, 0] // 3)
    assert out['img_shape'] == (32, 40, 3)
    np.testing.assert_array_equal(out['gt_bboxes'], [[10, 8, 40, 28]])
    np.testing.assert_array_equal(out['gt_labels'], [2])


def test_crop_without_boxes_is_dropped_unless_negative_crops_are_allowed(highest_offsets):
    assert RandomCrop(crop_size=(32, 40))(_results(boxes=((0, 0, 20, 20), ), labels=(1, ))) is None
    out = RandomCrop(crop_size=(32, 40), allow_negative_crop=True)(_results(boxes=((0, 0, 20, 20), ), labels=(1, )))
    assert out['gt_bboxes'].shape == (0, 4) and out['gt_labels'].shape == (0, )


def test_without_clipping_boxes_outside_the_window_are_kept(highest_offsets):
    """2.28 keeps every shifted box with positive width and height, inside the window or not."""
    out = RandomCrop(crop_size=(32, 40), bbox_clip_border=False)(_results())
    np.testing.assert_array_equal(out['gt_bboxes'], [[-30, -24, -10, 6], [10, 8, 50, 28]])
    np.testing.assert_array_equal(out['gt_labels'], [1, 2])


def test_window_sizes_per_crop_type(monkeypatch):
    image_size = (64, 80)
    assert RandomCrop((100, 50))._get_crop_size(image_size) == (64, 50)  # capped by the image
    assert RandomCrop((0.5, 0.25), crop_type='relative')._get_crop_size(image_size) == (32, 20)
    monkeypatch.setattr(np.random, 'rand', lambda n: np.full(n, 0.5))
    # fractions 0.5 + 0.5 * (1 - 0.5) = 0.75 and 0.25 + 0.5 * 0.75 = 0.625 -> (48, 50)
    assert RandomCrop((0.5, 0.25), crop_type='relative_range')._get_crop_size(image_size) == (48, 50)
    monkeypatch.setattr(np.random, 'randint', lambda low, high: low)
    assert RandomCrop((30, 70), crop_type='absolute_range')._get_crop_size(image_size) == (30, 30)
    monkeypatch.setattr(np.random, 'randint', lambda low, high: high - 1)
    assert RandomCrop((30, 70), crop_type='absolute_range')._get_crop_size(image_size) == (64, 70)


@pytest.mark.parametrize('kwargs, match', [(dict(crop_size=(32, 40), crop_type='centre'), 'centre'),
                                           (dict(crop_size=(0.5, 40)), 'positive ints'),
                                           (dict(crop_size=(0.5, 1.5), crop_type='relative'), 'fractions'),
                                           (dict(crop_size=(70, 30), crop_type='absolute_range'), 'min, max')])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomCrop(**kwargs)
