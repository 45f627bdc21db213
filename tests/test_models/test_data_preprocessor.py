"""device_preprocess: DeviceNormalize/DevicePad + DetDataPreprocessor give the CPU pipeline's batch,
the same losses, only in training pipelines; PrefetchLoader pins the images."""
import logging

import mmcv
import numpy as np
import pytest
import torch
from mmcv.parallel import DataContainer, collate

from mmdet_lite.apis.train import setup_device_preprocess
from mmdet_lite.datasets.dataset_wrappers import RepeatDataset
from mmdet_lite.datasets.pipelines import Compose, DeviceNormalize, DevicePad, Normalize, Pad
from mmdet_lite.datasets.prefetch_loader import pin_batch_images
from mmdet_lite.datasets.utils import (dataset_pipelines, device_preprocess_settings,
                                       move_normalize_to_device)
from mmdet_lite.models.detectors import DetDataPreprocessor

from .tiny_faster_rcnn import build_tiny

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
IMG_SIZES = ((40, 60), (52, 38), (45, 45))  # (h, w)
LOGGER = logging.getLogger(__name__)


def _pipeline_cfg(to_rgb=True, pad=dict(size_divisor=32)):
    return [dict(type='Resize', img_scale=(64, 48), keep_ratio=True),
            dict(type='RandomFlip', flip_ratio=0.5),
            dict(type='Normalize', mean=MEAN, std=STD, to_rgb=to_rgb),
            dict(type='Pad', **pad),
            dict(type='DefaultFormatBundle'),
            dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'])]


def _samples(float_img=False):
    rng = np.random.default_rng(0)
    samples = []
    for height, width in IMG_SIZES:
        img = rng.uniform(0, 255, (height, width, 3)).astype(np.float32) if float_img else \
            rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        samples.append(dict(img=img, img_shape=img.shape, ori_shape=img.shape, img_fields=['img'],
                            filename=f'{height}x{width}.jpg', ori_filename=f'{height}x{width}.jpg',
                            gt_bboxes=np.array([[4, 6, 30, 35]], dtype=np.float32),
                            gt_labels=np.array([1]), bbox_fields=['gt_bboxes']))
    return samples


def _batch(pipeline_cfg, device, float_img=False, seed=1):
    """The collated batch of the three samples (seeded flips), unpacked as the scatter gives it."""
    pipeline = Compose(pipeline_cfg)
    if device:
        move_normalize_to_device([pipeline])
    np.random.seed(seed)
    batch = collate([pipeline(sample) for sample in _samples(float_img)], samples_per_gpu=3)
    return {key: value.data[0] for key, value in batch.items()}


def _assert_metas_equal(got, expected):
    assert len(got) == len(expected)
    for got_meta, expected_meta in zip(got, expected):
        assert got_meta.keys() == expected_meta.keys()
        for key, value in expected_meta.items():
            if key == 'img_norm_cfg':
                for name in ('mean', 'std'):
                    np.testing.assert_array_equal(got_meta[key][name], value[name])
                assert got_meta[key]['to_rgb'] == value['to_rgb']
            else:
                np.testing.assert_array_equal(got_meta[key], value)


@pytest.mark.parametrize('to_rgb, pad, float_img', [
    (True, dict(size_divisor=32), False),
    (False, dict(size=(72, 80), pad_val=dict(img=1.5, masks=0, seg=255)), False),
    (True, dict(pad_to_square=True), True),  # a float image, as after PhotoMetricDistortion
])
def test_device_path_gives_the_cpu_pipelines_batch(to_rgb, pad, float_img):
    pipeline_cfg = _pipeline_cfg(to_rgb, pad)
    expected = _batch(pipeline_cfg, device=False, float_img=float_img)
    got = _batch(pipeline_cfg, device=True, float_img=float_img)
    assert got['img'].dtype == (torch.float32 if float_img else torch.uint8)
    assert [meta['flip'] for meta in expected['img_metas']] == [True, False, True]  # both flips seen
    _assert_metas_equal(got['img_metas'], expected['img_metas'])
    preprocessor = DetDataPreprocessor(**device_preprocess_settings([Compose(pipeline_cfg)]))
    imgs = preprocessor(got['img'], got['img_metas'])
    assert imgs.dtype == torch.float32 and imgs.shape == expected['img'].shape
    torch.testing.assert_close(imgs, expected['img'], rtol=0, atol=1e-5)
    for key in ('gt_bboxes', 'gt_labels'):
        for got_tensor, expected_tensor in zip(got[key], expected[key]):
            torch.testing.assert_close(got_tensor, expected_tensor, rtol=0, atol=0)


def test_preprocessor_makes_no_host_wait_and_no_per_image_operators():
    got = _batch(_pipeline_cfg(), device=True)
    preprocessor = DetDataPreprocessor(MEAN, STD)
    op_counts = []
    for num_imgs in (1, 3):
        with torch.profiler.profile() as prof:
            preprocessor(got['img'][:num_imgs], got['img_metas'][:num_imgs])
        names = [event.name for event in prof.events()]
        assert not {'aten::_local_scalar_dense', 'aten::nonzero', 'aten::masked_select'} & set(names)
        op_counts.append(len(names))
    assert op_counts[0] == op_counts[1]


def test_preprocessor_buffers_stay_out_of_the_state_dict():
    model = build_tiny(base_channels=8)
    keys = set(model.state_dict())
    model.data_preprocessor = DetDataPreprocessor(MEAN, STD)
    assert set(model.state_dict()) == keys


def test_training_step_gives_the_same_losses_both_ways():
    pipeline_cfg = _pipeline_cfg()
    model = build_tiny(base_channels=8)
    model.train()
    torch.manual_seed(1)
    expected = model.train_step(_batch(pipeline_cfg, device=False), None)['log_vars']
    model.data_preprocessor = DetDataPreprocessor(**device_preprocess_settings([Compose(pipeline_cfg)]))
    torch.manual_seed(1)
    got = model.train_step(_batch(pipeline_cfg, device=True), None)['log_vars']
    assert got.keys() == expected.keys()
    np.testing.assert_allclose(list(got.values()), list(expected.values()), rtol=1e-4, atol=1e-6)


class _PipelineDataset:
    CLASSES = ('a', 'b', 'c')

    def __init__(self, pipeline_cfg):
        self.pipeline = Compose(pipeline_cfg)

    def __len__(self):
        return 3


def _cfg(device, device_preprocess='auto'):
    return mmcv.Config(dict(device=device, device_preprocess=device_preprocess,
                            data=dict(val=dict(pipeline=_pipeline_cfg()))))


def _types(dataset):
    return [type(step) for pipeline in dataset_pipelines(dataset) for step in pipeline.transforms]


def test_auto_is_off_on_the_cpu_and_changes_nothing():
    dataset, model = _PipelineDataset(_pipeline_cfg()), build_tiny(base_channels=8)
    assert not setup_device_preprocess(model, [dataset], _cfg('cpu'), LOGGER)
    assert not setup_device_preprocess(model, [dataset], _cfg('cuda', False), LOGGER)
    assert Normalize in _types(dataset) and Pad in _types(dataset)
    assert model.data_preprocessor is None


def test_on_rewrites_the_training_datasets_only():
    cfg = _cfg('cuda')
    plain, repeated = _PipelineDataset(_pipeline_cfg()), RepeatDataset(_PipelineDataset(_pipeline_cfg()), 2)
    model = build_tiny(base_channels=8)
    assert setup_device_preprocess(model, [plain, repeated], cfg, LOGGER)
    for dataset in (plain, repeated):
        types = _types(dataset)
        assert DeviceNormalize in types and DevicePad in types
        assert Normalize not in types and Pad not in types
    assert isinstance(model.data_preprocessor, DetDataPreprocessor)
    assert cfg.data.val.pipeline == _pipeline_cfg()  # evaluation builds from the config, untouched


def test_unsupported_pipeline_is_refused_when_forced_and_skipped_on_auto():
    flip_after_pad = _pipeline_cfg()
    flip_after_pad.insert(4, dict(type='RandomFlip', flip_ratio=0.5))
    dataset = _PipelineDataset(flip_after_pad)
    with pytest.raises(ValueError, match='RandomFlip'):
        setup_device_preprocess(build_tiny(base_channels=8), [dataset], _cfg('cpu', True), LOGGER)
    assert not setup_device_preprocess(build_tiny(base_channels=8), [dataset], _cfg('cuda'), LOGGER)
    assert Normalize in _types(dataset)


@pytest.mark.parametrize('value', ['yes', 1, None])
def test_bad_device_preprocess_value_is_refused_by_name(value):
    with pytest.raises(ValueError, match=rf"device_preprocess .*got {value!r}"):
        setup_device_preprocess(None, [], _cfg('cuda', value), LOGGER)


def test_pad_to_a_size_smaller_than_the_image_keeps_its_height_both_ways():
    padded = Pad(size=(48, 48))(dict(img=np.zeros((50, 40, 3), np.uint8)))
    assert padded['img'].shape == padded['pad_shape'] == (50, 48, 3)  # mmcv.impad does not crop
    metas_only = DevicePad(size=(48, 48))(dict(img=np.zeros((50, 40, 3), np.uint8)))
    assert metas_only['img'].shape == (50, 40, 3) and metas_only['pad_shape'] == (50, 48, 3)


def test_pin_batch_images_pins_the_image_tensors_only():
    pinned = []

    def fake_pin(tensor):
        pinned.append(tensor)
        return tensor.clone()

    imgs = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    batch = dict(img=DataContainer([imgs], stack=True, padding_value=0),
                 img_metas=DataContainer([[{}, {}]], cpu_only=True),
                 gt_bboxes=DataContainer([[torch.zeros(1, 4), torch.zeros(1, 4)]]))
    out = pin_batch_images(batch, pin=fake_pin)
    assert pinned == [imgs]
    assert out['img'].data[0] is not imgs and torch.equal(out['img'].data[0], imgs)
    assert out['img'].stack and out['img'].padding_value == 0 and not out['img'].cpu_only
    assert out['img_metas'] is batch['img_metas'] and out['gt_bboxes'] is batch['gt_bboxes']
