"""Objects365V1Dataset and Objects365V2Dataset: MMDetection 2.28's class lists, v1's labels
following sorted category ids (its jsons list categories unsorted), v2's patch-relative file
names and ignore list, COCO bbox evaluation through the category ids."""
import numpy as np
import pytest

from mmdet_lite.datasets import CocoDataset, Objects365V1Dataset, Objects365V2Dataset, build_dataset
from mmdet_lite.datasets.objects365 import OBJV2_IGNORE_LIST, patch_file_name
from tests.fixtures.objects365 import shuffled_categories, write_objects365

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]
V1, V2 = Objects365V1Dataset.CLASSES, Objects365V2Dataset.CLASSES


@pytest.mark.parametrize('classes', [V1, V2], ids=['v1', 'v2'])
def test_class_lists_hold_365_distinct_names(classes):
    assert len(classes) == 365 and len(set(classes)) == 365


def test_class_names_are_2_28s_spelling_included():
    assert (V1[0], V1[8], V1[23], V1[158], V1[364]) == (
        'person', 'car', 'tv', 'tissue ', 'flashlight')
    assert (V2[0], V2[3], V2[5], V2[37], V2[52], V2[364]) == (
        'Person', 'Other Shoes', 'Car', 'Moniter/TV', 'Bakset', 'Table Tennis ')
    assert Objects365V1Dataset.PALETTE is None and Objects365V2Dataset.PALETTE is None


def test_patch_file_name_keeps_the_last_directory_and_the_name():
    assert patch_file_name('images/v2/patch8/objects365_v2_00420917.jpg') == \
        'patch8/objects365_v2_00420917.jpg'
    assert patch_file_name('a.jpg') == 'a.jpg'


@pytest.fixture(scope='module')
def v1_root(tmp_path_factory):
    """Three images: a car (id 9), a person (id 1), a flashlight (id 365)."""
    root = tmp_path_factory.mktemp('obj365v1')
    write_objects365(root, 'annotations/val.json', 'val', ['0.jpg', '1.jpg', '2.jpg'], [9, 1, 365])
    return root


def v1_dataset(root, dataset_class=Objects365V1Dataset, **kwargs):
    return dataset_class(ann_file=str(root / 'annotations/val.json'), img_prefix=str(root / 'val'),
                         pipeline=PIPELINE, **kwargs)


def test_v1_labels_follow_category_ids_though_the_json_lists_them_shuffled(v1_root):
    dataset = v1_dataset(v1_root, test_mode=True)
    assert dataset.cat_ids == list(range(1, 366))
    assert [dataset.get_ann_info(i)['labels'].tolist() for i in range(3)] == [[8], [0], [364]]
    assert [V1[label] for label in (8, 0, 364)] == ['car', 'person', 'flashlight']


def test_coco_dataset_would_follow_the_shuffled_json_order(v1_root):
    dataset = v1_dataset(v1_root, CocoDataset, classes=V1, test_mode=True)
    assert dataset.cat_ids == [cat['id'] for cat in shuffled_categories(1)] != list(range(1, 366))


def test_v1_bbox_evaluation_maps_labels_back_to_category_ids(v1_root):
    dataset = v1_dataset(v1_root, test_mode=True)
    results = [[np.zeros((0, 5), np.float32) for _ in range(365)] for _ in range(3)]
    for index, label in enumerate((8, 0, 364)):
        results[index][label] = np.array([[10, 8, 40, 48, 0.9]], np.float32)
    eval_results = dataset.evaluate(results, metric='bbox', logger='silent')
    assert eval_results['bbox_mAP'] == 1.0 and eval_results['bbox_mAP_50'] == 1.0


@pytest.fixture(scope='module')
def v2_root(tmp_path_factory):
    """The json names images 'images/v2/patchX/...'; the second is on the ignore list."""
    root = tmp_path_factory.mktemp('obj365v2')
    names = ['patch0/objects365_v2_00000001.jpg', OBJV2_IGNORE_LIST[1],
             'patch1/objects365_v2_00000003.jpg']
    write_objects365(root, 'annotations/train.json', 'train', names, [6, 6, 38], version=2,
                     json_dir='images/v2/')
    return root


@pytest.mark.parametrize('test_mode', [True, False])
def test_v2_reads_patch_relative_files_and_leaves_out_ignored_images(v2_root, test_mode):
    dataset = build_dataset(dict(type='Objects365V2Dataset', data_root=str(v2_root),
                                 ann_file='annotations/train.json', img_prefix='train/',
                                 pipeline=PIPELINE, test_mode=test_mode))
    assert [info['filename'] for info in dataset.data_infos] == [
        'patch0/objects365_v2_00000001.jpg', 'patch1/objects365_v2_00000003.jpg']
    assert dataset.img_ids == [1, 3]
    assert dataset.prepare_train_img(1)['img'].shape == (64, 80, 3)


def test_v2_labels_follow_the_json_category_order(v2_root):
    # as in 2.28, v2's categories are not sorted: label i is the json's i-th category of CLASSES
    dataset = Objects365V2Dataset(ann_file=str(v2_root / 'annotations/train.json'),
                                  img_prefix=str(v2_root / 'train'), pipeline=PIPELINE)
    assert dataset.cat_ids == [cat['id'] for cat in shuffled_categories(2)]
    labels = [dataset.get_ann_info(i)['labels'].tolist() for i in range(2)]
    assert [[dataset.cat_ids[label] for label in image] for image in labels] == [[6], [38]]
