"""CocoDataset: loading, filtering, the stock COCO layout, bad input and COCO evaluation."""
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from mmcv import Config

from mmdet_lite.datasets import CocoDataset, build_dataset
from mmdet_lite.datasets.builder import PIPELINES
from mmdet_lite.datasets.pipelines import CorruptImageError
from mmdet_lite.datasets.samplers import SeededIndex
from tests.conftest import REPO_ROOT

from .helpers import standard_sample, write_coco

# COCO's 80 category ids, in the order of CocoDataset.CLASSES (ids 12, 26, 29, ... unused).
COCO_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
            25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49,
            50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74,
            75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]
COCO_CATEGORIES = [dict(id=i, name=n) for i, n in zip(COCO_IDS, CocoDataset.CLASSES)]
PERSON, DOG, TOOTHBRUSH = 0, 16, 79  # labels of category ids 1, 18, 90


@pytest.fixture
def coco_files(tmp_path):
    images, annotations = standard_sample()
    ann = write_coco(tmp_path, 'ann.json', 'imgs', images, annotations, COCO_CATEGORIES)
    return str(ann), str(tmp_path / 'imgs')


def make_dataset(coco_files, **kwargs):
    ann_file, img_prefix = coco_files
    return CocoDataset(ann_file=ann_file, img_prefix=img_prefix, pipeline=[], **kwargs)


def perfect_results(dataset):
    results = []
    for i in range(len(dataset)):
        ann = dataset.get_ann_info(i)
        dets = np.hstack([ann['bboxes'], np.ones((len(ann['bboxes']), 1), np.float32)])
        results.append([dets[ann['labels'] == c] for c in range(len(dataset.CLASSES))])
    return results


def test_sparse_category_ids_map_to_class_order(coco_files):
    dataset = make_dataset(coco_files)
    assert dataset.cat_ids == COCO_IDS
    assert dataset.cat2label[1] == PERSON and dataset.cat2label[18] == DOG
    assert dataset.cat2label[90] == TOOTHBRUSH
    ann = dataset.get_ann_info(0)
    np.testing.assert_array_equal(ann['bboxes'], [[10, 8, 30, 38], [40, 20, 70, 45]])
    np.testing.assert_array_equal(ann['labels'], [PERSON, DOG])
    assert ann['bboxes'].dtype == np.float32 and ann['labels'].dtype == np.int64
    assert ann['seg_map'] == '000000000001.png'
    assert dataset.get_cat_ids(0) == [1, 18]


def test_crowd_goes_to_ignore_and_zero_width_box_is_skipped(coco_files):
    ann = make_dataset(coco_files).get_ann_info(1)
    np.testing.assert_array_equal(ann['bboxes'], [[5, 5, 45, 45]])
    np.testing.assert_array_equal(ann['labels'], [TOOTHBRUSH])
    np.testing.assert_array_equal(ann['bboxes_ignore'], [[50, 10, 70, 30]])


def test_filter_empty_gt_min_size_and_test_mode(tmp_path):
    images, annotations = standard_sample()
    images.append(dict(id=4, file_name='narrow.jpg', width=100, height=20))
    annotations.append(dict(id=6, image_id=4, category_id=1, bbox=[1, 1, 5, 5], area=25,
                            iscrowd=0))
    ann = write_coco(tmp_path, 'ann.json', 'imgs', images, annotations, COCO_CATEGORIES)
    files = (str(ann), str(tmp_path / 'imgs'))
    assert make_dataset(files).img_ids == [1, 2]
    assert make_dataset(files, filter_empty_gt=False).img_ids == [1, 2, 3]
    test_set = make_dataset(files, test_mode=True)
    assert test_set.img_ids == [1, 2, 3, 4] and not hasattr(test_set, 'flag')


def test_classes_override_selects_categories_and_keeps_crowd_only_image(coco_files):
    dataset = make_dataset(coco_files, classes=('person', 'dog'))
    assert dataset.CLASSES == ('person', 'dog') and dataset.cat_ids == [1, 18]
    assert dataset.img_ids == [1, 2]  # image 2 holds a crowd person: kept, zero GT boxes
    ann = dataset.get_ann_info(1)
    assert ann['bboxes'].shape == (0, 4) and ann['bboxes_ignore'].shape == (1, 4)


