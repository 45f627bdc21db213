"""RoIAlign as one sparse matrix product, for the CPU.

torchvision's CPU ``roi_align`` runs forward and backward as single-threaded loops over every sample
point, and its backward scatters each sample's four bilinear weights one by one: with MMDetection's
adaptive sampling (``sampling_ratio=0``) it took about half of a Faster R-CNN training step. Here the
same operator is written as ``out = M @ F``: F is the feature map flattened to ``(N*H*W, C)`` (a view
when it is channels_last) and M is a sparse ``(R*PH*PW, N*H*W)`` matrix of the bilinear weights
averaged over each bin's samples. The gradient is ``M^T @ dout``. Both are multi-threaded sparse-dense
products and compute exactly torchvision's function (same sample points, clamping and zeroing of
samples outside ``[-1, H] x [-1, W]``).

Bilinear interpolation on a Cartesian grid of samples is separable: a bin's weight on pixel (y, x) is
``wy[y] * wx[x]`` where ``wy`` sums the vertical weights of the bin's sample rows (divided by their
number) and ``wx`` the horizontal ones. The 1-D weights live in a window of ``ceil(bin size) + 2``
pixels that starts at the bin's first sample row (column), so M is built from small dense windows.

Symbols: N images, C channels, H x W the feature map, R RoIs ``(batch_idx, x1, y1, x2, y2)`` in input
pixels, PH x PW the output size, G the samples per bin along one axis, L a window length.
"""
import warnings
from typing import Tuple

import torch


