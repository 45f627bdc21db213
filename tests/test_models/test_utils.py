"""mmdet_lite.models.utils: ResLayer and SimplifiedBasicBlock where MMDetection 2.28 has them."""
import pytest
import torch

from mmdet_lite.models.backbones import ResNet
from mmdet_lite.models.backbones.resnet import BasicBlock
from mmdet_lite.models.utils import ResLayer, SimplifiedBasicBlock


def test_resnet_stages_are_the_exported_res_layer():
    assert isinstance(ResNet(depth=18, base_channels=8).layer2, ResLayer)


def test_res_layer_downsamples_in_the_first_or_the_last_block():
    first = ResLayer(BasicBlock, 4, 8, 3, stride=2)
    last = ResLayer(BasicBlock, 4, 8, 3, stride=2, downsample_first=False)
    assert [(b.conv1.in_channels, b.conv1.out_channels, b.stride) for b in first] == [(4, 8, 2), (8, 8, 1), (8, 8, 1)]
    assert [(b.conv1.in_channels, b.conv1.out_channels, b.stride) for b in last] == [(4, 4, 1), (4, 4, 1), (4, 8, 2)]
    assert first[0].downsample is not None and last[2].downsample is not None and last[0].downsample is None
    assert tuple(last(torch.zeros(1, 4, 8, 8)).shape) == (1, 8, 4, 4)


def test_res_layer_avg_down_shortcut_names_and_refuses_no_blocks():
    layer = ResLayer(BasicBlock, 4, 8, 1, stride=2, avg_down=True)
    assert [type(m).__name__ for m in layer[0].downsample] == ['AvgPool2d', 'Conv2d', 'BatchNorm2d']
    with pytest.raises(ValueError, match='num_blocks=0'):
        ResLayer(BasicBlock, 4, 8, 0)


def test_simplified_basic_block_without_norm_is_relu_of_convs_plus_identity():
    block = SimplifiedBasicBlock(2, 2, norm_cfg=None)
    assert block.norm1 is None and block.conv1.bias is not None
    for conv in (block.conv1, block.conv2):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    x = torch.tensor([-1., 2.]).view(1, 2, 1, 1)
    # both convs output 0, so the block is relu(0 + x)
    assert block(x).flatten().tolist() == [0., 2.]
    with pytest.raises(ValueError, match='with_cp=True'):
        SimplifiedBasicBlock(2, 2, with_cp=True)
