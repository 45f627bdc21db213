"""Pipeline transforms: hand-computed shapes and boxes, round trips, seeded randomness."""
import copy

import mmcv
import numpy as np
import pytest
import torch
from mmcv.parallel import DataContainer

from mmdet_lite.datasets.builder import PIPELINES
from mmdet_lite.datasets.pipelines import (Collect, Compose, CorruptImageError,
                                           DefaultFormatBundle, ImageToTensor, LoadAnnotations,
                                           LoadImageFromFile, MultiScaleFlipAug, Normalize, Pad,
                                           RandomFlip, Resize, ToDataContainer)
from mmdet_lite.datasets.pipelines.formating import DEFAULT_META_KEYS
from mmdet_lite.datasets.utils import get_loading_pipeline, replace_ImageToTensor

from .helpers import write_image


def make_results(height=64, width=80, boxes=((10, 8, 30, 38),)):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return dict(img=img, img_shape=img.shape, ori_shape=img.shape, img_fields=['img'],
                gt_bboxes=np.array(boxes, dtype=np.float32), bbox_fields=['gt_bboxes'])


def test_resize_keep_ratio_hand_computed():
    results = Resize(img_scale=(64, 48), keep_ratio=True)(make_results())
    # s = min(64 / 80, 48 / 64) = 0.75 -> 60 x 48
    assert results['img'].shape == (48, 60, 3)
    assert results['img_shape'] == results['pad_shape'] == (48, 60, 3)
    np.testing.assert_allclose(results['scale_factor'], [0.75] * 4)
    assert results['scale_factor'].dtype == np.float32
    np.testing.assert_allclose(results['gt_bboxes'], [[7.5, 6, 22.5, 28.5]])
    assert results['keep_ratio'] is True and results['scale'] == (64, 48)


def test_resize_scale_factor_is_per_axis_and_maps_boxes_back():
    boxes = ((3, 2, 40, 25), (60, 5, 99, 29))
    results = Resize(img_scale=(200, 50), keep_ratio=True)(make_results(30, 100, boxes))
    # s = min(200 / 100, 50 / 30) = 5/3 -> new (w, h) = (int(166.67 + .5), int(50 + .5)) = (167, 50)
    assert results['img'].shape[:2] == (50, 167)
    np.testing.assert_allclose(results['scale_factor'], [1.67, 50 / 30, 1.67, 50 / 30], rtol=1e-6)
    np.testing.assert_allclose(results['gt_bboxes'] / results['scale_factor'], boxes, rtol=1e-5)


def test_resize_without_keep_ratio_and_border_clipping():
    boxes = ((95, 25, 110, 35),)
    clipped = Resize(img_scale=(50, 40), keep_ratio=False)(make_results(30, 100, boxes))
    assert clipped['img'].shape == (40, 50, 3)
    np.testing.assert_allclose(clipped['scale_factor'], [0.5, 40 / 30, 0.5, 40 / 30])
    np.testing.assert_allclose(clipped['gt_bboxes'], [[47.5, 100 / 3, 50, 40]], rtol=1e-5)
    free = Resize(img_scale=(50, 40), keep_ratio=False, bbox_clip_border=False)(
        make_results(30, 100, boxes))
    np.testing.assert_allclose(free['gt_bboxes'], [[47.5, 100 / 3, 55, 140 / 3]], rtol=1e-5)


def test_resize_preset_scale_factor():
    results = make_results()
    results['scale_factor'] = 0.5
    out = Resize(keep_ratio=True)(results)
    assert out['img'].shape == (32, 40, 3)
    np.testing.assert_allclose(out['gt_bboxes'], [[5, 4, 15, 19]])


def test_resize_range_mode_draws_edges_within_bounds_reproducibly():
    resize = Resize(img_scale=[(100, 40), (140, 60)], multiscale_mode='range')
    np.random.seed(3)
    scales = [resize(make_results())['scale'] for _ in range(50)]
    longs, shorts = np.array(scales).T
    assert longs.min() >= 100 and longs.max() <= 140 and shorts.min() >= 40 and shorts.max() <= 60
    assert len(set(scales)) > 10
    np.random.seed(3)
    assert [resize(make_results())['scale'] for _ in range(50)] == scales


