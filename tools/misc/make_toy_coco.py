"""Write a small, seeded, offline COCO-format detection set of coloured shapes.

    python tools/misc/make_toy_coco.py --out data/toy_coco --num-train 400 --num-val 100

Layout: ``<out>/train/*.jpg``, ``<out>/val/*.jpg``, ``<out>/annotations/instances_train.json``
and ``instances_val.json``. Classes (told apart by shape only; colours are random):
``rectangle`` (id 1), ``ellipse`` (id 2), ``triangle`` (id 3). Each image has 1-4 objects
on a noisy background of random colour; a new object may overlap earlier ones by at most
``MAX_IOU`` IoU. Boxes are the tight extent of each drawn shape, COCO ``[x, y, w, h]``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Tuple

import cv2
import numpy as np

CATEGORIES = [dict(id=1, name='rectangle'), dict(id=2, name='ellipse'),
              dict(id=3, name='triangle')]
MAX_IOU = 0.1
MIN_COLOUR_DISTANCE = 120


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Write a toy COCO-format shapes dataset')
    parser.add_argument('--out', default='data/toy_coco', help='output directory')
    parser.add_argument('--num-train', type=int, default=400, help='number of training images')
    parser.add_argument('--num-val', type=int, default=100, help='number of validation images')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--width', type=int, default=160, help='image width (px)')
    parser.add_argument('--height', type=int, default=128, help='image height (px)')
    parser.add_argument('--min-size', type=int, default=20, help='smallest object side (px)')
    parser.add_argument('--max-size', type=int, default=60, help='largest object side (px)')
    args = parser.parse_args(argv)
    if args.num_train < 0 or args.num_val < 0:
        parser.error('--num-train and --num-val must be >= 0')
    if not 4 <= args.min_size <= args.max_size <= min(args.width, args.height):
        parser.error(f'need 4 <= --min-size ({args.min_size}) <= --max-size ({args.max_size}) '
                     f'<= min(width, height) ({min(args.width, args.height)})')
    return args


def _box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) x1y1x2y2 box with (N, 4) boxes."""
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / (area + areas - inter)


def _random_colour(rng: np.random.Generator, away_from: np.ndarray) -> Tuple[int, int, int]:
    while True:
        colour = rng.integers(0, 256, size=3)
        if np.abs(colour - away_from).sum() >= MIN_COLOUR_DISTANCE:
            return tuple(int(c) for c in colour)


def _draw_shape(mask: np.ndarray, cat_id: int, box: np.ndarray, rng: np.random.Generator) -> None:
    """Draw a filled shape of category ``cat_id`` inside ``box`` (x1, y1, x2, y2) on ``mask``."""
    x1, y1, x2, y2 = (int(v) for v in box)
    if cat_id == 1:
        cv2.rectangle(mask, (x1, y1), (x2 - 1, y2 - 1), 255, thickness=-1)
    elif cat_id == 2:
        centre = ((x1 + x2 - 1) // 2, (y1 + y2 - 1) // 2)
        cv2.ellipse(mask, centre, ((x2 - x1 - 1) // 2, (y2 - y1 - 1) // 2), 0, 0, 360, 255, -1)
    else:
        apex_x = int(rng.integers(x1, x2))
        points = np.array([[apex_x, y1], [x1, y2 - 1], [x2 - 1, y2 - 1]], dtype=np.int32)
        cv2.fillPoly(mask, [points], 255)


def make_image(rng: np.random.Generator, width: int, height: int, min_size: int,
               max_size: int) -> Tuple[np.ndarray, List[Dict]]:
    """One BGR image (height, width, 3) uint8 and its objects (``bbox`` xywh, ``area``,
    ``category_id``)."""
    background = rng.integers(0, 256, size=3)
    noise = rng.normal(0, 12, size=(height, width, 3))
    img = np.clip(background[None, None, :] + noise, 0, 255).astype(np.uint8)
    boxes = np.zeros((0, 4))
    objects = []
    for _ in range(int(rng.integers(1, 5))):
        for _attempt in range(20):
            w, h = rng.integers(min_size, max_size + 1, size=2)
            x1, y1 = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
            box = np.array([x1, y1, x1 + w, y1 + h], dtype=np.float64)
            if len(boxes) == 0 or _box_iou(box, boxes).max() <= MAX_IOU:
                break
        else:
            continue
        cat_id = int(rng.integers(1, len(CATEGORIES) + 1))
        mask = np.zeros((height, width), dtype=np.uint8)
        _draw_shape(mask, cat_id, box, rng)
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        img[mask > 0] = _random_colour(rng, background)
        tight = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                 int(ys.max() - ys.min() + 1)]
        boxes = np.vstack([boxes, box])
        objects.append(dict(bbox=tight, area=int(len(xs)), category_id=cat_id))
    return img, objects


def write_split(out_dir: str, split: str, num_images: int, rng: np.random.Generator,
                args: argparse.Namespace, first_ann_id: int) -> int:
    """Write ``<out_dir>/<split>/*.jpg`` and ``annotations/instances_<split>.json``;
    returns the next free annotation id."""
    img_dir = osp.join(out_dir, split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    ann_id = first_ann_id
    for img_id in range(1, num_images + 1):
        img, objects = make_image(rng, args.width, args.height, args.min_size, args.max_size)
        file_name = f'{split}_{img_id:05d}.jpg'
        if not cv2.imwrite(osp.join(img_dir, file_name), img, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f'cannot write {osp.join(img_dir, file_name)}')
        images.append(dict(id=img_id, file_name=file_name, width=args.width, height=args.height))
        for obj in objects:
            x, y, w, h = obj['bbox']
            annotations.append(dict(
                id=ann_id, image_id=img_id, category_id=obj['category_id'], bbox=obj['bbox'],
                area=obj['area'], iscrowd=0,
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
            ann_id += 1
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    with open(osp.join(ann_dir, f'instances_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=CATEGORIES), f)
    return ann_id


def main(argv=None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    next_id = write_split(args.out, 'train', args.num_train, rng, args, first_ann_id=1)
    write_split(args.out, 'val', args.num_val, rng, args, first_ann_id=next_id)
    print(f'wrote {args.num_train} train and {args.num_val} val images of '
          f'{args.width}x{args.height} to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