def test_classes_missing_from_the_json_are_warned_about(coco_files):
    with pytest.warns(UserWarning, match=r"classes \['unicorn'\] are not categories"):
        dataset = make_dataset(coco_files, classes=('dog', 'unicorn'))
    assert dataset.cat_ids == [18]


def test_classes_from_text_file(coco_files, tmp_path):
    (tmp_path / 'classes.txt').write_text('dog\ntoothbrush\n')
    dataset = make_dataset(coco_files, classes=str(tmp_path / 'classes.txt'))
    assert list(dataset.CLASSES) == ['dog', 'toothbrush'] and dataset.cat_ids == [18, 90]


def test_aspect_flag(tmp_path):
    images = [dict(id=1, file_name='wide.jpg', width=80, height=64),
              dict(id=2, file_name='tall.jpg', width=64, height=80)]
    annotations = [dict(id=i, image_id=i, category_id=1, bbox=[1, 1, 20, 20], area=400,
                        iscrowd=0) for i in (1, 2)]
    ann = write_coco(tmp_path, 'ann.json', 'imgs', images, annotations, COCO_CATEGORIES)
    dataset = make_dataset((str(ann), str(tmp_path / 'imgs')))
    np.testing.assert_array_equal(dataset.flag, [1, 0])
    assert dataset.flag.dtype == np.uint8


@PIPELINES.register_module()
class DropFileForTest:
    """Returns None for one file name (as a filtering transform would)."""

    def __init__(self, filename):
        self.filename = filename

    def __call__(self, results):
        return None if results['img_info']['filename'] == self.filename else results


def test_getitem_retries_within_aspect_group_when_pipeline_returns_none(tmp_path):
    images = [dict(id=i, file_name=f'{i}.jpg', width=80, height=64) for i in (1, 2, 3)]
    images.append(dict(id=4, file_name='4.jpg', width=64, height=80))
    annotations = [dict(id=i, image_id=i, category_id=1, bbox=[1, 1, 20, 20], area=400,
                        iscrowd=0) for i in (1, 2, 3, 4)]
    ann = write_coco(tmp_path, 'ann.json', 'imgs', images, annotations, COCO_CATEGORIES)
    dataset = CocoDataset(str(ann), [dict(type='DropFileForTest', filename='1.jpg')],
                          img_prefix=str(tmp_path / 'imgs'))
    np.random.seed(0)
    picked = {dataset[0]['img_info']['filename'] for _ in range(20)}
    assert picked == {'2.jpg', '3.jpg'}


def test_stock_coco_config_with_only_data_root(tmp_path):
    """data/coco/annotations/instances_{train,val}2017.json + train2017/, val2017/."""
    images, annotations = standard_sample()
    for split in ('train2017', 'val2017'):
        write_coco(tmp_path, f'data/coco/annotations/instances_{split}.json',
                   f'data/coco/{split}', images, annotations, COCO_CATEGORIES)
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/_base_/datasets/coco_detection.py'))
    cfg.data.train.data_root = str(tmp_path)
    train_set = build_dataset(cfg.data.train)
    assert train_set.ann_file == str(tmp_path / 'data/coco/annotations/instances_train2017.json')
    assert len(train_set) == 2
    np.random.seed(0)
    sample = train_set[0]
    meta = sample['img_metas'].data
    assert meta['ori_shape'] == (64, 80, 3) and meta['img_shape'] == (800, 1000, 3)
    assert sample['img'].data.shape == (3, 800, 1024)
    assert sample['gt_labels'].data.tolist() == [PERSON, DOG]

    cfg.data.val.data_root = str(tmp_path)
    val_set = build_dataset(cfg.data.val, dict(test_mode=True))
    assert len(val_set) == 3
    assert val_set[2]['img'][0].shape == (3, 800, 1024)


