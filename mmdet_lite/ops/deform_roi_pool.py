"""Deformable RoI pooling (mmcv 1.x ``mmcv.ops.deform_roi_pool``) in plain PyTorch.

RoIAlign with every bin moved by its own offset: bin (ph, pw) of RoI r starts ``gamma * roi_w *
offset[r, 0, ph, pw]`` right and ``gamma * roi_h * offset[r, 1, ph, pw]`` down of its RoIAlign place,
boxes are always shifted by -0.5 pixel (``roi_start = x1 * spatial_scale - 0.5``), and each bin averages
``Gh x Gw`` bilinear samples (``sampling_ratio``, or ``ceil(roi_size / output_size)`` when it is 0).
A sample outside ``[-1, H] x [-1, W]`` is 0; one inside is clamped to ``[0, H-1] x [0, W-1]``.

As in ``sparse_roi_align``, the operator is a sparse matrix product ``out = M @ F`` (F the map flattened to
``(N*H*W, C)``), built from separable per-bin axis weights; the input gradient is ``M^T @ dout``. The offset
gradient is mmcv's kernel's: each sample contributes ``d value / d x`` from its four corners with the row
weights taken at the *unclamped* y (and likewise for y), which is the true derivative inside the map and
differs from it only for samples within one pixel of the border.

Symbols: N images, C channels, H x W the map, R RoIs ``(batch_idx, x1, y1, x2, y2)`` in input pixels,
PH x PW the output size, B = R*PH*PW bins, G samples per bin along one axis, E = 2*G axis entries
(a low and a high pixel per sample).
"""
import warnings
from typing import NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn
from torch.nn.modules.utils import _pair


class _AxisTaps(NamedTuple):
    """One axis of every bin's samples, each (B, E): pixel index, forward weight, mmcv's gradient row
    weight (pixel distance from the unclamped sample on the other side), derivative sign (-1 low, +1 high),
    and whether the entry counts (a real sample inside [-1, size])."""
    pixels: torch.Tensor
    weights: torch.Tensor
    spans: torch.Tensor
    signs: torch.Tensor
    keep: torch.Tensor


def _axis_taps(coord: torch.Tensor, valid: torch.Tensor, size: int) -> _AxisTaps:
    """coord (B, G) sample positions along an axis of ``size`` pixels; valid (B, G) marks real samples."""
    keep = valid & (coord >= -1.0) & (coord <= size)
    clamped = coord.clamp(min=0)
    low = clamped.floor().long()
    at_edge = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(at_edge, low, low + 1)
    frac = torch.where(at_edge, torch.zeros_like(clamped), clamped - low.to(coord.dtype))
    signs = torch.tensor([-1.0, 1.0], dtype=coord.dtype, device=coord.device).expand(*coord.shape, 2)
    return _AxisTaps(pixels=torch.stack([low, high], -1).flatten(1),
                     weights=torch.stack([1 - frac, frac], -1).flatten(1),
                     spans=torch.stack([high.to(coord.dtype) - coord, coord - low.to(coord.dtype)], -1).flatten(1),
                     signs=signs.flatten(1),
                     keep=keep.repeat_interleave(2, dim=1))


class _Sampling(NamedTuple):
    """Everything the sparse matrices need: both axes' taps, the kept (bin, y entry, x entry) triples as
    CSR rows/columns, and per-bin scales."""
    taps_y: _AxisTaps
    taps_x: _AxisTaps
    keep: torch.Tensor       # (B, Ey, Ex) bool
    crow: torch.Tensor       # (B + 1,) long
    cols: torch.Tensor       # (nnz,) long
    inv_count: torch.Tensor  # (B,) 1 / (Gh * Gw)
    num_cols: int


def _axis_samples(start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, size: int) -> _AxisTaps:
    """Taps of the samples along one axis: start (R, PH, PW) each bin's first edge, bin_size (R,), grid (R,)
    samples per bin (the first ``grid[r]`` of G = max(grid) are real), ``size`` pixels."""
    _, pooled_h, pooled_w = start.shape
    max_grid = max(int(grid.max()), 1) if grid.numel() else 1
    sample = torch.arange(max_grid, dtype=start.dtype, device=start.device)
    step = (bin_size / grid.clamp(min=1).to(start.dtype))[:, None, None, None]
    coord = start[..., None] + (sample + 0.5) * step  # (R, PH, PW, G)
    valid = (sample[None, :] < grid[:, None]).repeat_interleave(pooled_h * pooled_w, dim=0)
    return _axis_taps(coord.reshape(-1, max_grid), valid, size)


