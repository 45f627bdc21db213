"""Drawing detections and ground truth on an image with matplotlib (MMDetection 2.x
``imshow_det_bboxes`` / ``imshow_gt_det_bboxes``, same arguments, same look).

Each box is outlined in its class colour; its label tag ``name|score`` sits inside the top-left
corner, text in the text colour on a black tag, scaled down for small boxes. Two departures from
MMDetection, for readability: a text colour too dark to read on black is lightened (see
:func:`readable_on_black`), and a tag that would run past the image's right or bottom edge is
moved back inside (MMDetection lets it be cut). Masks are blended
in their class colour with a white outline. The figure is rendered at the image's size with
matplotlib's Agg canvas, so drawing needs no display; ``show=True`` opens a pyplot window.

Symbols: K boxes (or masks), H x W the image size.
"""
from typing import Optional, Sequence, Tuple, Union

import cv2
import matplotlib.pyplot as plt
import mmcv
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from .palette import get_palette, palette_val

# Added to the figure size so that matplotlib's truncation keeps H x W pixels.
EPS = 1e-2


def _get_adaptive_scales(areas: np.ndarray, min_area: int = 800,
                         max_area: int = 30000) -> np.ndarray:
    """Text scale per box from its area (K,): 0.5 up to ``min_area``, 1.0 from ``max_area``,
    linear between."""
    scales = 0.5 + (areas - min_area) / (max_area - min_area)
    return np.clip(scales, 0.5, 1.0)


def readable_on_black(color: Tuple[float, float, float],
                      min_luminance: float = 0.45) -> Tuple[float, float, float]:
    """``color`` (RGB 0-1) mixed with white just enough to reach ``min_luminance`` (Rec. 601
    luma), so that label text in a dark class colour (COCO's dark blue and dark red) stays
    readable on the black tag; lighter colours are returned unchanged."""
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    if luminance >= min_luminance:
        return tuple(color)
    toward_white = (min_luminance - luminance) / (1 - luminance)
    return tuple(channel + (1 - channel) * toward_white for channel in color)


def draw_bboxes(ax, bboxes: np.ndarray, color='g', alpha: float = 0.8,
                thickness: int = 2):
    """Outline (K, 4) x1y1x2y2 boxes on ``ax``; ``color`` is one matplotlib colour or K."""
    polygons = [Polygon([[x1, y1], [x1, y2], [x2, y2], [x2, y1]])
                for x1, y1, x2, y2 in bboxes[:, :4].astype(np.int32)]
    ax.add_collection(PatchCollection(polygons, facecolor='none', edgecolors=color,
                                      linewidths=thickness, alpha=alpha))
    return ax


def draw_labels(ax, labels: np.ndarray, positions: np.ndarray,
                scores: Optional[np.ndarray] = None, class_names: Optional[Sequence[str]] = None,
                color='w', font_size: float = 8, scales: Optional[np.ndarray] = None,
                horizontal_alignment: str = 'left'):
    """Write ``name|score`` (``class i`` without ``class_names``) on a black tag at each of the
    (K, 2) ``positions``; ``color`` is one matplotlib colour or K, ``scales`` (K,) multiply
    ``font_size``."""
    for i, (label, position) in enumerate(zip(labels, positions)):
        text = class_names[label] if class_names is not None else f'class {label}'
        if scores is not None:
            text += f'|{scores[i]:.02f}'
        ax.text(position[0], position[1], text,
                bbox={'facecolor': 'black', 'alpha': 0.8, 'pad': 0.7, 'edgecolor': 'none'},
                color=color[i] if isinstance(color, list) else color,
                fontsize=font_size if scales is None else font_size * scales[i],
                verticalalignment='top', horizontalalignment=horizontal_alignment)
    return ax