def test_missing_ann_file_and_image_directory_are_named(tmp_path, coco_files):
    with pytest.raises(FileNotFoundError, match='nope.json'):
        CocoDataset(str(tmp_path / 'nope.json'), [], img_prefix=coco_files[1])
    with pytest.raises(FileNotFoundError, match='no_such_dir'):
        CocoDataset(coco_files[0], [], img_prefix=str(tmp_path / 'no_such_dir'))


def test_dataset_empty_after_filtering_is_built_empty_with_a_clear_warning(tmp_path):
    images = [dict(id=1, file_name='a.jpg', width=80, height=64)]
    ann = write_coco(tmp_path, 'empty.json', 'imgs', images, [], COCO_CATEGORIES)
    with pytest.warns(UserWarning, match=r'CocoDataset.*empty\.json.*no image after filtering'):
        dataset = CocoDataset(str(ann), [], img_prefix=str(tmp_path / 'imgs'))
    assert len(dataset) == 0 and dataset.flag.shape == (0, )


def test_duplicate_annotation_ids_are_refused(tmp_path):
    images = [dict(id=1, file_name='a.jpg', width=80, height=64)]
    annotations = [dict(id=7, image_id=1, category_id=1, bbox=[1, 1, 20, 20], area=400,
                        iscrowd=0)] * 2
    ann = write_coco(tmp_path, 'dup.json', 'imgs', images, annotations, COCO_CATEGORIES)
    with pytest.raises(ValueError, match='not unique'):
        CocoDataset(str(ann), [], img_prefix=str(tmp_path / 'imgs'))


def test_ann_file_that_is_not_json_names_file_line_and_column(tmp_path, coco_files):
    broken = tmp_path / 'broken.json'
    broken.write_text('{"images": [\n  {"id": 1,,}]}')
    cfg = dict(type='CocoDataset', ann_file=str(broken), img_prefix=coco_files[1], pipeline=[])
    # through build_dataset: mmcv re-raises as type(error)(message), which JSONDecodeError fails
    with pytest.raises(ValueError) as error:
        build_dataset(cfg)
    assert str(error.value) == (f'CocoDataset: {broken} is not valid JSON: Expecting property '
                                'name enclosed in double quotes at line 2, column 12')


def test_truncated_ann_file_is_named(tmp_path, coco_files):
    cut = tmp_path / 'cut.json'
    cut.write_text('{"images": [')
    with pytest.raises(ValueError, match=f'^{cut} is not valid JSON: Expecting value at line 1, '
                                         'column 13$'):
        CocoDataset(str(cut), [], img_prefix=coco_files[1])


@pytest.mark.parametrize('content, message', [
    ([], " is not a COCO annotation file: expected a JSON object with 'images', 'annotations' and "
         "'categories', got a list"),
    (dict(annotations=[]), " is not a COCO annotation file: it has no 'images' list "
                           "(top-level keys: ['annotations'])"),
    (dict(images={}, categories=[]), ": 'images' must be a list, got a dict"),
    (dict(images=[dict(id=1, file_name='a.jpg', width=80, height=64)], categories=[],
          annotations=[dict(id=1, image_id=1, category_id=1, bbox=[1, 1, 5, 5]),
                       dict(id=9, image_id=1, bbox=[1, 1, 5, 5])]),
     ": annotations[1] has no 'category_id': {'id': 9, 'image_id': 1, 'bbox': [1, 1, 5, 5]}"),
    (dict(images=[dict(id=1, file_name='a.jpg', width=80, height=64)], categories=[],
          annotations=[dict(id=4, image_id=1, category_id=1, bbox=[1, 1, 5])]),
     ": annotations[0] (id 4): 'bbox' must be a list of 4 numbers [x, y, width, height], "
     'got [1, 1, 5]'),
    (dict(images=[dict(id=7, file_name='a.jpg', width='80', height=64)], categories=[]),
     ": images[0] (id 7): 'width' and 'height' must be numbers, got '80' and 64"),
])
def test_json_that_is_not_coco_shaped_names_the_entry(tmp_path, coco_files, content, message):
    ann = tmp_path / 'odd.json'
    ann.write_text(json.dumps(content))
    with pytest.raises(ValueError) as error:
        CocoDataset(str(ann), [], img_prefix=coco_files[1])
    assert str(error.value) == f'{ann}{message}'