def _sampling(rois: torch.Tensor, offset: Optional[torch.Tensor], feat_shape: Tuple[int, int, int],
              output_size: Tuple[int, int], spatial_scale: float, sampling_ratio: int,
              gamma: float) -> Tuple[_Sampling, torch.Tensor, torch.Tensor]:
    """Sample geometry of all bins; also returns roi_w, roi_h (R,) in feature pixels."""
    num_imgs, height, width = feat_shape
    pooled_h, pooled_w = output_size
    x1 = rois[:, 1] * spatial_scale - 0.5
    y1 = rois[:, 2] * spatial_scale - 0.5
    roi_w = rois[:, 3] * spatial_scale - 0.5 - x1
    roi_h = rois[:, 4] * spatial_scale - 0.5 - y1
    bin_w, bin_h = roi_w / pooled_w, roi_h / pooled_h
    if sampling_ratio > 0:
        grid_h = torch.full_like(roi_h, sampling_ratio, dtype=torch.long)
        grid_w = torch.full_like(roi_w, sampling_ratio, dtype=torch.long)
    else:
        grid_h = torch.ceil(bin_h).long().clamp(min=0)
        grid_w = torch.ceil(bin_w).long().clamp(min=0)
    # (R, PH, PW) top-left corner of each bin, moved by its offset
    ph = torch.arange(pooled_h, dtype=rois.dtype, device=rois.device)[None, :, None]
    pw = torch.arange(pooled_w, dtype=rois.dtype, device=rois.device)[None, None, :]
    start_y = y1[:, None, None] + ph * bin_h[:, None, None]
    start_x = x1[:, None, None] + pw * bin_w[:, None, None]
    if offset is not None:
        start_x = start_x + gamma * roi_w[:, None, None] * offset[:, 0]
        start_y = start_y + gamma * roi_h[:, None, None] * offset[:, 1]
    start_y = start_y.expand(-1, pooled_h, pooled_w)
    start_x = start_x.expand(-1, pooled_h, pooled_w)
    per_bin = pooled_h * pooled_w
    taps_y = _axis_samples(start_y, bin_h, grid_h, height)
    taps_x = _axis_samples(start_x, bin_w, grid_w, width)
    keep = taps_y.keep[:, :, None] & taps_x.keep[:, None, :]
    batch_idx = rois[:, 0].long().repeat_interleave(per_bin)
    cols = (batch_idx[:, None, None] * height + taps_y.pixels[:, :, None]) * width + taps_x.pixels[:, None, :]
    crow = torch.zeros(keep.shape[0] + 1, dtype=torch.long, device=rois.device)
    crow[1:] = torch.cumsum(keep.flatten(1).sum(1), 0)
    inv_count = 1.0 / (grid_h * grid_w).clamp(min=1).to(rois.dtype).repeat_interleave(per_bin)
    sampling = _Sampling(taps_y, taps_x, keep, crow, cols[keep], inv_count, num_imgs * height * width)
    return sampling, roi_w, roi_h


def _matrix(sampling: _Sampling, values_y: torch.Tensor, values_x: torch.Tensor) -> torch.Tensor:
    """CSR (B, N*H*W) with entry ``values_y[b, i] * values_x[b, j] / (Gh*Gw)`` at each kept (b, i, j)."""
    values = values_y[:, :, None] * values_x[:, None, :] * sampling.inv_count[:, None, None]
    with warnings.catch_warnings():  # torch calls its CSR support beta; the products used here are tested
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_csr_tensor(sampling.crow, sampling.cols, values[sampling.keep],
                                       (sampling.keep.shape[0], sampling.num_cols), check_invariants=False)