def draw_masks(ax, img: np.ndarray, masks: np.ndarray, color: np.ndarray,
               alpha: float = 0.8) -> np.ndarray:
    """Blend (K, H, W) boolean ``masks`` into the RGB ``img`` in their (K, 3) uint8 colours
    and outline each in white on ``ax``; returns the blended image."""
    polygons = []
    for mask, mask_color in zip(masks, color):
        mask = mask.astype(bool)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP,
                                       cv2.CHAIN_APPROX_NONE)
        polygons += [Polygon(contour.reshape(-1, 2)) for contour in contours if len(contour) > 2]
        img[mask] = img[mask] * (1 - alpha) + mask_color * alpha
    ax.add_collection(PatchCollection(polygons, facecolor='none', edgecolors='w', linewidths=1,
                                      alpha=0.8))
    return img


def _move_labels_inside(ax, width: int) -> bool:
    """Shift label tags that run past the right or bottom edge of the image back inside it (a box
    near the edge would otherwise lose its score); True when one moved. Needs a drawn figure.

    One pixel is one data unit here; display y grows upwards, image y downwards."""
    moved = False
    for text in ax.texts:
        extent = text.get_bbox_patch().get_window_extent()
        overflow_x = max(extent.x1 - width, 0)
        overflow_y = max(-extent.y0, 0)
        if overflow_x or overflow_y:
            x, y = text.get_position()
            text.set_position((max(x - overflow_x, 0), y - overflow_y))
            moved = True
    return moved


def _check_inputs(bboxes, labels, segms, class_names, score_thr) -> None:
    if labels is None or np.ndim(labels) != 1:
        raise ValueError(f'labels must be a (K,) array, got {None if labels is None else np.shape(labels)}')
    if bboxes is None and segms is None:
        raise ValueError('nothing to draw: give bboxes or segms')
    if bboxes is not None and (bboxes.ndim != 2 or bboxes.shape[1] not in (4, 5)
                               or bboxes.shape[0] > labels.shape[0]):
        raise ValueError(f'bboxes must be (K, 4) or (K, 5) with K <= len(labels) = '
                         f'{labels.shape[0]}, got shape {bboxes.shape}')
    if segms is not None and segms.shape[0] != labels.shape[0]:
        raise ValueError(f'segms must be (K, H, W) with K = len(labels) = {labels.shape[0]}, '
                         f'got shape {segms.shape}')
    if score_thr > 0 and (bboxes is None or bboxes.shape[1] != 5):
        raise ValueError(f'score_thr={score_thr} needs (K, 5) bboxes with scores')
    if class_names is not None and len(labels) and int(labels.max()) >= len(class_names):
        raise ValueError(f'label {int(labels.max())} has no name: class_names holds '
                         f'{len(class_names)} ({", ".join(map(str, class_names))})')


