"""Convert PASCAL VOC annotations (XML) to MMDetection's middle format (pkl) or to COCO json:
MMDetection 2.x's ``tools/dataset_converters/pascal_voc.py``.

    python tools/dataset_converters/pascal_voc.py DEVKIT_PATH [-o OUT_DIR] [--out-format pkl|coco]

DEVKIT_PATH holds ``VOC2007/`` and/or ``VOC2012/`` (``Annotations/``, ``ImageSets/Main/``,
``JPEGImages/``). Written to OUT_DIR (default DEVKIT_PATH), as MMDetection names them:
``voc07_{train,val,trainval,test}``, ``voc12_{train,val,trainval,test}`` and, with both years,
``voc0712_{train,val,trainval}``, each ``.pkl`` or ``.json``; a split without its
``ImageSets/Main/<split>.txt`` is skipped with a message.

As MMDetection converts them: box corners are VOC's minus 1 (``[xmin - 1, ymin - 1, xmax - 1,
ymax - 1]``; COCO ``bbox`` ``[xmin - 1, ymin - 1, xmax - xmin, ymax - ymin]``); ``difficult``
objects become ``bboxes_ignore`` (pkl) or ``iscrowd: 1`` annotations (json), which CocoDataset
ignores in training and evaluation; categories are the 20 VOC classes with ids 0..19 in VOC order;
image ids count from 0 and ``file_name`` is ``VOC<year>/JPEGImages/<name>.jpg`` (relative to
DEVKIT_PATH: use it as ``img_prefix``). Unlike MMDetection, annotation ids count from 1:
pycocotools' matching takes id 0 for "no match", so MMDetection's first annotation never counts
as found. Every XML file is read and checked before anything is written.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmdet_lite.utils.cli import run_cli

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')
LABEL_IDS = {name: label for label, name in enumerate(VOC_CLASSES)}
SPLITS = ('train', 'val', 'trainval')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert PASCAL VOC annotations to mmdetection format')
    parser.add_argument('devkit_path', help='pascal voc devkit path')
    parser.add_argument('-o', '--out-dir', help='output path')
    parser.add_argument('--out-format', default='pkl', choices=('pkl', 'coco'),
                        help='output format, "coco" indicates coco annotation format')
    return parser.parse_args(argv)


def _number(element: Optional[ET.Element], tag: str, xml_path: str) -> float:
    node = None if element is None else element.find(tag)
    try:
        return float(node.text)
    except (AttributeError, TypeError, ValueError):
        text = None if node is None else node.text
        raise ValueError(f'{xml_path}: <{tag}> is missing or not a number (got {text!r})') from None


def _boxes(boxes: List[List[float]], labels: List[int]):
    """(K, 4) float32 corners minus 1 and (K,) int64 labels."""
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)
    return np.array(boxes, np.float32) - 1, np.array(labels, np.int64)


def parse_xml(xml_path: str, img_path: str) -> Dict:
    """One image in the middle format: ``{filename, width, height, ann: {bboxes (K, 4) x1y1x2y2,
    labels (K,), bboxes_ignore, labels_ignore}}``; difficult objects go to the ``_ignore``s."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as error:
        raise ValueError(f'{xml_path} is not valid XML: {error}') from None
    size = root.find('size')
    width, height = (int(_number(size, tag, xml_path)) for tag in ('width', 'height'))
    kept, ignored = ([], []), ([], [])
    for obj in root.findall('object'):
        name = (obj.findtext('name') or '').strip()
        if name not in LABEL_IDS:
            raise ValueError(f'{xml_path}: object {name!r} is not a VOC class '
                             f'({", ".join(VOC_CLASSES)})')
        difficult = obj.find('difficult') is not None and int(_number(obj, 'difficult', xml_path))
        box = [_number(obj.find('bndbox'), tag, xml_path)
               for tag in ('xmin', 'ymin', 'xmax', 'ymax')]
        boxes, labels = ignored if difficult else kept
        boxes.append(box)
        labels.append(LABEL_IDS[name])
    bboxes, labels = _boxes(*kept)
    bboxes_ignore, labels_ignore = _boxes(*ignored)
    return dict(filename=img_path, width=width, height=height,
                ann=dict(bboxes=bboxes, labels=labels, bboxes_ignore=bboxes_ignore,
                         labels_ignore=labels_ignore))


