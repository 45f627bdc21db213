"""tools/dataset_converters: pascal_voc.py (VOC XML -> COCO json / middle-format pkl) and
images2coco.py (a folder of images -> COCO json without annotations), on tiny files in tmp_path."""
import json
import pickle

import numpy as np
import pytest
from pycocotools.coco import COCO

from mmdet_lite.datasets import build_dataset
from tests.conftest import load_tool
from tests.test_datasets.helpers import write_image

pascal_voc = load_tool('dataset_converters/pascal_voc.py')
VOC_CLASSES = pascal_voc.VOC_CLASSES
DOG, PERSON, CAR = (VOC_CLASSES.index(name) for name in ('dog', 'person', 'car'))

# name -> (width, height, [(class, difficult, xmin, ymin, xmax, ymax)]), VOC's 1-based pixels
VOC_IMAGES = {
    '000001': (64, 48, [('dog', 0, 5, 6, 30, 40), ('person', 1, 33, 2, 60, 20)]),
    '000002': (40, 32, [('car', 0, 1, 1, 40, 32)]),
}


def voc_xml(width, height, objects):
    body = ''.join(
        f'<object><name>{name}</name><pose>Left</pose><truncated>0</truncated>'
        f'<difficult>{difficult}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>'
        f'<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>'
        for name, difficult, x1, y1, x2, y2 in objects)
    return (f'<annotation><folder>VOC2007</folder><size><width>{width}</width>'
            f'<height>{height}</height><depth>3</depth></size>{body}</annotation>')


@pytest.fixture
def devkit(tmp_path):
    """VOCdevkit/VOC2007 with 2 images: train 000001, val 000002, trainval both, no test list."""
    root = tmp_path / 'VOCdevkit'
    voc = root / 'VOC2007'
    for folder in ('Annotations', 'ImageSets/Main', 'JPEGImages'):
        (voc / folder).mkdir(parents=True)
    for seed, (name, (width, height, objects)) in enumerate(VOC_IMAGES.items()):
        (voc / 'Annotations' / f'{name}.xml').write_text(voc_xml(width, height, objects))
        write_image(voc / 'JPEGImages' / f'{name}.jpg', height, width, seed=seed)
    for split, names in (('train', ['000001']), ('val', ['000002']),
                         ('trainval', ['000001', '000002'])):
        (voc / 'ImageSets' / 'Main' / f'{split}.txt').write_text('\n'.join(names) + '\n')
    return root


def convert_voc(run_tool_in_process, *args):
    return run_tool_in_process('dataset_converters/pascal_voc.py', *args)


def test_voc_to_coco_json_keeps_the_xml_boxes_minus_one(run_tool_in_process, devkit, tmp_path):
    out = tmp_path / 'out'
    result = convert_voc(run_tool_in_process, devkit, '-o', out, '--out-format', 'coco')
    assert result.returncode == 0, result.stderr
    assert 'skip voc2007 test' in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        'voc07_train.json', 'voc07_trainval.json', 'voc07_val.json']
    coco = json.loads((out / 'voc07_trainval.json').read_text())
    assert coco['categories'] == [dict(supercategory='none', id=i, name=name)
                                  for i, name in enumerate(VOC_CLASSES)]
    assert coco['images'] == [
        dict(id=0, file_name='VOC2007/JPEGImages/000001.jpg', height=48, width=64),
        dict(id=1, file_name='VOC2007/JPEGImages/000002.jpg', height=32, width=40)]
    # [xmin - 1, ymin - 1, xmax - xmin, ymax - ymin]; the difficult person is a crowd box
    assert [(a['id'], a['image_id'], a['category_id'], a['bbox'], a['area'], a['iscrowd'])
            for a in coco['annotations']] == [
        (1, 0, DOG, [4, 5, 25, 34], 850, 0), (2, 0, PERSON, [32, 1, 27, 18], 486, 1),
        (3, 1, CAR, [0, 0, 39, 31], 1209, 0)]
    assert coco['annotations'][0]['segmentation'] == [[4, 5, 4, 39, 29, 39, 29, 5]]
    assert COCO(str(out / 'voc07_trainval.json')).getAnnIds(imgIds=[0]) == [1, 2]