def test_resize_value_mode_and_ratio_range():
    resize = Resize(img_scale=[(100, 40), (140, 60)], multiscale_mode='value')
    np.random.seed(0)
    picked = {resize(make_results())['scale'] for _ in range(30)}
    assert picked == {(100, 40), (140, 60)}
    ratio_resize = Resize(img_scale=(100, 50), ratio_range=(0.5, 1.5))
    np.random.seed(7)
    ratio = np.random.random_sample() * (1.5 - 0.5) + 0.5
    np.random.seed(7)
    assert ratio_resize(make_results())['scale'] == (int(100 * ratio), int(50 * ratio))



def test_resize_scales_seg_fields_with_nearest_interpolation():
    seg = np.arange(24, dtype=np.uint8).reshape(4, 6)
    results = make_results(4, 6, boxes=np.zeros((0, 4)))
    results.update(gt_semantic_seg=seg, seg_fields=['gt_semantic_seg'])
    up = Resize(img_scale=(12, 8), keep_ratio=True)(copy.deepcopy(results))
    # factor 2: each label becomes a 2x2 block, no new values in between
    np.testing.assert_array_equal(up['gt_semantic_seg'], seg.repeat(2, axis=0).repeat(2, axis=1))
    down = Resize(img_scale=(3, 2), keep_ratio=False)(results)
    # factor 1/2: nearest takes source pixel floor(2 * x), i.e. rows and columns 0, 2, 4
    np.testing.assert_array_equal(down['gt_semantic_seg'], seg[::2, ::2])

def test_resize_rejects_both_scale_and_scale_factor():
    results = make_results()
    results['scale'], results['scale_factor'] = (64, 48), 0.5
    with pytest.raises(ValueError, match='scale and scale_factor'):
        Resize(img_scale=(64, 48))(results)


@pytest.mark.parametrize('direction,expected', [
    ('horizontal', [50, 8, 70, 38]), ('vertical', [10, 26, 30, 56]),
    ('diagonal', [50, 26, 70, 56])])
def test_flip_boxes_hand_computed(direction, expected):
    results = RandomFlip(flip_ratio=1.0, direction=direction)(make_results())
    assert results['flip'] is True and results['flip_direction'] == direction
    np.testing.assert_allclose(results['gt_bboxes'], [expected])


@pytest.mark.parametrize('direction', ['horizontal', 'vertical', 'diagonal'])
def test_flip_twice_is_identity(direction):
    original = make_results(boxes=((10, 8, 30, 38), (0, 0, 80, 64)))
    flip = RandomFlip(flip_ratio=1.0, direction=direction)
    once = flip(copy.deepcopy(original))
    assert not np.array_equal(once['img'], original['img'])
    for key in ('flip', 'flip_direction'):
        once.pop(key)
    twice = flip(once)
    np.testing.assert_array_equal(twice['img'], original['img'])
    np.testing.assert_array_equal(twice['gt_bboxes'], original['gt_bboxes'])


def test_flip_ratio_zero_never_flips_and_half_flips_about_half():
    never = RandomFlip(flip_ratio=0.0)
    assert not any(never(make_results())['flip'] for _ in range(20))
    np.random.seed(0)
    half = RandomFlip(flip_ratio=0.5)
    flips = sum(half(make_results())['flip'] for _ in range(400))
    assert 160 < flips < 240


def test_flip_list_forms_pick_directions_by_probability():
    flip = RandomFlip(flip_ratio=[0.0, 1.0], direction=['horizontal', 'vertical'])
    assert {flip(make_results())['flip_direction'] for _ in range(10)} == {'vertical'}
    with pytest.raises(ValueError, match='same length'):
        RandomFlip(flip_ratio=[0.5], direction=['horizontal', 'vertical'])
    with pytest.raises(ValueError, match='flip_ratio must be in'):
        RandomFlip(flip_ratio=1.5)


def test_normalize_hand_computed():
    img = np.zeros((2, 2, 3), dtype=np.uint8)
    img[...] = (10, 20, 30)  # BGR
    results = Normalize(mean=[1, 2, 3], std=[2, 2, 2], to_rgb=True)(dict(img=img,
                                                                         img_fields=['img']))
    np.testing.assert_allclose(results['img'][0, 0], [14.5, 9.0, 3.5])
    assert results['img'].dtype == np.float32
    np.testing.assert_array_equal(results['img_norm_cfg']['mean'], np.float32([1, 2, 3]))