def _flat(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N*H*W, C)."""
    return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])


class _DeformRoIPool(torch.autograd.Function):

    @staticmethod
    def forward(ctx, features: torch.Tensor, offset: Optional[torch.Tensor], sampling: _Sampling,
                roi_sizes: torch.Tensor, gamma: float, out_shape: Tuple[int, int, int, int]) -> torch.Tensor:
        matrix = _matrix(sampling, sampling.taps_y.weights, sampling.taps_x.weights)
        ctx.save_for_backward(features)
        ctx.matrix, ctx.sampling, ctx.roi_sizes, ctx.gamma = matrix, sampling, roi_sizes, gamma
        num_rois, channels, pooled_h, pooled_w = out_shape
        out = torch.sparse.mm(matrix, _flat(features))  # (B, C)
        return out.view(num_rois, pooled_h, pooled_w, channels).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        features, = ctx.saved_tensors
        num_imgs, channels, height, width = features.shape
        sampling = ctx.sampling
        grad_rows = grad_out.permute(0, 2, 3, 1).reshape(-1, channels)  # (B, C)
        grad_features = None
        if ctx.needs_input_grad[0]:
            grad_flat = torch.sparse.mm(ctx.matrix.t(), grad_rows)
            grad_features = grad_flat.view(num_imgs, height, width, channels).permute(0, 3, 1, 2)
        grad_offset = None
        if ctx.needs_input_grad[1]:
            flat = _flat(features)
            d_dx = _matrix(sampling, sampling.taps_y.spans, sampling.taps_x.signs)
            d_dy = _matrix(sampling, sampling.taps_y.signs, sampling.taps_x.spans)
            grad_x = (torch.sparse.mm(d_dx, flat) * grad_rows).sum(1)  # (B,)
            grad_y = (torch.sparse.mm(d_dy, flat) * grad_rows).sum(1)
            num_rois, _, pooled_h, pooled_w = grad_out.shape
            grad_offset = torch.stack([grad_x.view(num_rois, pooled_h, pooled_w),
                                       grad_y.view(num_rois, pooled_h, pooled_w)], dim=1)
            grad_offset = grad_offset * ctx.gamma * ctx.roi_sizes[:, :, None, None]
        return grad_features, grad_offset, None, None, None, None


def deform_roi_pool(input: torch.Tensor,
                    rois: torch.Tensor,
                    offset: Optional[torch.Tensor],
                    output_size: Union[int, Tuple[int, int]],
                    spatial_scale: float = 1.0,
                    sampling_ratio: int = 0,
                    gamma: float = 0.1) -> torch.Tensor:
    """input (N, C, H, W), rois (R, 5), offset (R, 2, PH, PW) (x then y, in units of ``gamma`` * RoI size)
    or None -> (R, C, PH, PW). Gradients reach ``input`` and ``offset``; RoIs get none (as in mmcv)."""
    output_size = _pair(output_size)
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f'rois must have shape (R, 5) (batch_idx, x1, y1, x2, y2), got {tuple(rois.shape)}')
    if input.dim() != 4:
        raise ValueError(f'input must have shape (N, C, H, W), got {tuple(input.shape)}')
    expected = (rois.shape[0], 2, *output_size)
    if offset is not None and tuple(offset.shape) != expected:
        raise ValueError(f'offset must have shape {expected} (R, 2, PH, PW), got {tuple(offset.shape)}')
    num_imgs, channels, height, width = input.shape
    with torch.no_grad():
        geometry = rois.to(input.dtype)
        sampling, roi_w, roi_h = _sampling(geometry, None if offset is None else offset.to(input.dtype),
                                           (num_imgs, height, width), output_size, float(spatial_scale),
                                           int(sampling_ratio), float(gamma))
    return _DeformRoIPool.apply(input, offset, sampling, torch.stack([roi_w, roi_h], 1), float(gamma),
                                (rois.shape[0], channels, *output_size))


class DeformRoIPool(nn.Module):
    """mmcv's ``DeformRoIPool``: ``forward(input (N, C, H, W), rois (R, 5), offset (R, 2, PH, PW) or None)``
    -> (R, C, PH, PW)."""

    def __init__(self,
                 output_size: Union[int, Tuple[int, int]],
                 spatial_scale: float = 1.0,
                 sampling_ratio: int = 0,
                 gamma: float = 0.1) -> None:
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.gamma = float(gamma)

    def forward(self, input: torch.Tensor, rois: torch.Tensor,
                offset: Optional[torch.Tensor] = None) -> torch.Tensor:
        return deform_roi_pool(input, rois, offset, self.output_size, self.spatial_scale, self.sampling_ratio,
                               self.gamma)

    def extra_repr(self) -> str:
        return (f'output_size={self.output_size}, spatial_scale={self.spatial_scale}, '
                f'sampling_ratio={self.sampling_ratio}, gamma={self.gamma}')


def _fc_stack(in_features: int, hidden: int, out_features: int, num_hidden: int) -> nn.Sequential:
    """Linear-ReLU pairs then a final Linear (mmcv's key layout: Linear layers at even indices)."""
    layers = []
    for _ in range(num_hidden):
        layers += [nn.Linear(in_features, hidden), nn.ReLU(inplace=True)]
        in_features = hidden
    layers.append(nn.Linear(in_features, out_features))
    return nn.Sequential(*layers)


class DeformRoIPoolPack(DeformRoIPool):
    """Deformable RoI pooling that predicts its own offsets (mmcv's ``DeformRoIPoolPack``): a plain pass
    (no offset) -> ``offset_fc`` (Linear(PH*PW*C, F), ReLU, Linear(F, F), ReLU, Linear(F, PH*PW*2), the last
    zero-initialised) -> a deformed pass. ``forward(input (N, C, H, W), rois (R, 5))`` -> (R, C, PH, PW)."""

    def __init__(self,
                 output_size: Union[int, Tuple[int, int]],
                 output_channels: int,
                 deform_fc_channels: int = 1024,
                 spatial_scale: float = 1.0,
                 sampling_ratio: int = 0,
                 gamma: float = 0.1) -> None:
        super().__init__(output_size, spatial_scale, sampling_ratio, gamma)
        self.output_channels = output_channels
        self.deform_fc_channels = deform_fc_channels
        num_bins = self.output_size[0] * self.output_size[1]
        self.offset_fc = _fc_stack(num_bins * output_channels, deform_fc_channels, num_bins * 2, num_hidden=2)
        nn.init.zeros_(self.offset_fc[-1].weight)
        nn.init.zeros_(self.offset_fc[-1].bias)

    def _check_channels(self, input: torch.Tensor) -> None:
        if input.shape[1] != self.output_channels:
            raise ValueError(f'{type(self).__name__} was built for output_channels={self.output_channels}, '
                             f'got input of shape {tuple(input.shape)}')

    def _predict_offset(self, pooled: torch.Tensor) -> torch.Tensor:
        """pooled (R, C, PH, PW) -> offset (R, 2, PH, PW)."""
        return self.offset_fc(pooled.flatten(1)).view(pooled.shape[0], 2, *self.output_size)

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        self._check_channels(input)
        pooled = super().forward(input, rois)
        return super().forward(input, rois, self._predict_offset(pooled))


class ModulatedDeformRoIPoolPack(DeformRoIPoolPack):
    """``DeformRoIPoolPack`` whose output is also scaled per bin by ``mask_fc`` (Linear(PH*PW*C, F), ReLU,
    Linear(F, PH*PW), Sigmoid; the second Linear zero-initialised, so 0.5 at start), mmcv's
    ``ModulatedDeformRoIPoolPack``."""

    def __init__(self,
                 output_size: Union[int, Tuple[int, int]],
                 output_channels: int,
                 deform_fc_channels: int = 1024,
                 spatial_scale: float = 1.0,
                 sampling_ratio: int = 0,
                 gamma: float = 0.1) -> None:
        super().__init__(output_size, output_channels, deform_fc_channels, spatial_scale, sampling_ratio, gamma)
        num_bins = self.output_size[0] * self.output_size[1]
        self.mask_fc = _fc_stack(num_bins * output_channels, deform_fc_channels, num_bins, num_hidden=1)
        self.mask_fc.append(nn.Sigmoid())
        nn.init.zeros_(self.mask_fc[2].weight)
        nn.init.zeros_(self.mask_fc[2].bias)

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        self._check_channels(input)
        pooled = DeformRoIPool.forward(self, input, rois)
        mask = self.mask_fc(pooled.flatten(1)).view(pooled.shape[0], 1, *self.output_size)
        return DeformRoIPool.forward(self, input, rois, self._predict_offset(pooled)) * mask
