"""List a folder of images as a COCO json without annotations, for test-time inference:
MMDetection 2.x's ``tools/dataset_converters/images2coco.py``.

    python tools/dataset_converters/images2coco.py IMG_PATH CLASSES OUT [-e EXT ...]

- IMG_PATH is searched recursively (hidden files and folders skipped). Each image's
  ``file_name`` is IMG_PATH joined with its path under IMG_PATH, as MMDetection writes it, so a
  test set with ``img_prefix=''`` reads the images where they are; image ids count from 0 in
  path order; width and height are read with PIL.
- CLASSES is a text file with one class name per line: the categories, ids from 0 in that order.
- OUT, a file name ending in ``.json``, is written to ``IMG_PATH/../annotations/``.
- ``-e/--exclude-extensions png bmp`` leaves out files with those extensions. Any other file that
  is not an image stops the conversion, naming it, before anything is written.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Sequence

from PIL import Image, UnidentifiedImageError

from mmdet_lite.utils.cli import run_cli


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert images to coco format without annotations')
    parser.add_argument('img_path', help='The root path of images')
    parser.add_argument('classes', help='The text file name of storage class list')
    parser.add_argument('out', help='The output annotation json file name, The save dir is in '
                                    'the same directory as img_path')
    parser.add_argument('-e', '--exclude-extensions', nargs='+', default=[],
                        help='The suffix of images to be excluded, such as "png" and "bmp"')
    args = parser.parse_args(argv)
    if not args.out.endswith('.json'):
        parser.error(f'OUT must be a file name ending in .json, got {args.out!r}')
    return args


def read_classes(path: str) -> List[str]:
    """The non-blank lines of ``path``, stripped; at least one, no repeats."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'classes file {path} does not exist')
    with open(path) as f:
        classes = [line.strip() for line in f if line.strip()]
    if not classes:
        raise ValueError(f'classes file {path} names no class (one name per line)')
    repeated = sorted({name for name in classes if classes.count(name) > 1})
    if repeated:
        raise ValueError(f'classes file {path} names {", ".join(repeated)} more than once')
    return classes


def image_paths(img_path: str, exclude_extensions: Sequence[str]) -> List[str]:
    """Paths under ``img_path`` (relative, sorted), hidden entries and excluded extensions left
    out."""
    excluded = tuple('.' + ext.lower().lstrip('.') for ext in exclude_extensions)
    found = []
    for folder, subfolders, files in os.walk(img_path):
        subfolders[:] = [name for name in subfolders if not name.startswith('.')]
        for name in files:
            if not name.startswith('.') and not name.lower().endswith(excluded):
                found.append(osp.relpath(osp.join(folder, name), img_path))
    return sorted(found)


def collect_image_infos(img_path: str, exclude_extensions: Sequence[str] = ()) -> List[Dict]:
    """``[{filename, width, height}]`` for the images under ``img_path``; raises naming every file
    PIL cannot read as an image."""
    if not osp.isdir(img_path):
        raise NotADirectoryError(f'IMG_PATH {img_path} is not a directory')
    infos, unreadable = [], []
    for rel_path in image_paths(img_path, exclude_extensions):
        path = osp.join(img_path, rel_path)
        try:
            with Image.open(path) as image:
                infos.append(dict(filename=path, width=image.width, height=image.height))
        except (UnidentifiedImageError, OSError):
            unreadable.append(rel_path)
    if unreadable:
        shown = ', '.join(unreadable[:10]) + (', ...' if len(unreadable) > 10 else '')
        extensions = sorted({osp.splitext(name)[1].lstrip('.') or name for name in unreadable})
        raise ValueError(f'{len(unreadable)} file(s) under {img_path} are not images PIL can '
                         f'read: {shown} (leave them out with --exclude-extensions '
                         f'{" ".join(extensions)})')
    if not infos:
        raise FileNotFoundError(f'no image files under {img_path}')
    return infos


def cvt_to_coco_json(img_infos: List[Dict], classes: Sequence[str]) -> Dict:
    """A COCO dict with ``images`` (ids from 0), ``categories`` (ids from 0) and no
    ``annotations``."""
    return dict(
        images=[dict(id=image_id, file_name=info['filename'], height=info['height'],
                     width=info['width']) for image_id, info in enumerate(img_infos)],
        type='instance',
        categories=[dict(supercategory='none', id=category_id, name=name)
                    for category_id, name in enumerate(classes)],
        annotations=[])


def main(argv=None) -> None:
    args = parse_args(argv)
    classes = read_classes(args.classes)
    coco = cvt_to_coco_json(collect_image_infos(args.img_path, args.exclude_extensions), classes)
    save_path = osp.join(osp.normpath(osp.join(args.img_path, '..', 'annotations')), args.out)
    os.makedirs(osp.dirname(save_path), exist_ok=True)
    with open(save_path, 'w') as f:
        json.dump(coco, f)
    print(f'save json file: {save_path} ({len(coco["images"])} images, '
          f'{len(classes)} classes)')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'images2coco.py'))
