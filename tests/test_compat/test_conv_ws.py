"""compat.conv_ws: mmcv's ConvWS runs on channels_last weights, with the NCHW values."""
import torch
from mmcv.cnn import build_conv_layer

from mmdet_lite.models.builder import build_backbone

GN_WS_STAGE = dict(type='ResNet', depth=50, num_stages=1, strides=(1, ), dilations=(1, ),
                   out_indices=(0, ), base_channels=4, stem_channels=8, conv_cfg=dict(type='ConvWS'),
                   norm_cfg=dict(type='GN', num_groups=2, requires_grad=True), init_cfg=None)


def _forward_backward(model, img, memory_format):
    model = model.to(memory_format=memory_format)
    img = img.clone().contiguous(memory_format=memory_format).requires_grad_(True)
    (out, ) = model(img)
    out.square().sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    return out.detach(), img.grad, grads


def test_conv_ws_resnet_stage_runs_forward_and_backward_under_channels_last():
    torch.manual_seed(0)
    # float64: the two layouts sum in different orders
    model = build_backbone(GN_WS_STAGE).double()
    img = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    nchw = _forward_backward(model, img, torch.contiguous_format)
    nhwc = _forward_backward(model, img, torch.channels_last)
    assert next(model.parameters()).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(nhwc[0], nchw[0], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(nhwc[1], nchw[1], rtol=1e-9, atol=1e-10)
    for grad_nhwc, grad_nchw in zip(nhwc[2], nchw[2]):
        torch.testing.assert_close(grad_nhwc, grad_nchw, rtol=1e-9, atol=1e-10)


def test_conv_ws_standardises_each_output_channel():
    conv = build_conv_layer(dict(type='ConvWS'), 2, 3, 3, bias=False).to(memory_format=torch.channels_last)
    weight = conv.weight.detach().flatten(1)
    standardised = ((weight - weight.mean(1, keepdim=True)) / (weight.std(1, keepdim=True) + 1e-5))
    img = torch.rand(1, 2, 3, 3)  # one output pixel: the dot product with the kernel
    expected = (standardised * img.flatten(1)).sum(1).view(1, 3, 1, 1)
    torch.testing.assert_close(conv(img), expected)