def test_pad_to_multiple_and_fixed_size_keep_content_and_boxes():
    results = Resize(img_scale=(64, 48))(make_results())  # 48 x 60
    content = results['img'].copy()
    padded = Pad(size_divisor=32)(results)
    assert padded['img'].shape == (64, 64, 3) and padded['pad_shape'] == (64, 64, 3)
    assert padded['img_shape'] == (48, 60, 3) and padded['pad_size_divisor'] == 32
    np.testing.assert_array_equal(padded['img'][:48, :60], content)
    assert padded['img'][48:].sum() == 0 and padded['img'][:, 60:].sum() == 0
    np.testing.assert_allclose(padded['gt_bboxes'], [[7.5, 6, 22.5, 28.5]])
    fixed = Pad(size=(50, 70))(make_results(40, 60))
    assert fixed['img'].shape == (50, 70, 3) and fixed['pad_fixed_size'] == (50, 70)
    with pytest.raises(ValueError, match='exactly one'):
        Pad(size=(50, 70), size_divisor=32)


def test_format_bundle_and_collect():
    results = Pad(size_divisor=32)(Normalize([0] * 3, [1] * 3)(
        RandomFlip(flip_ratio=0.0)(Resize(img_scale=(64, 48))(make_results()))))
    results['gt_labels'] = np.array([2])
    results['ori_filename'], results['filename'] = 'a.jpg', '/x/a.jpg'
    data = Collect(keys=['img', 'gt_bboxes', 'gt_labels'])(DefaultFormatBundle()(results))
    assert set(data) == {'img_metas', 'img', 'gt_bboxes', 'gt_labels'}
    assert isinstance(data['img'], DataContainer) and data['img'].stack
    assert data['img'].data.shape == (3, 64, 64) and data['img'].data.is_contiguous()
    assert not data['gt_bboxes'].stack and data['gt_labels'].data.dtype == torch.int64
    assert data['img_metas'].cpu_only
    assert tuple(data['img_metas'].data) == DEFAULT_META_KEYS
    assert data['img_metas'].data['pad_shape'] == (64, 64, 3)


def test_default_format_bundle_fills_missing_meta():
    out = DefaultFormatBundle()(dict(img=np.zeros((4, 6, 3), dtype=np.uint8)))
    assert out['scale_factor'] == 1.0 and out['pad_shape'] == (4, 6, 3)
    assert out['img_norm_cfg']['to_rgb'] is False


def test_image_to_tensor_is_chw_without_data_container():
    out = ImageToTensor(keys=['img'])(dict(img=np.arange(24, dtype=np.uint8).reshape(2, 4, 3)))
    assert isinstance(out['img'], torch.Tensor) and out['img'].shape == (3, 2, 4)
    assert out['img'][1, 0, 1].item() == 4


