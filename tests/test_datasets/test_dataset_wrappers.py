"""ConcatDataset / RepeatDataset and build_dataset's wrapping."""
import numpy as np
import pytest

from mmdet_lite.datasets import CocoDataset, ConcatDataset, RepeatDataset, build_dataset

from .helpers import write_coco

CATEGORIES = [dict(id=3, name='a'), dict(id=7, name='b')]


def make_split(root, name, sizes):
    """One image per (w, h) in ``sizes``, each with one box of category 3."""
    images = [dict(id=i + 1, file_name=f'{name}_{i}.jpg', width=w, height=h)
              for i, (w, h) in enumerate(sizes)]
    annotations = [dict(id=i + 1, image_id=i + 1, category_id=3, bbox=[2, 2, 20, 20],
                        area=400, iscrowd=0) for i in range(len(sizes))]
    ann = write_coco(root, f'{name}.json', name, images, annotations, CATEGORIES)
    return dict(type='CocoDataset', ann_file=str(ann), img_prefix=str(root / name),
                classes=('a', 'b'), pipeline=[])


def perfect(dataset):
    return [[np.array([[2, 2, 22, 22, 1.0]], np.float32), np.zeros((0, 5), np.float32)]
            for _ in range(len(dataset))]


def test_concat_dataset_concatenates_flags_and_locates_samples(tmp_path):
    first = build_dataset(make_split(tmp_path, 'x', [(80, 64), (64, 80)]))
    second = build_dataset(make_split(tmp_path, 'y', [(64, 80), (64, 80), (80, 64)]))
    concat = ConcatDataset([first, second])
    assert len(concat) == 5 and concat.CLASSES == ('a', 'b')
    np.testing.assert_array_equal(concat.flag, [1, 0, 0, 0, 1])
    assert concat.get_cat_ids(2) == [3] and concat.get_ann_info(-1)['labels'].tolist() == [0]
    assert concat[3]['img_info']['filename'] == 'y_1.jpg'


def test_concat_separate_eval_prefixes_dataset_index(tmp_path):
    concat = build_dataset([make_split(tmp_path, 'x', [(80, 64)]),
                            make_split(tmp_path, 'y', [(80, 64), (80, 64)])],
                           dict(test_mode=True))
    assert isinstance(concat, ConcatDataset)
    metrics = concat.evaluate(perfect(concat))
    assert metrics['0_bbox_mAP'] == 1.0 and metrics['1_bbox_mAP'] == 1.0
    with pytest.raises(ValueError, match='different sizes'):
        concat.evaluate(perfect(concat)[:2])


def test_concat_of_coco_refuses_joint_eval(tmp_path):
    datasets = [build_dataset(make_split(tmp_path, 'x', [(80, 64)]))] * 2
    with pytest.raises(NotImplementedError, match='separate_eval=True'):
        ConcatDataset(datasets, separate_eval=False)


def test_repeat_dataset_tiles_flag_and_wraps_index(tmp_path):
    cfg = dict(type='RepeatDataset', times=3,
               dataset=make_split(tmp_path, 'x', [(80, 64), (64, 80)]))
    repeated = build_dataset(cfg)
    assert isinstance(repeated, RepeatDataset) and isinstance(repeated.dataset, CocoDataset)
    assert len(repeated) == 6 and repeated.CLASSES == ('a', 'b')
    np.testing.assert_array_equal(repeated.flag, [1, 0, 1, 0, 1, 0])
    assert repeated[5]['img_info']['filename'] == 'x_1.jpg'
    assert repeated.get_cat_ids(4) == [3]