def test_converted_json_loads_and_evaluates_with_coco_dataset(run_tool_in_process, devkit,
                                                              tmp_path):
    out = tmp_path / 'out'
    assert convert_voc(run_tool_in_process, devkit, '-o', out, '--out-format', 'coco'
                       ).returncode == 0
    dataset = build_dataset(dict(type='CocoDataset', ann_file=str(out / 'voc07_trainval.json'),
                                 img_prefix=str(devkit), classes=VOC_CLASSES, pipeline=[],
                                 test_mode=True))
    ann = dataset.get_ann_info(0)
    np.testing.assert_array_equal(ann['bboxes'], [[4, 5, 29, 39]])  # the XML's box minus 1
    np.testing.assert_array_equal(ann['labels'], [DOG])
    np.testing.assert_array_equal(ann['bboxes_ignore'], [[32, 1, 59, 19]])

    def detections(image_boxes):
        results = [np.zeros((0, 5), np.float32) for _ in VOC_CLASSES]
        for label, box in image_boxes:
            results[label] = np.array([[*box, 0.9]], np.float32)
        return results
    # every kept box found exactly: mAP 1 (MMDetection's annotation id 0 would score 0.5 here)
    metrics = dataset.evaluate([detections([(DOG, [4, 5, 29, 39])]),
                                detections([(CAR, [0, 0, 39, 31])])], logger='silent')
    assert metrics['bbox_mAP'] == 1.0


def test_voc_to_pkl_middle_format(run_tool_in_process, devkit, tmp_path):
    assert convert_voc(run_tool_in_process, devkit).returncode == 0  # default: pkl in DEVKIT_PATH
    with open(devkit / 'voc07_train.pkl', 'rb') as f:
        [info] = pickle.load(f)
    assert (info['filename'], info['width'], info['height']) == (
        'VOC2007/JPEGImages/000001.jpg', 64, 48)
    np.testing.assert_array_equal(info['ann']['bboxes'], [[4, 5, 29, 39]])
    assert info['ann']['bboxes'].dtype == np.float32 and info['ann']['labels'].dtype == np.int64
    np.testing.assert_array_equal(info['ann']['labels'], [DOG])
    np.testing.assert_array_equal(info['ann']['bboxes_ignore'], [[32, 1, 59, 19]])
    np.testing.assert_array_equal(info['ann']['labels_ignore'], [PERSON])


def test_both_years_add_the_voc0712_sets(run_tool_in_process, devkit, tmp_path):
    voc2012 = devkit / 'VOC2012'
    (voc2012 / 'ImageSets' / 'Main').mkdir(parents=True)
    (voc2012 / 'Annotations').mkdir()
    (voc2012 / 'Annotations' / '2012_000001.xml').write_text(voc_xml(*VOC_IMAGES['000002']))
    (voc2012 / 'ImageSets' / 'Main' / 'train.txt').write_text('2012_000001\n')
    out = tmp_path / 'out'
    assert convert_voc(run_tool_in_process, devkit, '-o', out, '--out-format', 'coco'
                       ).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == [
        'voc0712_train.json', 'voc07_train.json', 'voc07_trainval.json', 'voc07_val.json',
        'voc12_train.json']
    coco = json.loads((out / 'voc0712_train.json').read_text())
    assert [image['file_name'] for image in coco['images']] == [
        'VOC2007/JPEGImages/000001.jpg', 'VOC2012/JPEGImages/2012_000001.jpg']