def test_truncated_image_error_names_the_file(coco_files):
    ann_file, img_prefix = coco_files
    path = Path(img_prefix) / '000000000001.jpg'
    path.write_bytes(path.read_bytes()[:300])
    dataset = CocoDataset(ann_file, [dict(type='LoadImageFromFile')], img_prefix=img_prefix)
    with pytest.raises(ValueError, match='000000000001.jpg'):
        dataset[0]


def test_evaluate_perfect_detections_give_map_one(tmp_path):
    images, annotations = standard_sample()
    annotations = [ann for ann in annotations if ann['area'] > 0]
    ann = write_coco(tmp_path, 'clean.json', 'imgs', images, annotations, COCO_CATEGORIES)
    dataset = make_dataset((str(ann), str(tmp_path / 'imgs')), test_mode=True)
    metrics = dataset.evaluate(perfect_results(dataset))
    assert list(metrics) == ['bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s',
                             'bbox_mAP_m', 'bbox_mAP_l', 'bbox_mAP_copypaste']
    # areas 600 and 750 are small (< 32^2), 1600 medium, nothing large (-1: no GT)
    assert [metrics[k] for k in list(metrics)[:6]] == [1.0, 1.0, 1.0, 1.0, 1.0, -1.0]
    assert metrics['bbox_mAP_copypaste'] == '1.000 1.000 1.000 1.000 1.000 -1.000'


def test_boxes_skipped_by_the_dataset_still_count_as_gt_in_cocoeval(coco_files):
    """As in MMDetection, COCOeval reads the raw json: the zero-width dog box is a GT that
    no detection can match, so dog AP = 51 / 101 (precision 1 up to recall 0.5)."""
    dataset = make_dataset(coco_files, test_mode=True)
    metrics = dataset.evaluate(perfect_results(dataset))
    assert metrics['bbox_mAP'] == round((1 + 1 + 51 / 101) / 3, 3) == 0.835


def test_evaluate_one_missed_class_of_three(coco_files):
    dataset = make_dataset(coco_files, test_mode=True)
    results = perfect_results(dataset)
    results[0][DOG] = np.zeros((0, 5), np.float32)
    metrics = dataset.evaluate(results, metric=['bbox'])
    assert metrics['bbox_mAP'] == 0.667  # (person 1 + dog 0 + toothbrush 1) / 3
    assert metrics['bbox_mAP_50'] == 0.667


def test_evaluate_empty_and_misplaced_detections_give_zero(coco_files, caplog):
    dataset = make_dataset(coco_files, test_mode=True)
    empty = [[np.zeros((0, 5), np.float32) for _ in dataset.CLASSES] for _ in range(3)]
    logger = logging.getLogger('test_coco_eval')
    with caplog.at_level(logging.ERROR, logger='test_coco_eval'):
        metrics = dataset.evaluate(empty, logger=logger)
    assert 'The testing results of the whole dataset is empty.' in caplog.text
    assert metrics['bbox_mAP'] == 0.0 and metrics['bbox_mAP_50'] == 0.0
    misplaced = perfect_results(dataset)
    for per_class in misplaced:
        for dets in per_class:
            dets[:, [0, 2]] = dets[:, [0, 2]] + 200
    assert dataset.evaluate(misplaced)['bbox_mAP_50'] == 0.0


def test_evaluate_logs_coco_summary_and_classwise_table(coco_files, caplog):
    dataset = make_dataset(coco_files, test_mode=True)
    logger = logging.getLogger('test_coco_eval_summary')
    with caplog.at_level(logging.INFO, logger='test_coco_eval_summary'):
        dataset.evaluate(perfect_results(dataset), logger=logger, classwise=True)
    assert 'Evaluating bbox...' in caplog.text
    assert 'Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all' in caplog.text
    assert 'toothbrush' in caplog.text and 'dog' in caplog.text