def _axis_weights(start: torch.Tensor, length: torch.Tensor, num_bins: int, sampling_ratio: int,
                  size: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-bin 1-D interpolation weights along one axis of ``size`` pixels.

    start, length: (R,) RoI start and extent in feature pixels (already scaled and shifted).
    Returns ``pixels`` (R, num_bins, K) long, ``weights`` (R, num_bins, K) and ``count`` (R,) long: bin b
    of RoI r puts ``weights[r, b, k]`` on pixel ``pixels[r, b, k]`` for ``k < count[r]``. A pixel may
    repeat within a bin (the sparse products add the repeats).
    """
    bin_size = length / num_bins
    if sampling_ratio > 0:
        grid = torch.full_like(length, sampling_ratio, dtype=torch.long)
    else:
        grid = torch.ceil(bin_size).long()
    grid = grid.clamp(min=0)
    max_grid = max(int(grid.max()), 1) if grid.numel() else 1
    sample = torch.arange(max_grid, dtype=length.dtype, device=length.device)
    bins = torch.arange(num_bins, dtype=length.dtype, device=length.device)
    grid_f = grid.clamp(min=1).to(length.dtype)
    # (R, num_bins, G) sample coordinates, placed as torchvision places them
    coord = (start[:, None, None] + bins[None, :, None] * bin_size[:, None, None]
             + (sample[None, None, :] + 0.5) * (bin_size / grid_f)[:, None, None])
    valid = (sample[None, None, :] < grid[:, None, None]) & (coord >= -1.0) & (coord <= size)
    coord = coord.clamp(min=0)
    low = coord.floor().long()
    at_edge = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(at_edge, low, low + 1)
    frac = torch.where(at_edge, torch.zeros_like(coord), coord - low.to(coord.dtype))
    scale = valid.to(coord.dtype) / grid_f[:, None, None]
    # two entries per sample, or a dense window over the pixels a bin's samples touch (consecutive samples
    # are at most one pixel apart, so a window of ceil(bin) + 2 pixels holds them): whichever is shorter
    window_len = (torch.ceil(bin_size).long() + 2).clamp(min=1, max=size)
    use_window = (window_len < 2 * grid) & (bin_size > 0)  # reversed RoIs (fixed sampling) step backwards
    count = torch.where(use_window, window_len, 2 * grid).clamp(min=1)
    max_count = int(count.max()) if count.numel() else 1
    # (low, high) of sample 0, then of sample 1, ...: the first 2 * grid[r] entries are RoI r's samples
    pixels = torch.stack([low, high], dim=3).flatten(2)
    weights = torch.stack([(1 - frac) * scale, frac * scale], dim=3).flatten(2)
    if bool(use_window.any()):
        window_start = low[:, :, :1]
        offsets = torch.arange(max_count, device=length.device)
        window_pixels = (window_start + offsets).clamp(max=size - 1)
        window_weights = coord.new_zeros(*coord.shape[:2], max_count)
        window_weights.scatter_add_(2, (pixels - window_start).clamp(0, max_count - 1), weights)
        pad = max_count - pixels.shape[2]
        if pad > 0:
            pixels = torch.cat([pixels, pixels.new_zeros(*pixels.shape[:2], pad)], dim=2)
            weights = torch.cat([weights, weights.new_zeros(*weights.shape[:2], pad)], dim=2)
        pixels = torch.where(use_window[:, None, None], window_pixels, pixels[:, :, :max_count])
        weights = torch.where(use_window[:, None, None], window_weights, weights[:, :, :max_count])
    return pixels, weights, count


def roi_align_matrix(rois: torch.Tensor, feat_shape: Tuple[int, int, int], output_size: Tuple[int, int],
                     spatial_scale: float, sampling_ratio: int, aligned: bool) -> torch.Tensor:
    """The sparse CSR matrix M (R*PH*PW, N*H*W) of RoIAlign: ``out.view(R*PH*PW, C) = M @ F.view(N*H*W, C)``.

    rois: (R, 5) float; feat_shape: (N, H, W). Rows are ordered (roi, ph, pw), columns (n, y, x).
    """
    num_imgs, height, width = feat_shape
    pooled_h, pooled_w = output_size
    rois = rois.to(torch.promote_types(rois.dtype, torch.float32))
    offset = 0.5 if aligned else 0.0
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    roi_w = rois[:, 3] * spatial_scale - offset - x1
    roi_h = rois[:, 4] * spatial_scale - offset - y1
    if not aligned:  # torchvision forces malformed RoIs to 1x1 in the legacy mode
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    y_pix, wy, len_y = _axis_weights(y1, roi_h, pooled_h, sampling_ratio, height)
    x_pix, wx, len_x = _axis_weights(x1, roi_w, pooled_w, sampling_ratio, width)

    num_rois = rois.shape[0]
    per_bin = len_y * len_x  # (R,) entries per output bin of each RoI
    per_roi = per_bin * (pooled_h * pooled_w)
    total = int(per_roi.sum())
    device = rois.device
    # ragged enumeration of (roi, ph, pw, ky, kx) without padding every RoI to the largest window
    roi_idx = torch.repeat_interleave(torch.arange(num_rois, device=device), per_roi)
    local = torch.arange(total, device=device) - torch.repeat_interleave(torch.cumsum(per_roi, 0) - per_roi, per_roi)
    bin_idx = local // per_bin[roi_idx]
    in_bin = local - bin_idx * per_bin[roi_idx]
    ph, pw = bin_idx // pooled_w, bin_idx % pooled_w
    ky, kx = in_bin // len_x[roi_idx], in_bin % len_x[roi_idx]
    values = wy[roi_idx, ph, ky] * wx[roi_idx, pw, kx]
    batch_idx = rois[:, 0].long()[roi_idx]
    cols = (batch_idx * height + y_pix[roi_idx, ph, ky]) * width + x_pix[roi_idx, pw, kx]
    crow = torch.zeros(num_rois * pooled_h * pooled_w + 1, dtype=torch.long, device=device)
    crow[1:] = torch.cumsum(per_bin.repeat_interleave(pooled_h * pooled_w), 0)
    with warnings.catch_warnings():  # torch calls its CSR support beta; the products used here are tested
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_csr_tensor(crow, cols, values, (num_rois * pooled_h * pooled_w, num_imgs * height * width),
                                       check_invariants=False)


class _SparseRoIAlign(torch.autograd.Function):

    @staticmethod
    def forward(ctx, features: torch.Tensor, matrix: torch.Tensor, num_rois: int,
                output_size: Tuple[int, int]) -> torch.Tensor:
        num_imgs, channels, height, width = features.shape
        flat = features.permute(0, 2, 3, 1).reshape(num_imgs * height * width, channels)
        ctx.save_for_backward(matrix)
        ctx.feat_shape = features.shape
        out = torch.sparse.mm(matrix, flat)  # (R*PH*PW, C)
        return out.view(num_rois, *output_size, channels).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        matrix, = ctx.saved_tensors
        num_imgs, channels, height, width = ctx.feat_shape
        grad_flat = grad_out.permute(0, 2, 3, 1).reshape(-1, channels)
        grad_feat = torch.sparse.mm(matrix.t(), grad_flat)
        grad_feat = grad_feat.view(num_imgs, height, width, channels).permute(0, 3, 1, 2)
        return grad_feat, None, None, None


def sparse_roi_align(features: torch.Tensor, rois: torch.Tensor, output_size: Tuple[int, int],
                     spatial_scale: float = 1.0, sampling_ratio: int = 0, aligned: bool = True) -> torch.Tensor:
    """torchvision's ``roi_align`` (avg mode) as a sparse matrix product: features (N, C, H, W) float32 or
    float64, rois (R, 5) -> (R, C, PH, PW), channels_last in memory. The gradient reaches ``features``
    only (as with torchvision, RoIs get none)."""
    num_imgs, _, height, width = features.shape
    with torch.no_grad():
        matrix = roi_align_matrix(rois, (num_imgs, height, width), output_size, spatial_scale, sampling_ratio,
                                  aligned).to(features.dtype)
    return _SparseRoIAlign.apply(features, matrix, rois.shape[0], tuple(output_size))
