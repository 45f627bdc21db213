"""What the tools' tests share: a tiny COCO-format sample for tests/data/configs/tiny_coco.py."""
import pytest

from tests.conftest import REPO_ROOT
from tests.test_datasets.helpers import write_coco

TINY_COCO_CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny_coco.py'


@pytest.fixture
def coco_root(tmp_path):
    """``tmp_path/data``: train.json + train/ (0.jpg..3.jpg), val.json + val/ (0.jpg, 1.jpg);
    each 80x64 image holds one person at [10, 8, 20, 30] (COCO x, y, w, h). Ids start at 1:
    pycocotools' matching reads annotation id 0 as "no match"."""
    root = tmp_path / 'data'
    for split, num_images in (('train', 4), ('val', 2)):
        images = [dict(id=i + 1, file_name=f'{i}.jpg', width=80, height=64)
                  for i in range(num_images)]
        annotations = [dict(id=i + 1, image_id=i + 1, category_id=1, bbox=[10, 8, 20, 30],
                            area=600, iscrowd=0) for i in range(num_images)]
        write_coco(root, f'{split}.json', split, images, annotations)
    return root


def data_root_options(root):
    """``--cfg-options`` pointing tiny_coco.py's train and val sets at ``root``."""
    return ['--cfg-options', f'data.train.data_root={root}/', f'data.val.data_root={root}/']