def test_multi_scale_flip_aug_lists_every_augmentation():
    aug = MultiScaleFlipAug(img_scale=[(64, 48), (32, 24)], flip=True, transforms=[
        dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'], meta_keys=['img_shape', 'flip'])])
    out = aug(make_results())
    assert len(out['img']) == 4
    metas = [dc.data for dc in out['img_metas']]
    assert [m['flip'] for m in metas] == [False, True, False, True]
    assert [m['img_shape'][:2] for m in metas] == [(48, 60)] * 2 + [(24, 30)] * 2
    with pytest.raises(ValueError, match='only one'):
        MultiScaleFlipAug(transforms=[], img_scale=(1, 1), scale_factor=1.0)


def test_train_pipeline_meta_maps_boxes_back_to_original(tmp_path):
    write_image(tmp_path / 'a.jpg', 64, 80)
    boxes = np.array([[10, 8, 30, 38], [40, 20, 79, 63]], dtype=np.float32)
    pipeline = Compose([
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', img_scale=(200, 120), keep_ratio=True),
        dict(type='RandomFlip', flip_ratio=1.0), dict(type='Normalize', mean=[0] * 3,
                                                      std=[1] * 3),
        dict(type='Pad', size_divisor=32), dict(type='DefaultFormatBundle'),
        dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'])])
    results = dict(img_info=dict(filename='a.jpg'), img_prefix=str(tmp_path), bbox_fields=[],
                   ann_info=dict(bboxes=boxes, labels=np.array([0, 1]),
                                 bboxes_ignore=np.zeros((0, 4), np.float32)))
    data = pipeline(results)
    meta = data['img_metas'].data
    assert meta['ori_shape'] == (64, 80, 3) and meta['img_shape'] == (120, 150, 3)
    assert meta['pad_shape'] == (128, 160, 3) and meta['flip_direction'] == 'horizontal'
    out = data['gt_bboxes'].data.numpy()
    unflipped = RandomFlip.bbox_flip(out, meta['img_shape'], meta['flip_direction'])
    np.testing.assert_allclose(unflipped / meta['scale_factor'], boxes, rtol=1e-5)


def test_compose_stops_on_none_and_registry_builds_by_name():
    assert Compose([lambda r: None, lambda r: 1 / 0])({}) is None
    assert isinstance(PIPELINES.build(dict(type='Pad', size_divisor=8)), Pad)


def test_replace_image_to_tensor_inside_multi_scale_flip_aug():
    pipeline = [dict(type='LoadImageFromFile'), dict(
        type='MultiScaleFlipAug', img_scale=(1, 1),
        transforms=[dict(type='ImageToTensor', keys=['img'])])]
    with pytest.warns(UserWarning, match='DefaultFormatBundle'):
        replaced = replace_ImageToTensor(pipeline)
    assert replaced[1]['transforms'] == [dict(type='DefaultFormatBundle')]
    assert pipeline[1]['transforms'][0]['type'] == 'ImageToTensor'


def test_get_loading_pipeline_keeps_only_loading_steps():
    train = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
             dict(type='Resize', img_scale=(1, 1)), dict(type='Collect', keys=['img'])]
    assert get_loading_pipeline(train) == train[:2]


def test_loading_errors_name_the_file(tmp_path):
    load = LoadImageFromFile()
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        load(dict(img_prefix=str(tmp_path), img_info=dict(filename='missing.jpg')))
    (tmp_path / 'empty.jpg').write_bytes(b'')
    with pytest.raises(CorruptImageError, match=f"^image file '{tmp_path / 'empty.jpg'}' is empty "
                                                r'\(0 bytes\)$'):
        load(dict(img_prefix=str(tmp_path), img_info=dict(filename='empty.jpg')))
    (tmp_path / 'junk.jpg').write_bytes(b'not an image at all')
    with pytest.raises(CorruptImageError, match='junk.jpg'):
        load(dict(img_prefix=str(tmp_path), img_info=dict(filename='junk.jpg')))
    write_image(tmp_path / 'whole.jpg', 64, 80)
    data = (tmp_path / 'whole.jpg').read_bytes()
    (tmp_path / 'cut.jpg').write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptImageError, match='cut.jpg.*truncated'):
        load(dict(img_prefix=str(tmp_path), img_info=dict(filename='cut.jpg')))
    ok = load(dict(img_prefix=str(tmp_path), img_info=dict(filename='whole.jpg')))
    assert ok['img'].shape == (64, 80, 3) and ok['ori_filename'] == 'whole.jpg'
    with pytest.raises(NotImplementedError, match='poly2mask'):
        LoadAnnotations(with_mask=True, poly2mask=False)



def test_load_image_channel_order_bgr_by_default_or_rgb(tmp_path):
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 10, 20, 30
    mmcv.imwrite(bgr, str(tmp_path / 'px.png'))  # cv2 writes the array as BGR
    info = dict(img_prefix=str(tmp_path), img_info=dict(filename='px.png'))
    assert LoadImageFromFile()(dict(info))['img'][0, 0].tolist() == [10, 20, 30]
    assert LoadImageFromFile(channel_order='rgb')(dict(info))['img'][0, 0].tolist() == [30, 20, 10]
    with pytest.raises(ValueError, match="channel_order must be 'bgr' or 'rgb', got 'rbg'"):
        LoadImageFromFile(channel_order='rbg')

def test_to_data_container_wraps_each_field_with_its_options():
    results = ToDataContainer(fields=[dict(key='proposals', stack=False), dict(key='img', stack=True)])(
        dict(proposals=torch.zeros(2, 4), img=torch.zeros(3, 4, 4)))
    assert not results['proposals'].stack and results['img'].stack
    assert results['proposals'].data.shape == (2, 4)