def _figure(width: int, height: int, win_name: str, show: bool):
    """A frameless figure of exactly ``width`` x ``height`` pixels and an axes filling it: pyplot's
    when the window is to be shown, otherwise one on an Agg canvas (no display needed)."""
    if show:
        fig = plt.figure(win_name, frameon=False)
    else:
        fig = Figure(frameon=False)
        FigureCanvasAgg(fig)
    dpi = fig.get_dpi()
    fig.set_size_inches((width + EPS) / dpi, (height + EPS) / dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis('off')
    return fig, ax


def imshow_det_bboxes(img: Union[str, np.ndarray], bboxes: Optional[np.ndarray] = None,
                      labels: Optional[np.ndarray] = None, segms: Optional[np.ndarray] = None,
                      class_names: Optional[Sequence[str]] = None, score_thr: float = 0,
                      bbox_color='green', text_color='green', mask_color=None,
                      thickness: int = 2, font_size: float = 8, win_name: str = '',
                      show: bool = True, wait_time: float = 0,
                      out_file: Optional[str] = None) -> np.ndarray:
    """Draw boxes (and masks) with their labels on ``img``.

    Args:
        img: an image file or an (H, W, 3) BGR array (not modified).
        bboxes: (K, 4) x1y1x2y2 or (K, 5) with scores.
        labels: (K,) class indices, colour ``palette[label]``.
        segms: (K, H, W) boolean masks.
        class_names: names of the labels (``class i`` without).
        score_thr: boxes scoring at or below it are not drawn (0: all drawn).
        bbox_color, text_color, mask_color: a palette for :func:`get_palette` (a colour name,
            an RGB tuple, a list of RGB tuples indexed by label, 'coco', 'random', ...).
        thickness: box line width; font_size: label size in points (100 dpi).
        show, win_name, wait_time: show in a pyplot window (``wait_time`` seconds; 0 blocks).
        out_file: write the drawn image there (directories created).

    Returns:
        the drawn (H, W, 3) BGR uint8 image.
    """
    _check_inputs(bboxes, labels, segms, class_names, score_thr)
    img = mmcv.imread(img).astype(np.uint8)
    if score_thr > 0:
        keep = bboxes[:, -1] > score_thr
        bboxes, labels = bboxes[keep], labels[keep]
        segms = segms[keep] if segms is not None else None
    img = np.ascontiguousarray(mmcv.bgr2rgb(img))
    height, width = img.shape[:2]
    fig, ax = _figure(width, height, win_name, show)

    num_colors = int(labels.max()) + 1 if len(labels) else 1
    text_palette = [readable_on_black(color)
                    for color in palette_val(get_palette(text_color, num_colors))]
    text_colors = [text_palette[label] for label in labels]
    num_bboxes = 0 if bboxes is None else bboxes.shape[0]
    if num_bboxes:
        bbox_palette = palette_val(get_palette(bbox_color, num_colors))
        draw_bboxes(ax, bboxes, [bbox_palette[label] for label in labels[:num_bboxes]],
                    thickness=thickness)
        areas = (bboxes[:, 3] - bboxes[:, 1]) * (bboxes[:, 2] - bboxes[:, 0])
        draw_labels(ax, labels[:num_bboxes], bboxes[:, :2].astype(np.int32) + thickness,
                    scores=bboxes[:, 4] if bboxes.shape[1] == 5 else None,
                    class_names=class_names, color=text_colors, font_size=font_size,
                    scales=_get_adaptive_scales(areas))
    if segms is not None and len(segms):
        mask_palette = get_palette(mask_color, num_colors)
        colors = np.array([mask_palette[label] for label in labels], dtype=np.uint8)
        img = draw_masks(ax, img, segms, colors)
        unlabelled = np.arange(num_bboxes, len(segms))  # masks without a box get a centred label
        if len(unlabelled):
            centres = np.array([np.argwhere(segms[i])[:, ::-1].mean(axis=0) for i in unlabelled])
            draw_labels(ax, labels[unlabelled], centres, class_names=class_names,
                        color=[text_colors[i] for i in unlabelled], font_size=font_size,
                        scales=_get_adaptive_scales(segms[unlabelled].sum(axis=(1, 2))),
                        horizontal_alignment='center')

    ax.imshow(img, interpolation='none')
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    fig.canvas.draw()
    if _move_labels_inside(ax, width):
        fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    drawn = mmcv.rgb2bgr(np.ascontiguousarray(rgba[:, :, :3]))
    if show:
        _show(wait_time)
    if out_file is not None:
        mmcv.imwrite(drawn, out_file)
    if show:
        plt.close(fig)
    return drawn


def _show(wait_time: float) -> None:
    if wait_time == 0:
        plt.show()
    else:
        plt.show(block=False)
        plt.pause(wait_time)


def parse_det_result(result) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """A detector's result for one image -> (K, 5) boxes, (K,) labels, (K, H, W) masks or None.

    ``result`` is a list per class of (n, 5) arrays, or a tuple (that list, masks per class)."""
    if isinstance(result, tuple):
        bbox_result, segm_result = result
        if isinstance(segm_result, tuple):  # (masks, mask scores)
            segm_result = segm_result[0]
    else:
        bbox_result, segm_result = result, None
    bboxes = np.vstack(bbox_result) if len(bbox_result) else np.zeros((0, 5), np.float32)
    labels = np.concatenate([np.full(len(boxes), i, dtype=np.int32)
                             for i, boxes in enumerate(bbox_result)] or [np.zeros(0, np.int32)])
    segms = None
    if segm_result is not None and len(labels):
        segms = mmcv.concat_list(segm_result)
        if isinstance(segms[0], torch.Tensor):
            segms = torch.stack(segms, dim=0).detach().cpu().numpy()
        else:
            segms = np.stack(segms, axis=0)
    return bboxes, labels, segms


def imshow_gt_det_bboxes(img: Union[str, np.ndarray], annotation: dict, result,
                         class_names: Optional[Sequence[str]] = None, score_thr: float = 0,
                         gt_bbox_color=(61, 102, 255), gt_text_color=(200, 200, 200),
                         gt_mask_color=(61, 102, 255), det_bbox_color=(241, 101, 72),
                         det_text_color=(200, 200, 200), det_mask_color=(241, 101, 72),
                         thickness: int = 2, font_size: float = 13, win_name: str = '',
                         show: bool = True, wait_time: float = 0,
                         out_file: Optional[str] = None,
                         overlay_gt_pred: bool = True) -> np.ndarray:
    """Ground truth and detections of one image: the detections drawn over the ground truth
    (``overlay_gt_pred``), or the ground-truth image above the detection image.

    Args:
        annotation: ``gt_bboxes`` (G, 4), ``gt_labels`` (G,), optional ``gt_masks`` (G, H, W).
        result: the detector's result for the image (see :func:`parse_det_result`).
        the rest: as :func:`imshow_det_bboxes`, for the ground truth (``gt_``) and the
            detections (``det_``); ``score_thr`` applies to the detections.

    Returns:
        the drawn BGR uint8 image ((H, W, 3), or (2H, W, 3) without ``overlay_gt_pred``).
    """
    for key in ('gt_bboxes', 'gt_labels'):
        if key not in annotation:
            raise KeyError(f'annotation has no {key!r} (keys: {", ".join(annotation)})')
    if not isinstance(result, (tuple, list)):
        raise TypeError(f'Expected tuple or list, but get {type(result).__name__}')
    gt_masks = annotation.get('gt_masks')
    if gt_masks is not None and hasattr(gt_masks, 'to_ndarray'):
        gt_masks = gt_masks.to_ndarray()
    img = mmcv.imread(img)
    style = dict(class_names=class_names, thickness=thickness, font_size=font_size,
                 win_name=win_name)
    img_with_gt = imshow_det_bboxes(img, annotation['gt_bboxes'], annotation['gt_labels'],
                                    gt_masks, bbox_color=gt_bbox_color, text_color=gt_text_color,
                                    mask_color=gt_mask_color, show=False, **style)
    bboxes, labels, segms = parse_det_result(result)
    det_colors = dict(bbox_color=det_bbox_color, text_color=det_text_color,
                      mask_color=det_mask_color)
    if overlay_gt_pred:
        return imshow_det_bboxes(img_with_gt, bboxes, labels, segms, score_thr=score_thr,
                                 show=show, wait_time=wait_time, out_file=out_file,
                                 **det_colors, **style)
    img_with_det = imshow_det_bboxes(img, bboxes, labels, segms, score_thr=score_thr,
                                     show=False, **det_colors, **style)
    drawn = np.concatenate([img_with_gt, img_with_det], axis=0)
    if show:
        plt.figure(win_name, frameon=False)
        plt.imshow(mmcv.bgr2rgb(drawn))
        _show(wait_time)
        plt.close()
    if out_file is not None:
        mmcv.imwrite(drawn, out_file)
    return drawn