@pytest.mark.parametrize('break_devkit,message', [
    (lambda voc: (voc / 'Annotations' / '000002.xml').unlink(),
     '1 annotation file(s) listed in ImageSets/Main/val.txt do not exist: {voc}/Annotations/'
     '000002.xml'),
    (lambda voc: (voc / 'Annotations' / '000002.xml').write_text(voc_xml(
        40, 32, [('kangaroo', 0, 1, 1, 9, 9)])),
     "{voc}/Annotations/000002.xml: object 'kangaroo' is not a VOC class (aeroplane, "),
    (lambda voc: (voc / 'Annotations' / '000001.xml').write_text('<annotation><size>'),
     '{voc}/Annotations/000001.xml is not valid XML: '),
    (lambda voc: (voc / 'Annotations' / '000001.xml').write_text(
        voc_xml(64, 48, [('dog', 0, 5, 6, 'x', 40)])),
     "{voc}/Annotations/000001.xml: <xmax> is missing or not a number (got 'x')"),
])
def test_bad_voc_input_is_named_and_nothing_is_written(run_tool_in_process, devkit, tmp_path,
                                                       break_devkit, message):
    voc = devkit / 'VOC2007'
    break_devkit(voc)
    out = tmp_path / 'out'
    result = convert_voc(run_tool_in_process, devkit, '-o', out, '--out-format', 'coco')
    assert result.returncode == 1
    assert message.format(voc=voc) in result.stderr.splitlines()[0]
    assert not out.exists()


def test_devkit_without_voc_folders_is_refused(run_tool_in_process, tmp_path):
    result = convert_voc(run_tool_in_process, tmp_path)
    assert result.returncode == 1
    assert f'The devkit path {tmp_path} contains neither "VOC2007" nor "VOC2012"' in result.stderr


# images2coco.py
@pytest.fixture
def image_folder(tmp_path):
    """tmp_path/images: a.jpg (40x30), sub/b.png (20x10), notes.txt, .hidden; classes.txt."""
    images = tmp_path / 'images'
    write_image(images / 'a.jpg', 30, 40)
    write_image(images / 'sub' / 'b.png', 10, 20)
    (images / 'notes.txt').write_text('not an image')
    (images / '.hidden').write_text('skipped')
    (tmp_path / 'classes.txt').write_text('cat\ndog\n\n')
    return images


def images2coco(run_tool_in_process, *args):
    return run_tool_in_process('dataset_converters/images2coco.py', *args)


def test_images2coco_lists_images_beside_the_folder(run_tool_in_process, image_folder, tmp_path):
    result = images2coco(run_tool_in_process, image_folder, tmp_path / 'classes.txt', 'test.json',
                         '--exclude-extensions', 'txt')
    assert result.returncode == 0, result.stderr
    out = tmp_path / 'annotations' / 'test.json'
    assert f'save json file: {out} (2 images, 2 classes)' in result.stdout
    coco = json.loads(out.read_text())
    assert coco == dict(
        images=[dict(id=0, file_name=f'{image_folder}/a.jpg', height=30, width=40),
                dict(id=1, file_name=f'{image_folder}/sub/b.png', height=10, width=20)],
        type='instance', annotations=[],
        categories=[dict(supercategory='none', id=0, name='cat'),
                    dict(supercategory='none', id=1, name='dog')])
    dataset = build_dataset(dict(type='CocoDataset', ann_file=str(out), img_prefix='',
                                 classes=('cat', 'dog'), pipeline=[], test_mode=True))
    assert [info['filename'] for info in dataset.data_infos] == [
        f'{image_folder}/a.jpg', f'{image_folder}/sub/b.png']


@pytest.mark.parametrize('args,message', [
    (['{images}', '{tmp}/classes.txt', 'test.json'],
     '1 file(s) under {images} are not images PIL can read: notes.txt (leave them out with '
     '--exclude-extensions txt)'),
    (['{images}', '{tmp}/missing.txt', 'test.json', '-e', 'txt'],
     'classes file {tmp}/missing.txt does not exist'),
    (['{tmp}/nowhere', '{tmp}/classes.txt', 'test.json'],
     'IMG_PATH {tmp}/nowhere is not a directory'),
    (['{images}', '{tmp}/classes.txt', 'test.pkl'],
     "OUT must be a file name ending in .json, got 'test.pkl'"),
])
def test_images2coco_bad_input_is_named_and_nothing_is_written(run_tool_in_process, image_folder,
                                                               tmp_path, args, message):
    result = images2coco(run_tool_in_process,
                         *[arg.format(images=image_folder, tmp=tmp_path) for arg in args])
    assert result.returncode != 0
    assert message.format(images=image_folder, tmp=tmp_path) in result.stderr
    assert not (tmp_path / 'annotations').exists()
