"""Faster R-CNN under CPU autocast (bfloat16): fp32 regions stay fp32, AMP training learns, and the
channels_last switch changes the layout, not the values."""
import logging

import pytest
import torch

from mmdet_lite.core.fp16 import enable_autocast

from .tiny_faster_rcnn import build_tiny, img_metas, sgd_steps

logging.getLogger('mmcv').setLevel(logging.WARNING)


def _batch(seed=1):
    torch.manual_seed(seed)
    return dict(img=torch.randn(2, 3, 128, 160), img_metas=img_metas(2),
                gt_bboxes=[torch.tensor([[10., 20., 80., 100.]]), torch.tensor([[50., 40., 150., 120.]])],
                gt_labels=[torch.tensor([0]), torch.tensor([2])])


def _record_dtypes(module, name, dtypes):
    def hook(_module, inputs, output):
        tensors = [t for t in inputs if isinstance(t, torch.Tensor)]
        dtypes[name] = ([t.dtype for t in tensors], output[0].dtype if isinstance(output, tuple) else output.dtype)
    module.register_forward_hook(hook)


def test_autocast_runs_convs_in_bf16_and_targets_losses_roi_pooling_in_fp32():
    model = build_tiny()
    model.train()
    enable_autocast(model)
    dtypes = {}
    _record_dtypes(model.neck, 'neck', dtypes)
    _record_dtypes(model.roi_head.bbox_roi_extractor, 'roi_extractor', dtypes)
    _record_dtypes(model.roi_head.bbox_head, 'bbox_head', dtypes)
    seen = {}
    for name, owner in [('rpn_loss', model.rpn_head.loss_cls), ('rpn_loss_bbox', model.rpn_head.loss_bbox),
                        ('rcnn_loss', model.roi_head.bbox_head.loss_cls)]:
        owner.register_forward_hook(lambda _m, inputs, _out, name=name: seen.__setitem__(name, inputs[0].dtype))
    encode = model.rpn_head.bbox_coder.encode

    def recording_encode(*args, **kwargs):
        seen['encode'] = encode(*args, **kwargs)
        return seen['encode']
    model.rpn_head.bbox_coder.encode = recording_encode

    losses = model(**_batch())

    assert dtypes['neck'][1] == torch.bfloat16  # autocast is really on for the convolutions
    assert dtypes['bbox_head'][1] == torch.bfloat16
    assert dtypes['roi_extractor'][1] == torch.float32
    assert seen['rpn_loss'] == seen['rpn_loss_bbox'] == seen['rcnn_loss'] == torch.float32
    assert seen['encode'].dtype == torch.float32
    for name, value in losses.items():
        for tensor in value if isinstance(value, list) else [value]:
            assert tensor.dtype == torch.float32, name


def test_amp_test_forward_gives_float32_detections():
    model = build_tiny()
    model.eval()
    enable_autocast(model)
    dtypes = {}
    _record_dtypes(model.neck, 'neck', dtypes)
    with torch.no_grad():
        results = model(img=[_batch()['img'][:1]], img_metas=[img_metas(1)], return_loss=False)
    assert dtypes['neck'][1] == torch.bfloat16  # the test forward ran under autocast
    assert len(results) == 1 and len(results[0]) == 3
    assert all(boxes.dtype == 'float32' and boxes.shape[1] == 5 for boxes in results[0])


def test_amp_training_drives_the_loss_down():
    model = build_tiny()
    enable_autocast(model)
    neck_dtypes = []
    model.neck.register_forward_hook(lambda _module, _inputs, outputs: neck_dtypes.append(outputs[0].dtype))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = sgd_steps(model, _batch(), optimizer, 8)
    assert neck_dtypes == [torch.bfloat16] * 8  # every step ran under autocast
    assert losses[-1] < 0.6 * losses[0], losses


def test_channels_last_switch_changes_layout_not_losses():
    nhwc = build_tiny(channels_last=True)
    nchw_cfg_model = build_tiny(channels_last=False)
    for name, value in nhwc.state_dict().items():  # the same seed initialises the same values
        assert torch.equal(value, nchw_cfg_model.state_dict()[name]), name
    assert nhwc.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert nchw_cfg_model.backbone.conv1.weight.is_contiguous()
    nhwc.train()
    nchw_cfg_model.train()
    torch.manual_seed(3)
    nhwc_losses = nhwc(**_batch())
    torch.manual_seed(3)
    nchw_losses = nchw_cfg_model(**_batch())
    for name in ('loss_cls', 'loss_bbox'):
        torch.testing.assert_close(nhwc_losses[name], nchw_losses[name], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(sum(nhwc_losses['loss_rpn_cls']), sum(nchw_losses['loss_rpn_cls']), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize('cuda', [False, True])
def test_channels_last_default_is_on_without_cuda_only(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    model = build_tiny()
    assert model.channels_last is (not cuda)
    assert model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last) is (not cuda)
