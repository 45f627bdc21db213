"""``DetDataPreprocessor``: the training pipeline's ``Normalize`` and ``Pad`` of a batch, on its device."""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...core.utils import host_index


class DetDataPreprocessor(nn.Module):
    """Normalise and pad a collated batch as ``Normalize`` + ``Pad`` + collation do on the CPU.

    With ``device_preprocess`` on, the loader sends images as ``DeviceNormalize`` / ``DevicePad``
    leave them (uint8 from ``LoadImageFromFile``; float when a transform made them float), padded
    by collation to the largest image with zeros; this gives the tensor the CPU pipeline would have
    given: per image, ``(img[::-1 if to_rgb] - mean) / std`` inside ``img_shape``, ``pad_value``
    up to its ``pad_shape``, 0 beyond (collation's padding), in a batch of the largest ``pad_shape``.

    ``mean`` / ``std`` are non-persistent buffers: the detector's state_dict keys are unchanged.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True,
                 pad_value: Union[float, Sequence[float]] = 0.0) -> None:
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer('pad_value', torch.tensor(pad_value, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.to_rgb = to_rgb

    def forward(self, imgs: torch.Tensor, img_metas: List[dict]) -> torch.Tensor:
        """imgs: (N, C, h, w) uint8 or float, each image at the top left; img_metas: N dicts with
        ``img_shape`` and ``pad_shape`` -> (N, C, H, W) float32, H x W the largest ``pad_shape``."""
        if imgs.dim() != 4 or imgs.size(1) != self.mean.size(1):
            raise ValueError(f'DetDataPreprocessor: expected images (N, {self.mean.size(1)}, h, w), '
                             f'got shape {tuple(imgs.shape)}')
        batch_height = max(meta['pad_shape'][0] for meta in img_metas)
        batch_width = max(meta['pad_shape'][1] for meta in img_metas)
        imgs = F.pad(imgs, (0, batch_width - imgs.size(3), 0, batch_height - imgs.size(2))).float()
        if self.to_rgb:
            imgs = imgs.flip(1)
        normalized = (imgs - self.mean) / self.std
        # (N, 4): img_h, img_w, pad_h, pad_w
        shapes = host_index([[*meta['img_shape'][:2], *meta['pad_shape'][:2]] for meta in img_metas], imgs.device)
        rows = torch.arange(batch_height, device=imgs.device).view(1, -1, 1)
        cols = torch.arange(batch_width, device=imgs.device).view(1, 1, -1)
        in_img = (rows < shapes[:, 0].view(-1, 1, 1)) & (cols < shapes[:, 1].view(-1, 1, 1))
        in_pad = (rows < shapes[:, 2].view(-1, 1, 1)) & (cols < shapes[:, 3].view(-1, 1, 1))
        padding = torch.where(in_pad.unsqueeze(1), self.pad_value, 0.0)
        return torch.where(in_img.unsqueeze(1), normalized, padding)

    def extra_repr(self) -> str:
        return (f'mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}, '
                f'to_rgb={self.to_rgb}, pad_value={self.pad_value.flatten().tolist()}')
