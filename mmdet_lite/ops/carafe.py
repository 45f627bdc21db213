"""CARAFE, content-aware reassembly of features (mmcv 1.x ``mmcv.ops.carafe``), in plain PyTorch.

Each output pixel (y, x) is a weighted sum over the k x k neighbourhood of input pixel (y // s, x // s)
(zero padded), with its own weights for each channel group. Written as one unfold and one einsum
(a batched matrix product over the K taps), so autograd gives the gradients of features and masks.

Symbols: N images, C channels in G groups of C' = C / G, H x W the input, s the scale factor, k the
(odd) kernel size, K = k * k taps.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import UPSAMPLE_LAYERS, normal_init, xavier_init


def carafe(features: torch.Tensor, masks: torch.Tensor, kernel_size: int, group_size: int,
           scale_factor: int) -> torch.Tensor:
    """features (N, C, H, W), masks (N, G*K, s*H, s*W) -> (N, C, s*H, s*W).

    Mask channel ``g*K + i*k + j`` weighs input pixel ``(y//s + i - (k-1)/2, x//s + j - (k-1)/2)`` for the
    channels ``c`` with ``c // C' == g`` (mmcv's layout). Masks are used as given (CARAFEPack normalises them).
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f'carafe kernel_size must be a positive odd int, got {kernel_size}')
    if scale_factor < 1:
        raise ValueError(f'carafe scale_factor must be >= 1, got {scale_factor}')
    num_imgs, channels, height, width = features.shape
    if group_size < 1 or channels % group_size:
        raise ValueError(f'carafe group_size={group_size} must divide the {channels} feature channels')
    taps = kernel_size * kernel_size
    expected = (num_imgs, group_size * taps, height * scale_factor, width * scale_factor)
    if tuple(masks.shape) != expected:
        raise ValueError(f'carafe masks must have shape {expected} for features {tuple(features.shape)}, '
                         f'got {tuple(masks.shape)}')
    group_channels = channels // group_size
    # (N, G, C', K, H, W): each input pixel's neighbourhood; (N, G, K, H, s, W, s): the weights of the
    # s x s output pixels of each input pixel
    neighbours = F.unfold(features, kernel_size, padding=(kernel_size - 1) // 2)
    neighbours = neighbours.view(num_imgs, group_size, group_channels, taps, height, width)
    weights = masks.view(num_imgs, group_size, taps, height, scale_factor, width, scale_factor)
    out = torch.einsum('ngckhw,ngkhywx->ngchywx', neighbours, weights)
    return out.reshape(num_imgs, channels, height * scale_factor, width * scale_factor)


@UPSAMPLE_LAYERS.register_module(name='carafe')
class CARAFEPack(nn.Module):
    """CARAFE upsampler (mmcv's ``CARAFEPack``, upsample type ``'carafe'``): a 1x1 ``channel_compressor``
    to ``compressed_channels``, a ``content_encoder`` conv predicting G*K*s*s kernel logits per input
    pixel, pixel shuffle + softmax over the K taps, then ``carafe``. (N, C, H, W) -> (N, C, s*H, s*W)."""

    def __init__(self,
                 channels: int,
                 scale_factor: int,
                 up_kernel: int = 5,
                 up_group: int = 1,
                 encoder_kernel: int = 3,
                 encoder_dilation: int = 1,
                 compressed_channels: int = 64) -> None:
        super().__init__()
        if up_kernel < 1 or up_kernel % 2 == 0:
            raise ValueError(f'CARAFEPack up_kernel must be a positive odd int, got {up_kernel}')
        if channels % up_group:
            raise ValueError(f'CARAFEPack up_group={up_group} must divide channels={channels}')
        self.channels = channels
        self.scale_factor = scale_factor
        self.up_kernel = up_kernel
        self.up_group = up_group
        self.encoder_kernel = encoder_kernel
        self.encoder_dilation = encoder_dilation
        self.compressed_channels = compressed_channels
        self.channel_compressor = nn.Conv2d(channels, compressed_channels, 1)
        self.content_encoder = nn.Conv2d(
            compressed_channels,
            up_kernel * up_kernel * up_group * scale_factor * scale_factor,
            encoder_kernel,
            padding=int((encoder_kernel - 1) * encoder_dilation / 2),
            dilation=encoder_dilation)
        self.init_weights()

    def init_weights(self) -> None:
        """Xavier-uniform convs, then N(0, 0.001) for the content encoder (near-uniform initial kernels)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                xavier_init(module, distribution='uniform')
        normal_init(self.content_encoder, std=0.001)

    def kernel_normalizer(self, mask: torch.Tensor) -> torch.Tensor:
        """Encoder logits (N, G*K*s*s, H, W) -> softmax-normalised masks (N, G*K, s*H, s*W)."""
        mask = F.pixel_shuffle(mask, self.scale_factor)
        num_imgs, mask_channels, height, width = mask.shape
        taps = self.up_kernel * self.up_kernel
        mask = mask.view(num_imgs, mask_channels // taps, taps, height, width).softmax(dim=2)
        return mask.view(num_imgs, mask_channels, height, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.kernel_normalizer(self.content_encoder(self.channel_compressor(x)))
        return carafe(x, mask, self.up_kernel, self.up_group, self.scale_factor)
