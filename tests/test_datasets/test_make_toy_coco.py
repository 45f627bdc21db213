"""tools/misc/make_toy_coco.py: seeded, valid COCO files and JPEGs the dataset can load."""
import numpy as np

from mmcv import Config

from mmdet_lite.datasets import CocoDataset, build_dataset
from tests.conftest import REPO_ROOT, load_tool

make_toy_coco = load_tool('misc/make_toy_coco.py')

CLASSES = ('rectangle', 'ellipse', 'triangle')


def generate(out, seed=0):
    assert make_toy_coco.main(['--out', str(out), '--num-train', '12', '--num-val', '4',
                               '--seed', str(seed)]) == 0


def test_toy_set_loads_with_boxes_inside_images(tmp_path):
    generate(tmp_path)
    dataset = CocoDataset(str(tmp_path / 'annotations/instances_train.json'),
                          [dict(type='LoadImageFromFile')], classes=CLASSES,
                          img_prefix=str(tmp_path / 'train'))
    assert len(dataset) == 12 and dataset.cat_ids == [1, 2, 3]
    counts = []
    for i in range(len(dataset)):
        ann = dataset.get_ann_info(i)
        counts.append(len(ann['bboxes']))
        assert (ann['bboxes'][:, :2] >= 0).all() and (ann['bboxes'][:, 2] <= 160).all()
        assert (ann['bboxes'][:, 3] <= 128).all()
        assert (ann['bboxes'][:, 2:] - ann['bboxes'][:, :2] >= 4).all()
    assert min(counts) >= 1 and max(counts) <= 4
    assert dataset[0]['img'].shape == (128, 160, 3)
    val = CocoDataset(str(tmp_path / 'annotations/instances_val.json'), [], classes=CLASSES,
                      img_prefix=str(tmp_path / 'val'), test_mode=True)
    assert len(val) == 4


def test_box_is_tight_around_the_drawn_shape(tmp_path):
    rng = np.random.default_rng(5)
    img, objects = make_toy_coco.make_image(rng, 160, 128, 20, 60)
    background = np.median(img.reshape(-1, 3), axis=0)
    for obj in objects:
        x, y, w, h = obj['bbox']
        inside = img[y:y + h, x:x + w].astype(int)
        # each box edge row/column touches the shape: some pixel far from the background
        far = np.abs(inside - background).sum(axis=2) > 60
        assert far[0].any() and far[-1].any() and far[:, 0].any() and far[:, -1].any()


def test_same_seed_same_files_other_seed_differs(tmp_path):
    generate(tmp_path / 'a', seed=1)
    generate(tmp_path / 'b', seed=1)
    generate(tmp_path / 'c', seed=2)
    read = lambda d: (d / 'annotations/instances_val.json').read_bytes()  # noqa: E731
    assert read(tmp_path / 'a') == read(tmp_path / 'b') != read(tmp_path / 'c')
    assert (tmp_path / 'a/train/train_00003.jpg').read_bytes() == \
        (tmp_path / 'b/train/train_00003.jpg').read_bytes()


def test_toy_config_reads_the_generated_layout(tmp_path):
    generate(tmp_path / 'data/toy_coco')
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/toy/faster_rcnn_r18_fpn_toy.py'))
    assert cfg.model.roi_head.bbox_head.num_classes == len(cfg.data.train.classes) == 3
    assert cfg.model.backbone.depth == 18 and cfg.model.backbone.init_cfg is None
    base = cfg.model.backbone.base_channels  # ResNet-18 stage i outputs base * 2**i
    assert cfg.model.neck.in_channels == [base, 2 * base, 4 * base, 8 * base]
    cfg.data.train.data_root = cfg.data.val.data_root = str(tmp_path)
    train_set = build_dataset(cfg.data.train)
    assert len(train_set) == 12 and train_set.CLASSES == CLASSES
    sample = train_set[0]
    assert sample['img'].data.shape == (3, 128, 160)
    val_set = build_dataset(cfg.data.val, dict(test_mode=True))
    assert len(val_set) == 4 and val_set[0]['img'][0].shape == (3, 128, 160)