def test_evaluate_proposal_metrics(coco_files):
    dataset = make_dataset(coco_files, test_mode=True)
    proposals = []
    for i in range(len(dataset)):
        boxes = dataset.get_ann_info(i)['bboxes']
        proposals.append(np.hstack([boxes, np.ones((len(boxes), 1), np.float32)]))
    # 3 of the 4 non-crowd GT boxes are proposed (the zero-width one cannot be).
    fast = dataset.evaluate(proposals, metric='proposal_fast')
    assert fast == {'AR@100': 0.75, 'AR@300': 0.75, 'AR@1000': 0.75}
    coco_ar = dataset.evaluate(proposals, metric='proposal', metric_items=['AR@100'])
    assert coco_ar == {'AR@100': 0.75}


def test_evaluate_unknown_metric_lists_allowed_ones(coco_files):
    dataset = make_dataset(coco_files, test_mode=True)
    with pytest.raises(KeyError, match='metric mAP is not supported.*bbox, segm, proposal, '
                                       'proposal_fast'):
        dataset.evaluate(perfect_results(dataset), metric='mAP')
    with pytest.raises(KeyError, match='metric item mAP_xl'):
        dataset.evaluate(perfect_results(dataset), metric_items=['mAP_xl'])


def test_format_results_writes_coco_json(coco_files, tmp_path):
    dataset = make_dataset(coco_files, test_mode=True)
    results = perfect_results(dataset)
    result_files, tmp_dir = dataset.format_results(results, str(tmp_path / 'out'))
    assert tmp_dir is None and result_files['bbox'] == str(tmp_path / 'out.bbox.json')
    dets = json.loads(Path(result_files['bbox']).read_text())
    assert dets[1] == dict(image_id=1, bbox=[40.0, 20.0, 30.0, 25.0], score=1.0, category_id=18)
    assert len(dets) == 3
    with pytest.raises(ValueError, match='3 != 2|2 != 3'):
        dataset.format_results(results[:2])


