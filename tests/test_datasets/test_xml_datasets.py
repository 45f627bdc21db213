"""XMLDataset / VOCDataset / WIDERFaceDataset on the tiny samples of tests/fixtures/xml_datasets.py:
XML parsing (difficult and min_size -> ignore, 1-based pixels), the training filter, VOC's AP
(11 points for 2007, area for 2012, legacy +1 boxes) and recall, and the WIDER folder layout."""
import numpy as np
import pytest

from mmdet_lite.datasets import VOCDataset, WIDERFaceDataset, build_dataset
from mmdet_lite.datasets.voc import infer_voc_year
from tests.fixtures.xml_datasets import write_voc, write_wider

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]
DOG, PERSON, CAT, BIRD = (VOCDataset.CLASSES.index(name) for name in ('dog', 'person', 'cat', 'bird'))


@pytest.fixture(scope='module')
def devkit(tmp_path_factory):
    devkit = tmp_path_factory.mktemp('voc') / 'VOCdevkit'
    write_voc(devkit, 2007, 'test')
    write_voc(devkit, 2012, 'test')
    return devkit


def voc(devkit, year=2007, **kwargs):
    kwargs.setdefault('test_mode', True)
    return VOCDataset(ann_file=f'{devkit}/VOC{year}/ImageSets/Main/test.txt', pipeline=PIPELINE,
                      img_prefix=f'{devkit}/VOC{year}/', **kwargs)


def test_voc_xml_parsing_moves_difficult_objects_to_ignore(devkit):
    dataset = voc(devkit)
    assert len(dataset) == 4 and dataset.year == 2007
    ann = dataset.get_ann_info(0)
    # VOC's 1-based xmin 11 -> 10
    assert ann['bboxes'].tolist() == [[10, 8, 39, 39]] and ann['labels'].tolist() == [DOG]
    assert ann['bboxes_ignore'].tolist() == [[29, 4, 59, 44]] and ann['labels_ignore'].tolist() == [PERSON]
    assert ann['bboxes'].dtype == np.float32 and ann['labels'].dtype == np.int64
    assert dataset.get_cat_ids(0) == [DOG, PERSON]
    assert dataset.data_infos[0] == dict(id='000001', filename='JPEGImages/000001.jpg', width=64, height=48)


def test_voc_image_size_comes_from_the_jpeg_without_a_size_element(devkit):
    assert voc(devkit).data_infos[1] == dict(id='000002', filename='JPEGImages/000002.jpg', width=64, height=48)


def test_voc_objects_of_other_classes_are_skipped(devkit):
    ann = voc(devkit).get_ann_info(2)
    assert ann['bboxes'].shape == (0, 4) and ann['bboxes_ignore'].shape == (0, 4)


def test_voc_min_size_moves_small_objects_to_ignore(devkit):
    ann = voc(devkit, test_mode=False, min_size=5).get_ann_info(1)  # the bird is 4 px wide
    assert ann['labels'].tolist() == [CAT] and ann['labels_ignore'].tolist() == [BIRD]
    ann = voc(devkit, test_mode=False, min_size=4).get_ann_info(1)
    assert ann['labels'].tolist() == [CAT, BIRD] and ann['labels_ignore'].tolist() == []


def test_voc_training_drops_images_without_voc_objects_or_under_32_px(devkit):
    assert [info['id'] for info in voc(devkit, test_mode=False).data_infos] == ['000001', '000002']
    kept = voc(devkit, test_mode=False, filter_empty_gt=False).data_infos
    assert [info['id'] for info in kept] == ['000001', '000002', '000003']


def test_voc_bad_arguments_are_named(devkit):
    with pytest.raises(ValueError, match='min_size=8 .* test_mode=True'):
        voc(devkit, min_size=8)
    with pytest.raises(ValueError, match="img_prefix 'data/voc/'"):
        infer_voc_year('data/voc/')


def _voc_results():
    """Per image 20 (n, 5) arrays, in the legacy (+1) boxes VOC evaluates: image 0's dog found
    (0.9) and its difficult person hit (ignored); image 1's bird found (0.5), its cat missed;
    image 3's dog missed by a box elsewhere (0.8, a FP)."""
    results = [[np.zeros((0, 5), np.float32) for _ in range(20)] for _ in range(4)]
    results[0][DOG] = np.array([[10, 8, 39, 39, 0.9]], np.float32)
    results[0][PERSON] = np.array([[29, 4, 59, 44, 0.7]], np.float32)
    results[1][BIRD] = np.array([[1, 1, 5, 29, 0.5]], np.float32)
    results[3][DOG] = np.array([[40, 2, 60, 20, 0.8]], np.float32)
    return results


