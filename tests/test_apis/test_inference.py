"""init_detector / inference_detector / show_result_pyplot on an untrained tiny Faster R-CNN."""
import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmcv import Config

from mmdet_lite.apis import inference_detector, init_detector, show_result_pyplot
from mmdet_lite.utils.checkpoint import CheckpointError
from tests.conftest import REPO_ROOT
from tests.test_models.tiny_faster_rcnn import build_tiny, tiny_model_cfg

TOY_CONFIG = REPO_ROOT / 'configs' / 'toy' / 'faster_rcnn_r18_fpn_toy.py'
CLASSES = ('rectangle', 'ellipse', 'triangle')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """The toy config with the tiny model, a checkpoint of its initial weights (with and
    without CLASSES in meta) and a 64x48 PNG."""
    root = tmp_path_factory.mktemp('inference')
    cfg = Config.fromfile(str(TOY_CONFIG))
    cfg.model = tiny_model_cfg(base_channels=16)
    # fewer proposals and a smaller input than the toy config's keep each inference cheap
    cfg.model.test_cfg.rpn.update(nms_pre=100, max_per_img=50)
    cfg.data.test.pipeline[1].img_scale = (64, 48)
    cfg.data.test.classes = ('x', 'y', 'z')
    config = root / 'tiny.py'
    cfg.dump(str(config))
    state_dict = build_tiny(base_channels=16).state_dict()
    checkpoint, bare = root / 'tiny.pth', root / 'bare.pth'
    torch.save(dict(state_dict=state_dict, meta=dict(CLASSES=CLASSES)), checkpoint)
    torch.save(dict(state_dict=state_dict), bare)
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(root / 'img.png'), img)
    return dict(root=root, config=config, checkpoint=checkpoint, bare=bare, img=img,
                img_path=root / 'img.png')


@pytest.fixture(scope='module')
def model(files):
    return init_detector(str(files['config']), str(files['checkpoint']), device='cpu')


@pytest.fixture(scope='module')
def results(model, files):
    """The detections of the PNG, from its path and from its array."""
    return dict(path=inference_detector(model, str(files['img_path'])),
                array=inference_detector(model, files['img']))


def assert_detection_result(result, num_classes=3):
    assert isinstance(result, list) and len(result) == num_classes
    for boxes in result:
        assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 5


def test_init_detector_on_cpu_takes_classes_from_the_checkpoint(model, files):
    assert model.CLASSES == CLASSES and not model.training
    assert next(model.parameters()).device.type == 'cpu'
    assert model.cfg.model.roi_head.bbox_head.num_classes == 3
    saved = torch.load(files['checkpoint'], weights_only=True)['state_dict']
    assert torch.equal(model.state_dict()['rpn_head.rpn_conv.weight'],
                       saved['rpn_head.rpn_conv.weight'])


def test_classes_fall_back_to_the_test_dataset(files):
    model = init_detector(Config.fromfile(str(files['config'])), str(files['bare']), device='cpu')
    assert tuple(model.CLASSES) == ('x', 'y', 'z')


def test_one_path_or_one_array_gives_one_result(results):
    from_path, from_array = results['path'], results['array']
    assert_detection_result(from_path)
    for by_path, by_array in zip(from_path, from_array):
        np.testing.assert_allclose(by_path, by_array, atol=1e-4)
    assert sum(len(boxes) for boxes in from_path) > 0  # untrained, but it does detect
    boxes = np.vstack(from_path)
    assert (boxes[:, 2] <= 64).all() and (boxes[:, 3] <= 48).all()  # in the image's pixels
    assert from_path[0].shape[0] <= 100  # test_cfg.rcnn.max_per_img


def test_a_list_gives_one_result_per_image(model, files):
    results = inference_detector(model, [str(files['img_path']), files['img'][:40, :60]])
    assert isinstance(results, list) and len(results) == 2
    for result in results:
        assert_detection_result(result)
    single = inference_detector(model, (files['img'],))
    assert len(single) == 1


def test_an_unbatched_image_is_refused_with_a_message_not_a_channels_last_error():
    model = build_tiny(base_channels=16, channels_last=True)
    with pytest.raises(ValueError, match=r'img must be an \(N, 3, H, W\) batch, got shape '
                                         r'\(3, 32, 32\)'):
        model.extract_feat(torch.zeros(3, 32, 32))


def test_bad_inputs_name_the_culprit(model, files, tmp_path):
    with pytest.raises(FileNotFoundError, match='image file .*missing.png does not exist'):
        inference_detector(model, str(tmp_path / 'missing.png'))
    with pytest.raises(ValueError, match=r'must be \(H, W, 3\) BGR, got shape \(48, 64\)'):
        inference_detector(model, files['img'][:, :, 0])
    with pytest.raises(CheckpointError, match='checkpoint file .*missing.pth does not exist'):
        init_detector(str(files['config']), str(tmp_path / 'missing.pth'), device='cpu')
    with pytest.raises(FileNotFoundError, match='config file .*missing.py does not exist'):
        init_detector(str(tmp_path / 'missing.py'), device='cpu')


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message on a machine without CUDA')
def test_cuda_device_without_cuda_is_a_clear_error(files):
    with pytest.raises(RuntimeError, match="device 'cuda:0': CUDA is not available on this "
                                           r"machine \(use device='cpu'\)"):
        init_detector(str(files['config']), str(files['checkpoint']))


def test_show_result_pyplot_writes_the_drawn_image(model, files, results, tmp_path):
    out_file = tmp_path / 'drawn.png'
    show_result_pyplot(model, str(files['img_path']), results['array'], score_thr=0.0, palette='coco',
                       out_file=str(out_file))
    drawn = mmcv.imread(str(out_file))
    assert drawn.shape == (48, 64, 3) and not np.array_equal(drawn, files['img'])