def collect_annotations(devkit_path: str, years: Sequence[str], split: str) -> Optional[List]:
    """The middle-format list of ``split`` over ``years``; None (with a message) when a year has
    no ``ImageSets/Main/<split>.txt``. Raises naming every missing XML file."""
    names = []
    for year in years:
        filelist = osp.join(devkit_path, f'VOC{year}', 'ImageSets', 'Main', f'{split}.txt')
        if not osp.isfile(filelist):
            print(f'filelist does not exist: {filelist}, skip voc{year} {split}')
            return None
        with open(filelist) as f:
            names += [(year, line.strip()) for line in f if line.strip()]
    xml_paths = [osp.join(devkit_path, f'VOC{year}', 'Annotations', f'{name}.xml')
                 for year, name in names]
    missing = [path for path in xml_paths if not osp.isfile(path)]
    if missing:
        shown = ', '.join(missing[:5]) + (', ...' if len(missing) > 5 else '')
        raise FileNotFoundError(f'{len(missing)} annotation file(s) listed in ImageSets/Main/'
                                f'{split}.txt do not exist: {shown}')
    return [parse_xml(xml_path, f'VOC{year}/JPEGImages/{name}.jpg')
            for xml_path, (year, name) in zip(xml_paths, names)]


def _coco_annotation(ann_id: int, image_id: int, label: int, box: np.ndarray,
                     difficult: bool) -> Dict:
    x1, y1, x2, y2 = (float(value) for value in box)
    width, height = x2 - x1, y2 - y1
    corners = [int(x1), int(y1), int(x1), int(y2), int(x2), int(y2), int(x2), int(y1)]
    return dict(segmentation=[corners], area=int(width * height), ignore=0,
                iscrowd=int(difficult), image_id=image_id,
                bbox=[int(x1), int(y1), int(width), int(height)], category_id=int(label),
                id=ann_id)


def cvt_to_coco_json(annotations: List[Dict]) -> Dict:
    """The middle format as a COCO dict: kept boxes, then difficult ones (``iscrowd: 1``), per
    image."""
    coco = dict(images=[], type='instance', annotations=[],
                categories=[dict(supercategory='none', id=category_id, name=name)
                            for category_id, name in enumerate(VOC_CLASSES)])
    for image_id, info in enumerate(annotations):
        coco['images'].append(dict(id=image_id, file_name=info['filename'],
                                   height=info['height'], width=info['width']))
        ann = info['ann']
        for boxes, labels, difficult in ((ann['bboxes'], ann['labels'], False),
                                         (ann['bboxes_ignore'], ann['labels_ignore'], True)):
            for box, label in zip(boxes, labels):
                coco['annotations'].append(_coco_annotation(
                    len(coco['annotations']) + 1, image_id, label, box, difficult))
    return coco


def datasets_to_convert(devkit_path: str):
    """``[(name, years, split)]`` in MMDetection's order."""
    years = [year for year in ('2007', '2012') if osp.isdir(osp.join(devkit_path, f'VOC{year}'))]
    if not years:
        raise FileNotFoundError(f'The devkit path {devkit_path} contains neither "VOC2007" nor '
                                '"VOC2012" subfolder')
    groups = [(f'voc{year[2:]}', [year], (*SPLITS, 'test')) for year in years]
    if len(years) == 2:
        groups.append(('voc0712', years, SPLITS))
    return [(f'{prefix}_{split}', group_years, split)
            for prefix, group_years, splits in groups for split in splits]


def main(argv=None) -> None:
    args = parse_args(argv)
    out_dir = args.out_dir or args.devkit_path
    extension = '.json' if args.out_format == 'coco' else '.pkl'
    converted = {}
    for name, years, split in datasets_to_convert(args.devkit_path):
        print(f'processing {name} ...')
        annotations = collect_annotations(args.devkit_path, years, split)
        if annotations is not None:
            converted[name] = annotations
    if not converted:
        raise FileNotFoundError(f'no ImageSets/Main/{{{",".join(SPLITS)},test}}.txt under '
                                f'{args.devkit_path}/VOC*: nothing to convert')
    os.makedirs(out_dir, exist_ok=True)
    for name, annotations in converted.items():
        out_file = osp.join(out_dir, name + extension)
        if args.out_format == 'coco':
            with open(out_file, 'w') as f:
                json.dump(cvt_to_coco_json(annotations), f)
        else:
            with open(out_file, 'wb') as f:
                pickle.dump(annotations, f)
        print(f'wrote {out_file} ({len(annotations)} images)')
    print('Done!')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'pascal_voc.py'))
