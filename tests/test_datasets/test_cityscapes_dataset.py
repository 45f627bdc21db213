"""CityscapesDataset on the tiny COCO-format sample of tests/fixtures/xml_datasets.py: its training
filter (crowd-only images dropped, unlike CocoDataset), COCO bbox evaluation, metric 'cityscapes'."""
import numpy as np
import pytest

from mmdet_lite.datasets import CityscapesDataset, CocoDataset
from mmdet_lite.datasets import cityscapes as cityscapes_module
from tests.fixtures.xml_datasets import write_cityscapes

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    return write_cityscapes(tmp_path_factory.mktemp('cityscapes'))


def cityscapes(ann_file, dataset_class=CityscapesDataset, **kwargs):
    return dataset_class(ann_file=str(ann_file), img_prefix=str(ann_file.parents[1] / 'leftImg8bit'),
                         pipeline=PIPELINE, **kwargs)


def test_training_keeps_images_with_a_non_crowd_object_of_the_8_classes(ann_file):
    # 2: only a crowd person, 3: nothing, 5: 32 x 24, 6: only 'road'
    assert cityscapes(ann_file).img_ids == [1, 4]


def test_coco_rules_would_keep_the_crowd_only_image(ann_file):
    classes = CityscapesDataset.CLASSES
    assert cityscapes(ann_file, CocoDataset, classes=classes).img_ids == [1, 2, 4]


def test_without_filter_empty_gt_only_the_size_rule_applies(ann_file):
    assert cityscapes(ann_file, filter_empty_gt=False).img_ids == [1, 2, 3, 4, 6]


def test_annotations_use_the_8_classes_and_the_segm_file(ann_file):
    dataset = cityscapes(ann_file, test_mode=True)
    assert dataset.CLASSES == ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle')
    ann = dataset.get_ann_info(3)  # image 4: a crowd person (ignored) and a car
    assert ann['bboxes'].tolist() == [[2, 10, 26, 24]] and ann['labels'].tolist() == [2]
    assert ann['bboxes_ignore'].tolist() == [[30, 2, 40, 22]]
    assert ann['seg_map'] == 'city_4_gtFine_instanceIds.png'


def test_bbox_metric_is_cocos_ap(ann_file):
    dataset = cityscapes(ann_file, test_mode=True)
    results = [[np.zeros((0, 5), np.float32) for _ in range(8)] for _ in range(6)]
    for index, box in ((0, [4, 4, 24, 16]), (3, [2, 10, 26, 24]), (4, [2, 2, 12, 12])):  # every car
        results[index][2] = np.array([box + [0.9]], np.float32)
    eval_results = dataset.evaluate(results, metric='bbox', logger='silent')
    assert eval_results['bbox_mAP'] == 1.0 and eval_results['bbox_mAP_50'] == 1.0


def test_cityscapes_metric_names_the_missing_package(ann_file, monkeypatch):
    dataset = cityscapes(ann_file, test_mode=True)
    monkeypatch.setattr(cityscapes_module.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(ModuleNotFoundError, match='needs the package cityscapesscripts'):
        dataset.evaluate([], metric=['bbox', 'cityscapes'])


def test_cityscapes_metric_says_it_needs_masks_where_the_package_is_installed(ann_file, monkeypatch):
    dataset = cityscapes(ann_file, test_mode=True)
    monkeypatch.setattr(cityscapes_module.importlib.util, 'find_spec', lambda name: object())
    with pytest.raises(NotImplementedError, match='scores instance masks'):
        dataset.evaluate([], metric='cityscapes')