def test_format_results_refuses_a_misspelt_option(coco_files):
    # tools/test.py --format-only passes --eval-options here; a typo must not be dropped silently
    dataset = make_dataset(coco_files, test_mode=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'jsonfile_prefx'"):
        dataset.format_results(perfect_results(dataset), jsonfile_prefx='out')


def bad_boxes_sample():
    """Four 160x128 images and 15 annotations, each case of the build-time box check once or
    twice (counts in the test by hand)."""
    images = [dict(id=i, file_name=name, width=160, height=128)
              for i, name in enumerate(['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'], start=1)]
    nan, inf = float('nan'), float('inf')
    boxes = [  # (id, image_id, category_id, bbox, area, extra)
        (1, 1, 1, [10, 10, 20, 20], 400, {}),  # kept
        (2, 1, 1, [nan, 10, 20, 20], 400, {}),  # not finite
        (3, 1, 18, [10, 10, inf, 20], 400, {}),  # not finite
        (4, 2, 1, [10, 10, -5, 20], 100, {}),  # width <= 0
        (5, 2, 1, [10, 10, 20, 0], 0, {}),  # height <= 0 (area 0 too: the first reason counts)
        (6, 2, 12, [10, 10, 20, 20], 400, {}),  # COCO has no category 12
        (7, 3, 1, [150, 100, 1e9, 1e9], 1e18, {}),  # clipped to [150, 100, 160, 128]
        (8, 3, 90, [-10, -5, 30, 20], 600, {}),  # clipped to [0, 0, 20, 15]
        (9, 3, 1, [200, 10, 20, 20], 400, {}),  # right of the image
        (10, 3, 1, [10, 10, 0.5, 20], 10, {}),  # narrower than 1 px
        (11, 4, 1, [10, 10, 20, 20], 0, {}),  # area 0
        (12, 99, 1, [10, 10, 20, 20], 400, {}),  # no image 99
        (13, 4, 1, [nan, nan, nan, nan], 0, {'ignore': 1}),  # meant to be skipped: not counted
        (14, 4, 18, [100, 100, 100, 100], 10000, {'iscrowd': 1}),  # crowd, clipped
        (15, 4, 18, [20, 20, 30, 30], 900, {}),  # kept
    ]
    annotations = [dict(dict(id=i, image_id=img, category_id=cat, bbox=bbox, area=area,
                             iscrowd=0), **extra) for i, img, cat, bbox, area, extra in boxes]
    return images, annotations


def test_invalid_boxes_are_dropped_and_clipped_with_one_summary_warning(tmp_path):
    images, annotations = bad_boxes_sample()
    ann = write_coco(tmp_path, 'bad.json', 'imgs', images, annotations, COCO_CATEGORIES)
    with pytest.warns(UserWarning) as record:
        dataset = make_dataset((str(ann), str(tmp_path / 'imgs')))
    summaries = [str(w.message) for w in record if 'annotations dropped' in str(w.message)]
    assert summaries == [
        f'CocoDataset {ann}: 9 of 14 annotations dropped, 3 boxes clipped to their image\n'
        '  unknown category_id: 1, e.g. b.jpg annotation 6 (category_id 12)\n'
        '  image_id not in images: 1, e.g. image_id 99 annotation 12 (bbox [10, 10, 20, 20])\n'
        '  not finite: 2, e.g. a.jpg annotation 2 (bbox [nan, 10, 20, 20]), '
        'a.jpg annotation 3 (bbox [10, 10, inf, 20])\n'
        '  width or height <= 0: 2, e.g. b.jpg annotation 4 (bbox [10, 10, -5, 20]), '
        'b.jpg annotation 5 (bbox [10, 10, 20, 0])\n'
        '  width or height < 1: 1, e.g. c.jpg annotation 10 (bbox [10, 10, 0.5, 20])\n'
        '  area <= 0: 1, e.g. d.jpg annotation 11 (area 0)\n'
        '  outside the image: 1, e.g. c.jpg annotation 9 (bbox [200, 10, 20, 20])\n'
        '  clipped to the image: 3, e.g. c.jpg annotation 7 (bbox [150, 100, 1000000000.0, '
        '1000000000.0]), c.jpg annotation 8 (bbox [-10, -5, 30, 20]), '
        'd.jpg annotation 14 (bbox [100, 100, 100, 100])']
    # MMDetection's filtering is unchanged: every image has an annotation of a known class
    # (b.jpg's are all invalid: trained with zero boxes)
    assert dataset.img_ids == [1, 2, 3, 4]
    by_image = [dataset.get_ann_info(i) for i in range(4)]
    np.testing.assert_array_equal(by_image[0]['bboxes'], [[10, 10, 30, 30]])
    assert by_image[1]['bboxes'].shape == (0, 4)
    np.testing.assert_array_equal(by_image[2]['bboxes'], [[150, 100, 160, 128], [0, 0, 20, 15]])
    np.testing.assert_array_equal(by_image[2]['labels'], [PERSON, TOOTHBRUSH])
    np.testing.assert_array_equal(by_image[3]['bboxes'], [[20, 20, 50, 50]])
    np.testing.assert_array_equal(by_image[3]['bboxes_ignore'], [[100, 100, 160, 128]])


def test_clean_annotations_give_no_box_warning(tmp_path, recwarn):
    images, annotations = standard_sample()
    annotations = [ann for ann in annotations if ann['area'] > 0]
    ann = write_coco(tmp_path, 'clean.json', 'imgs', images, annotations, COCO_CATEGORIES)
    make_dataset((str(ann), str(tmp_path / 'imgs')))
    assert [str(w.message) for w in recwarn] == []


@pytest.mark.parametrize('test_mode', [False, True])
def test_missing_and_empty_image_files_are_all_listed_at_build(tmp_path, test_mode):
    images = [dict(id=i, file_name=f'{i}.jpg', width=80, height=64) for i in range(8)]
    annotations = [dict(id=i, image_id=i, category_id=1, bbox=[1, 1, 20, 20], area=400,
                        iscrowd=0) for i in range(8)]
    ann = write_coco(tmp_path, 'ann.json', 'imgs', images, annotations, COCO_CATEGORIES)
    for i in (1, 4, 6):
        (tmp_path / 'imgs' / f'{i}.jpg').unlink()
    for i in (2, 5, 7):
        (tmp_path / 'imgs' / f'{i}.jpg').write_bytes(b'')
    with pytest.raises(FileNotFoundError) as error:
        CocoDataset(str(ann), [dict(type='LoadImageFromFile')], img_prefix=str(tmp_path / 'imgs'),
                    test_mode=test_mode)
    assert str(error.value) == (
        f"{ann}: 6 of 8 image files are missing or empty under "
        f"img_prefix='{tmp_path / 'imgs'}': 1.jpg (missing), 2.jpg (0 bytes), 4.jpg (missing), "
        '5.jpg (0 bytes), 6.jpg (missing) and 1 more')


def test_image_files_are_not_checked_when_the_pipeline_reads_none(tmp_path):
    images = [dict(id=1, file_name='gone.jpg', width=80, height=64)]
    annotations = [dict(id=1, image_id=1, category_id=1, bbox=[1, 1, 20, 20], area=400,
                        iscrowd=0)]
    ann = write_coco(tmp_path, 'ann.json', 'imgs', images, annotations, COCO_CATEGORIES)
    (tmp_path / 'imgs' / 'gone.jpg').unlink()
    assert len(CocoDataset(str(ann), [], img_prefix=str(tmp_path / 'imgs'))) == 1


def four_images_one_truncated(tmp_path):
    images = [dict(id=i, file_name=f'{i}.jpg', width=80, height=64) for i in range(4)]
    annotations = [dict(id=i, image_id=i, category_id=1, bbox=[1, 1, 20, 20], area=400,
                        iscrowd=0) for i in range(4)]
    ann = write_coco(tmp_path, 'ann.json', 'imgs', images, annotations, COCO_CATEGORIES)
    path = tmp_path / 'imgs' / '1.jpg'
    path.write_bytes(path.read_bytes()[:300])
    return str(ann), str(tmp_path / 'imgs')


def test_corrupt_image_stops_training_by_default(tmp_path):
    ann, img_prefix = four_images_one_truncated(tmp_path)
    dataset = CocoDataset(ann, [dict(type='LoadImageFromFile')], img_prefix=img_prefix)
    with pytest.raises(CorruptImageError, match=f"^cannot decode image file "
                                                f"'{img_prefix}/1.jpg' \\(300 bytes\\)"):
        dataset[SeededIndex(1, seed=5)]


def test_skip_corrupt_images_draws_the_replacement_from_the_sample_seed(tmp_path, caplog):
    ann, img_prefix = four_images_one_truncated(tmp_path)
    dataset = CocoDataset(ann, [dict(type='LoadImageFromFile')], img_prefix=img_prefix,
                          skip_corrupt_images=True)
    np.random.seed(0)
    global_state = np.random.get_state()[1].copy()
    with caplog.at_level(logging.WARNING, logger='mmdet'):
        picked = [dataset[SeededIndex(1, seed=seed)]['ori_filename'] for seed in range(12)]
        again = [dataset[SeededIndex(1, seed=seed)]['ori_filename'] for seed in range(12)]
    assert picked == again  # the sample's seed decides, not the global random state
    assert set(picked) == {'0.jpg', '2.jpg', '3.jpg'}
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)
    skips = [r.getMessage() for r in caplog.records if 'skipped a corrupt image' in r.getMessage()]
    assert len(skips) == 24
    assert skips[0] == ("CocoDataset: skipped a corrupt image (skip_corrupt_images=True): cannot "
                        f"decode image file '{img_prefix}/1.jpg' (300 bytes): unreadable or "
                        'truncated image; 1 skipped in this run so far')
    assert skips[-1].endswith('; 24 skipped in this run so far')


def test_skip_corrupt_images_refuses_when_a_whole_aspect_group_is_corrupt(tmp_path):
    ann, img_prefix = four_images_one_truncated(tmp_path)
    for i in (0, 2, 3):
        (Path(img_prefix) / f'{i}.jpg').write_bytes(b'not a jpeg')
    dataset = CocoDataset(ann, [dict(type='LoadImageFromFile')], img_prefix=img_prefix,
                          skip_corrupt_images=True)
    with pytest.raises(CorruptImageError, match='all 4 images of its aspect group are corrupt'):
        dataset[SeededIndex(1, seed=5)]
