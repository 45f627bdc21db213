from .hrnet import HRNet
from .regnet import RegNet
from .res2net import Res2Net
from .resnest import ResNeSt
from .resnet import ResNet, ResNetV1d
from .resnext import ResNeXt

__all__ = ['ResNet', 'ResNetV1d', 'ResNeXt', 'RegNet', 'Res2Net', 'ResNeSt', 'HRNet']
