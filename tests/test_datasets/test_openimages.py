"""OpenImagesDataset / OpenImagesChallengeDataset on the tiny samples of
tests/fixtures/openimages.py: parsing, the class hierarchy, and the OpenImages mAP on hand-computed detections."""
import numpy as np
import pytest

from mmdet_lite.datasets import OpenImagesChallengeDataset, OpenImagesDataset
from tests.fixtures.openimages import write_openimages, write_openimages_challenge

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', denorm_bbox=True)]


TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 48), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True), dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'], meta_keys=['filename', 'ori_shape'])])]


def _dataset(files, cls=OpenImagesDataset, pipeline=PIPELINE, **kwargs):
    args = {key: str(path) for key, path in files.items()}
    args.update(kwargs)
    args['img_prefix'] = args['img_prefix'] + '/'
    return cls(pipeline=pipeline, **args)


def _empty():
    return np.zeros((0, 5), np.float32)


def _dets(*rows):
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


# Per image, per class (Animal, Dog, Car) detections in pixels of the 64x48 images, and the
# OpenImages mAP worked out by hand in test_evaluate_*.
DOG0, CAR0 = _dets([8, 12, 32, 36, .9]), _dets([32, 0, 64, 24, .8])
CARS_IN_GROUP1 = _dets([2, 14, 20, 30, .7], [24, 20, 40, 40, .6])
DOG_MISSED3, CAR_UNBOXED3 = _dets([0, 0, 16, 16, .5]), _dets([10, 10, 20, 20, .95])
RESULTS = [[_empty(), DOG0, CAR0], [_empty(), _empty(), CARS_IN_GROUP1],
           [_empty(), _empty(), _empty()], [_empty(), DOG_MISSED3, CAR_UNBOXED3]]


def test_parses_the_v6_csv_files(tmp_path):
    dataset = _dataset(write_openimages(tmp_path))
    assert dataset.CLASSES == ['Animal', 'Dog', 'Car']
    assert [info['filename'] for info in dataset.data_infos] == \
        ['img0.jpg', 'img1.jpg', 'img2.jpg', 'img3.jpg']
    ann = dataset.get_ann_info(0)
    np.testing.assert_array_equal(ann['bboxes'], [[.125, .25, .5, .75], [.5, 0, 1, .5]])
    np.testing.assert_array_equal(ann['labels'], [1, 2])
    assert ann['is_truncateds'].all() and not ann['is_occludeds'].any()
    assert dataset.get_ann_info(1)['gt_is_group_ofs'].tolist() == [True]
    assert dataset.get_cat2imgs() == {0: [2], 1: [0, 3], 2: [0, 1]}
    image_level = dataset.get_image_level_ann(dataset.image_level_ann_file)
    assert [a['image_level_labels'].tolist() for a in image_level] == [[], [], [1], [2]]


def test_training_sample_boxes_are_scaled_to_pixels(tmp_path):
    results = _dataset(write_openimages(tmp_path))[0]
    np.testing.assert_array_equal(results['gt_bboxes'], [[8, 12, 32, 36], [32, 0, 64, 24]])
    assert results['gt_is_group_ofs'].tolist() == [False, False]


def test_hierarchy_expands_ground_truths_to_their_ancestors(tmp_path):
    dataset = _dataset(write_openimages(tmp_path))
    np.testing.assert_array_equal(dataset.class_label_tree, [[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    [ann] = dataset.add_supercategory_ann([dataset.get_ann_info(0)])
    np.testing.assert_array_equal(ann['labels'], [0, 1, 2])  # dog -> animal, dog; car
    np.testing.assert_array_equal(ann['bboxes'][:2], [[.125, .25, .5, .75]] * 2)


def test_detections_pass_to_allowed_ancestors_and_unverified_classes_are_dropped(tmp_path):
    dataset = _dataset(write_openimages(tmp_path))
    annotations = dataset.add_supercategory_ann([dataset.get_ann_info(2)])  # animal box
    image_level = [dict(image_level_labels=np.array([1]))]  # dog verified present
    dog, car = _dets([1, 1, 9, 9, .9]), _dets([2, 2, 9, 9, .8])
    [out] = dataset.process_results([[_empty(), dog, car]], annotations, image_level)
    np.testing.assert_array_equal(out[0], dog)  # animal gets the dog detection
    np.testing.assert_array_equal(out[1], dog)
    assert out[2].shape == (0, 5)  # car is neither boxed nor verified in this image


def test_evaluate_counts_a_group_of_box_once(tmp_path):
    """Animal: GTs img0, img2, img3 (dogs are animals); dets .9 TP, .5 FP -> AP 1/3.
    Dog: GTs img0, img3; .9 TP, .5 FP -> AP 1/2. Car: GTs img0 and img1's group-of box;
    .95 FP (img3, kept: car is an image-level label there), .8 TP, and the two detections
    inside the group count as one TP at .7 -> precision 2/3 at recall 1/2 and 1: AP 2/3."""
    dataset = _dataset(write_openimages(tmp_path))
    result = dataset.evaluate(RESULTS, logger='silent')
    assert result['mAP'] == pytest.approx((1 / 3 + 1 / 2 + 2 / 3) / 3, abs=1e-6)
    assert result['AP50'] == 0.5
    # the group box as an ordinary box: .7 and .6 are FPs, car AP = 1/2 * 1/2
    plain = dataset.evaluate(RESULTS, logger='silent', use_group_of=False)
    assert plain['mAP'] == pytest.approx((1 / 3 + 1 / 2 + 1 / 4) / 3, abs=1e-6)


def test_evaluate_without_a_meta_file_records_shapes_from_the_test_pipeline(tmp_path):
    files = write_openimages(tmp_path)
    dataset = _dataset(files, load_from_file=False, test_mode=True, pipeline=TEST_PIPELINE)
    with pytest.raises(ValueError, match='4 images have no recorded shape'):
        dataset.evaluate(RESULTS, logger='silent')
    for idx in range(len(dataset)):
        dataset[idx]
    assert dataset.evaluate(RESULTS, logger='silent')['AP50'] == 0.5


def test_challenge_format_reads_ids_from_the_label_file_and_the_numpy_hierarchy(tmp_path):
    dataset = _dataset(write_openimages_challenge(tmp_path), OpenImagesChallengeDataset)
    assert dataset.CLASSES == ['Car', 'Animal', 'Dog']  # ordered by id
    ann = dataset.get_ann_info(0)
    np.testing.assert_array_equal(ann['bboxes'], [[.125, .25, .5, .75], [.5, 0, 1, .5]])
    np.testing.assert_array_equal(ann['labels'], [2, 0])
    np.testing.assert_array_equal(dataset.class_label_tree, [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    reordered = [[per_class[2], per_class[0], per_class[1]] for per_class in RESULTS]
    assert dataset.evaluate(reordered, logger='silent')['mAP'] == pytest.approx(0.5, abs=1e-6)


def test_bad_files_are_named(tmp_path):
    files = write_openimages(tmp_path)
    with pytest.raises(ValueError, match=r"label_file must be a \.csv"):
        _dataset(files, label_file='classes.txt')
    with pytest.raises(ValueError, match='hierarchy_file'):
        _dataset(files, hierarchy_file=None)
    with pytest.raises(ValueError, match='reads a .txt ann_file'):
        _dataset(files, OpenImagesChallengeDataset)