# dog: 2 GTs, detections TP then FP: recall 1/2, 1/2, precision 1, 1/2 -> 11 points 6/11, area 1/2
# cat: 0; bird: 1; person: no GT (not averaged)
VOC07_MAP = (6 / 11 + 0 + 1) / 3
VOC12_MAP = (1 / 2 + 0 + 1) / 3


def test_voc2007_map_is_the_11_point_ap(devkit):
    eval_results = voc(devkit).evaluate(_voc_results(), iou_thr=[0.5, 0.75], logger='silent')
    assert list(eval_results) == ['mAP', 'AP50', 'AP75']
    assert eval_results['mAP'] == pytest.approx(VOC07_MAP)
    assert eval_results['AP50'] == eval_results['AP75'] == round(VOC07_MAP, 3)


def test_voc2012_map_is_the_area_ap(devkit):
    eval_results = voc(devkit, 2012).evaluate(_voc_results(), logger='silent')
    assert eval_results['mAP'] == pytest.approx(VOC12_MAP)


def test_voc_map_by_scale_range_gives_a_value_per_range(devkit):
    # legacy areas: dogs 30 x 32 = 960 and 28 x 18 = 504, bird 5 x 29 = 145, cat 46 x 40 = 1840
    eval_results = voc(devkit).evaluate(_voc_results(), scale_ranges=[(0, 20), (20, 1000)],
                                        logger='silent')
    # < 20 ** 2: the bird (AP 1; the dog FP box, 21 x 19 = 399, lies here too, but no dog does);
    # the rest: dog (one of two found: 11-point AP 6/11) and cat (0)
    assert eval_results['mAP'] == pytest.approx([1, (6 / 11 + 0) / 2])


def test_voc_recall_counts_legacy_iou_hits(devkit):
    proposals = [np.array([[10, 8, 39, 39, 0.9]], np.float32),
                 np.array([[4, 4, 49, 43, 0.9], [1, 1, 5, 29, 0.8]], np.float32),
                 np.zeros((0, 5), np.float32), np.zeros((0, 5), np.float32)]
    eval_results = voc(devkit).evaluate(proposals, metric='recall', proposal_nums=(1, 100),
                                        logger='silent')
    # 4 GTs (dog, cat, bird, dog): the top proposal finds 2, all of them 3
    assert eval_results == {'recall@1@0.5': 0.5, 'recall@100@0.5': 0.75}


def test_voc0712_style_lists_build_one_dataset_per_year(devkit):
    dataset = build_dataset(dict(
        type='VOCDataset', ann_file=[f'{devkit}/VOC2007/ImageSets/Main/test.txt',
                                     f'{devkit}/VOC2012/ImageSets/Main/test.txt'],
        img_prefix=[f'{devkit}/VOC2007/', f'{devkit}/VOC2012/'], pipeline=PIPELINE))
    assert [d.year for d in dataset.datasets] == [2007, 2012] and len(dataset) == 4
    with pytest.raises(ValueError, match='img_prefix lists 1 entries for 2 ann_file entries'):
        build_dataset(dict(type='VOCDataset', ann_file=['a.txt', 'b.txt'], img_prefix=['a/'],
                           pipeline=PIPELINE))


def test_wider_face_images_sit_in_the_event_folders(tmp_path):
    prefix = write_wider(tmp_path)
    dataset = WIDERFaceDataset(ann_file=str(tmp_path / 'train.txt'), img_prefix=f'{prefix}/',
                               pipeline=PIPELINE, min_size=17)
    assert dataset.CLASSES == ('face', ) and len(dataset) == 2
    assert dataset.data_infos[0] == dict(id='0_Parade_marchingband_1_5', width=64, height=48,
                                         filename='0--Parade/0_Parade_marchingband_1_5.jpg')
    ann = dataset.get_ann_info(0)  # the second face is 10 x 12 < 17
    assert ann['bboxes'].tolist() == [[9, 9, 29, 33]] and ann['bboxes_ignore'].tolist() == [[39, 7, 49, 19]]
    sample = dataset[1]
    assert sample['img'].shape == (64, 48, 3) and sample['gt_bboxes'].tolist() == [[4, 4, 39, 49]]
