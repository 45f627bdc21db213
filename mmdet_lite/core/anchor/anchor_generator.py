"""Standard anchor generator for 2D anchor-based detectors (MMDetection 2.x ``AnchorGenerator``).

Symbols: L levels; A = num_base_anchors[i] anchors per location on level i; (Hi, Wi) feature map
size of level i. Anchors are x1y1x2y2 in input-image pixels; on level i the anchor for location
(y, x) and base anchor a sits at row ``(y * Wi + x) * A + a`` (y outer, x inner, anchor innermost),
matching the flattening ``(N, A*C, H, W) -> permute(0, 2, 3, 1) -> reshape(-1, C)`` of head outputs.
"""
import math
from collections import OrderedDict
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.nn.modules.utils import _pair

from ..utils import host_index
from .builder import PRIOR_GENERATORS

DeviceLike = Union[str, torch.device]


@PRIOR_GENERATORS.register_module()
class AnchorGenerator:
    """Generate base anchors per level and tile them over feature maps.

    Args:
        strides: per level stride, an int or a (stride_w, stride_h) pair.
        ratios: anchor aspect ratios h / w shared by all levels.
        scales: anchor scales shared by all levels (exclusive with the octave arguments).
        base_sizes: per level base size; defaults to ``min(stride)`` of each level.
        scale_major: if True the base anchors are ordered ratio-major, scale-minor
            (``w = base * w_ratios[:, None] * scales[None, :]``), otherwise scale-major.
        octave_base_scale: with ``scales_per_octave`` gives
            ``scales = octave_base_scale * 2 ** (arange(scales_per_octave) / scales_per_octave)``.
        scales_per_octave: see ``octave_base_scale``.
        centers: optional per level (cx, cy) centre of the base anchors.
        center_offset: centre of the base anchors as a fraction of the base size (used when
            ``centers`` is None); must be in [0, 1].
    """

    GRID_CACHE_SIZE = 8

    def __init__(self,
                 strides: Sequence[Union[int, Tuple[int, int]]],
                 ratios: Sequence[float],
                 scales: Optional[Sequence[float]] = None,
                 base_sizes: Optional[Sequence[int]] = None,
                 scale_major: bool = True,
                 octave_base_scale: Optional[float] = None,
                 scales_per_octave: Optional[int] = None,
                 centers: Optional[Sequence[Tuple[float, float]]] = None,
                 center_offset: float = 0.) -> None:
        if not 0 <= center_offset <= 1:
            raise ValueError(f'center_offset should be in range [0, 1], got {center_offset}')
        if centers is not None and len(centers) != len(strides):
            raise ValueError(f'centers has {len(centers)} entries but strides has {len(strides)}; '
                             'expected one centre per level')
        self.strides = [_pair(stride) for stride in strides]
        self.base_sizes = ([min(stride) for stride in self.strides]
                           if base_sizes is None else list(base_sizes))
        if len(self.base_sizes) != len(self.strides):
            raise ValueError(f'base_sizes has {len(self.base_sizes)} entries but strides has '
                             f'{len(self.strides)}; expected one base size per level')
        use_octave = octave_base_scale is not None and scales_per_octave is not None
        if use_octave == (scales is not None):
            raise ValueError('either scales or (octave_base_scale, scales_per_octave) must be set, '
                             f'not both/neither: scales={scales}, octave_base_scale='
                             f'{octave_base_scale}, scales_per_octave={scales_per_octave}')
        if scales is not None:
            self.scales = torch.tensor(scales, dtype=torch.float32)
        else:
            octave_scales = torch.tensor(
                [2**(i / scales_per_octave) for i in range(scales_per_octave)], dtype=torch.float64)
            self.scales = (octave_scales * octave_base_scale).float()
        self.octave_base_scale = octave_base_scale
        self.scales_per_octave = scales_per_octave
        self.ratios = torch.tensor(ratios, dtype=torch.float32)
        self.scale_major = scale_major
        self.centers = centers
        self.center_offset = center_offset
        self.base_anchors = self.gen_base_anchors()
        # grid_priors of the last few (featmap sizes, dtype, device): the same every step at a fixed input size
        self._grid_cache: 'OrderedDict[tuple, List[torch.Tensor]]' = OrderedDict()

    @property
    def num_base_anchors(self) -> List[int]:
        """Number of base anchors per location on each level."""
        return self.num_base_priors

    @property
    def num_base_priors(self) -> List[int]:
        """Number of base priors per location on each level."""
        return [base_anchors.size(0) for base_anchors in self.base_anchors]

    @property
    def num_levels(self) -> int:
        """Number of feature levels L."""
        return len(self.strides)

    def gen_base_anchors(self) -> List[torch.Tensor]:
        """Base anchors of every level, each (A, 4) around that level's centre."""
        return [
            self.gen_single_level_base_anchors(
                base_size,
                scales=self.scales,
                ratios=self.ratios,
                center=None if self.centers is None else self.centers[i])
            for i, base_size in enumerate(self.base_sizes)
        ]

    def gen_single_level_base_anchors(self,
                                      base_size: Union[int, float],
                                      scales: torch.Tensor,
                                      ratios: torch.Tensor,
                                      center: Optional[Tuple[float, float]] = None) -> torch.Tensor:
        """Base anchors of one level.

        Args:
            base_size: side of the square reference box.
            scales: (S,) scales; ratios: (K,) ratios h / w.
            center: (cx, cy); defaults to ``center_offset * base_size`` on both axes.

        Returns:
            (K * S, 4) anchors; no rounding and no +1 on sizes.
        """
        width = height = base_size
        if center is None:
            x_center = self.center_offset * width
            y_center = self.center_offset * height
        else:
            x_center, y_center = center
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        if self.scale_major:
            ws = (width * w_ratios[:, None] * scales[None, :]).reshape(-1)
            hs = (height * h_ratios[:, None] * scales[None, :]).reshape(-1)
        else:
            ws = (width * scales[:, None] * w_ratios[None, :]).reshape(-1)
            hs = (height * scales[:, None] * h_ratios[None, :]).reshape(-1)
        return torch.stack(
            [x_center - 0.5 * ws, y_center - 0.5 * hs, x_center + 0.5 * ws, y_center + 0.5 * hs],
            dim=-1)

    @staticmethod
    def _meshgrid(x: torch.Tensor, y: torch.Tensor,
                  row_major: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
        """Flattened grid of (W,) x and (H,) y: (H*W,) each, y outer, x inner."""
        xx = x.repeat(len(y))
        yy = y.view(-1, 1).repeat(1, len(x)).view(-1)
        return (xx, yy) if row_major else (yy, xx)

    def _check_levels(self, featmap_sizes: Sequence[Tuple[int, int]]) -> None:
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'got {len(featmap_sizes)} featmap_sizes {list(featmap_sizes)} but the '
                             f'generator has {self.num_levels} levels (strides {self.strides})')

    def grid_priors(self,
                    featmap_sizes: Sequence[Tuple[int, int]],
                    dtype: torch.dtype = torch.float32,
                    device: DeviceLike = 'cuda') -> List[torch.Tensor]:
        """Anchors of all levels tiled over the feature maps.

        Args:
            featmap_sizes: L pairs (Hi, Wi).
            dtype: dtype of the anchors.
            device: device of the anchors.

        Returns:
            L tensors of shape (Hi * Wi * A, 4), shared with later calls of the same sizes, dtype and
            device (the last ``GRID_CACHE_SIZE`` of them are kept): not to be modified in place.
        """
        self._check_levels(featmap_sizes)
        key = ('priors', _sizes_key(featmap_sizes), dtype, torch.device(device))
        return list(self._cached(key, lambda: [
            self.single_level_grid_priors(featmap_sizes[i], level_idx=i, dtype=dtype, device=device)
            for i in range(self.num_levels)
        ]))

    def _cached(self, key: tuple, build: Callable[[], object]) -> object:
        """``build()``, kept for the next call with ``key`` (the last ``GRID_CACHE_SIZE`` keys)."""
        if key in self._grid_cache:
            self._grid_cache.move_to_end(key)
            return self._grid_cache[key]
        value = self._grid_cache[key] = build()
        if len(self._grid_cache) > self.GRID_CACHE_SIZE:
            self._grid_cache.popitem(last=False)
        return value

    def _anchor_locations(self, featmap_sizes: Sequence[Tuple[int, int]],
                          device: DeviceLike) -> Tuple[torch.Tensor, torch.Tensor]:
        """(R, 2) feature-map location (y, x) and (R,) level of every anchor of all levels, in
        :meth:`grid_priors`' order (cached like it)."""
        def build():
            locations, levels = [], []
            for level, (feat_h, feat_w) in enumerate(featmap_sizes):
                rows = torch.arange(feat_h * feat_w * self.num_base_anchors[level], device=device)
                location = rows // self.num_base_anchors[level]  # y * Wi + x
                locations.append(torch.stack([location // feat_w, location % feat_w], dim=1).int())
                levels.append(torch.full_like(rows, level))
            return torch.cat(locations), torch.cat(levels)
        return self._cached(('locations', _sizes_key(featmap_sizes), torch.device(device)), build)

    def single_level_grid_priors(self,
                                 featmap_size: Tuple[int, int],
                                 level_idx: int,
                                 dtype: torch.dtype = torch.float32,
                                 device: DeviceLike = 'cuda') -> torch.Tensor:
        """Anchors of one level: (Hi * Wi * A, 4), row ``(y * Wi + x) * A + a``."""
        base_anchors = self.base_anchors[level_idx].to(device=device, dtype=dtype)
        feat_h, feat_w = featmap_size
        stride_w, stride_h = self.strides[level_idx]
        shift_x = torch.arange(0, feat_w, device=device).to(dtype) * stride_w
        shift_y = torch.arange(0, feat_h, device=device).to(dtype) * stride_h
        shift_xx, shift_yy = self._meshgrid(shift_x, shift_y)
        shifts = torch.stack([shift_xx, shift_yy, shift_xx, shift_yy], dim=-1)
        return (base_anchors[None, :, :] + shifts[:, None, :]).view(-1, 4)

    def sparse_priors(self,
                      prior_idxs: torch.Tensor,
                      featmap_size: Tuple[int, int],
                      level_idx: int,
                      dtype: torch.dtype = torch.float32,
                      device: DeviceLike = 'cuda') -> torch.Tensor:
        """Anchors at the given flat indices (K,) of one level: (K, 4), same as ``grid[prior_idxs]``."""
        height, width = featmap_size
        num_base_anchors = self.num_base_anchors[level_idx]
        base_anchor_id = prior_idxs % num_base_anchors
        x = (prior_idxs // num_base_anchors) % width * self.strides[level_idx][0]
        y = (prior_idxs // width // num_base_anchors) % height * self.strides[level_idx][1]
        priors = torch.stack([x, y, x, y], 1).to(dtype).to(device)
        return priors + self.base_anchors[level_idx][base_anchor_id, :].to(device=device, dtype=dtype)

    def grid_anchors(self,
                     featmap_sizes: Sequence[Tuple[int, int]],
                     device: DeviceLike = 'cuda') -> List[torch.Tensor]:
        """Deprecated name of :meth:`grid_priors` (float32 anchors)."""
        return self.grid_priors(featmap_sizes, device=device)

    def valid_flags(self,
                    featmap_sizes: Sequence[Tuple[int, int]],
                    pad_shape: Sequence[int],
                    device: DeviceLike = 'cuda') -> List[torch.Tensor]:
        """Flags of anchors whose location falls inside this image's padded shape.

        Args:
            featmap_sizes: L pairs (Hi, Wi) of the (batch-padded) feature maps.
            pad_shape: (h, w, ...) of this image after its own padding.
            device: device of the flags.

        Returns:
            L bool tensors of shape (Hi * Wi * A,); a location (y, x) is valid when
            ``x < ceil(w / stride_w)`` and ``y < ceil(h / stride_h)``.
        """
        return [flags[0] for flags in self.batch_valid_flags(featmap_sizes, [pad_shape], device)]

    def batch_valid_flags(self,
                          featmap_sizes: Sequence[Tuple[int, int]],
                          pad_shapes: Sequence[Sequence[int]],
                          device: DeviceLike = 'cuda',
                          flat: bool = False) -> Union[List[torch.Tensor], torch.Tensor]:
        """:meth:`valid_flags` of N images at once.

        Args:
            featmap_sizes: L pairs (Hi, Wi) of the (batch-padded) feature maps.
            pad_shapes: N shapes (h, w, ...) of the images after their own padding.
            device: device of the flags.

        Returns:
            L bool tensors of shape (N, Hi * Wi * A), views of one (N, R) tensor of all levels, which
            ``flat`` returns instead.
        """
        self._check_levels(featmap_sizes)
        valid_sizes = [[(min(math.ceil(pad_h / stride_h), feat_h), min(math.ceil(pad_w / stride_w), feat_w))
                        for (stride_w, stride_h), (feat_h, feat_w) in zip(self.strides, featmap_sizes)]
                       for pad_h, pad_w, *_ in pad_shapes]
        valid_sizes = host_index(np.array(valid_sizes).reshape(len(pad_shapes), self.num_levels, 2), device)
        locations, levels = self._anchor_locations(featmap_sizes, device)
        flags = (locations[None] < valid_sizes[:, levels]).all(dim=-1)  # (N, R): y and x both inside
        if flat:
            return flags
        num_level_anchors = [feat_h * feat_w * num for (feat_h, feat_w), num in zip(featmap_sizes,
                                                                                      self.num_base_anchors)]
        return list(flags.split(num_level_anchors, dim=1))

    def single_level_valid_flags(self,
                                 featmap_size: Tuple[int, int],
                                 valid_size: Tuple[int, int],
                                 num_base_anchors: int,
                                 device: DeviceLike = 'cuda') -> torch.Tensor:
        """Valid flags of one level: (H * W * A,) bool, true where y < valid_h and x < valid_w."""
        feat_h, feat_w = featmap_size
        valid_h, valid_w = valid_size
        if valid_h > feat_h or valid_w > feat_w:
            raise ValueError(f'valid_size {tuple(valid_size)} exceeds featmap_size {tuple(featmap_size)}')
        valid_x = torch.arange(feat_w, device=device) < valid_w
        valid_y = torch.arange(feat_h, device=device) < valid_h
        valid_xx, valid_yy = self._meshgrid(valid_x, valid_y)
        valid = valid_xx & valid_yy
        return valid[:, None].expand(valid.size(0), num_base_anchors).contiguous().view(-1)

    def __repr__(self) -> str:
        indent = '    '
        fields = [
            f'strides={self.strides}', f'ratios={self.ratios}', f'scales={self.scales}',
            f'base_sizes={self.base_sizes}', f'scale_major={self.scale_major}',
            f'octave_base_scale={self.octave_base_scale}',
            f'scales_per_octave={self.scales_per_octave}', f'num_levels={self.num_levels}',
            f'centers={self.centers}', f'center_offset={self.center_offset}'
        ]
        body = ''.join(f'{indent}{field},\n' for field in fields)
        return f'{self.__class__.__name__}(\n{body})'


def _sizes_key(featmap_sizes: Sequence[Tuple[int, int]]) -> tuple:
    return tuple(tuple(int(side) for side in size) for size in featmap_sizes)
