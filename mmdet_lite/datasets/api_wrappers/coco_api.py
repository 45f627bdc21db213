"""pycocotools ``COCO``/``COCOeval`` with MMDetection's snake_case aliases, and a COCO json reader
whose errors name the file and what is wrong in it."""
import json
import numbers
from typing import Any, List, Sequence, Union

from pycocotools.coco import COCO as _COCO
from pycocotools.cocoeval import COCOeval

# Keys each entry of a COCO detection file needs (``annotations`` may be absent: test-dev).
_REQUIRED_KEYS = {'images': ('id', 'file_name', 'width', 'height'),
                  'categories': ('id', 'name'),
                  'annotations': ('id', 'image_id', 'category_id', 'bbox')}


def load_json(path: str) -> Any:
    """Parse the JSON file ``path``.

    Raises:
        ValueError: not JSON; the message names the file, line and column of the error.
    """
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return json.loads(data)
    except json.JSONDecodeError as error:
        raise ValueError(f'{path} is not valid JSON: {error.msg} at line {error.lineno}, '
                         f'column {error.colno}') from None
    except UnicodeDecodeError as error:
        raise ValueError(f'{path} is not valid JSON: byte {error.start} is not UTF-8 text') \
            from None


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_coco_layout(dataset: Any, path: str) -> None:
    """Refuse a parsed json that is not a COCO detection file, naming the first wrong entry.

    Expected: an object with lists ``images`` (id, file_name, numeric width, height),
    ``categories`` (id, name) and optionally ``annotations`` (id, image_id, category_id,
    ``bbox`` of 4 numbers). Box values are not judged here (NaN is a number): the dataset
    drops invalid boxes with a warning.

    Raises:
        ValueError: the message names the file, the entry (``annotations[3]``) and the key.
    """
    if not isinstance(dataset, dict):
        raise ValueError(f'{path} is not a COCO annotation file: expected a JSON object with '
                         "'images', 'annotations' and 'categories', got a "
                         f'{type(dataset).__name__}')
    for section, keys in _REQUIRED_KEYS.items():
        if section not in dataset:
            if section == 'annotations':
                continue
            raise ValueError(f"{path} is not a COCO annotation file: it has no '{section}' list "
                             f'(top-level keys: {sorted(dataset)})')
        entries = dataset[section]
        if not isinstance(entries, list):
            raise ValueError(f"{path}: '{section}' must be a list, got a "
                             f'{type(entries).__name__}')
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f'{path}: {section}[{index}] must be an object, got '
                                 f'{entry!r:.80}')
            missing = [key for key in keys if key not in entry]
            if missing:
                raise ValueError(f'{path}: {section}[{index}] has no '
                                 f"{', '.join(repr(key) for key in missing)}: {entry!r:.120}")
    for index, image in enumerate(dataset['images']):
        if not (_is_number(image['width']) and _is_number(image['height'])):
            raise ValueError(f"{path}: images[{index}] (id {image['id']!r}): 'width' and 'height' "
                             f"must be numbers, got {image['width']!r} and {image['height']!r}")
    for index, ann in enumerate(dataset.get('annotations', [])):
        bbox = ann['bbox']
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_is_number, bbox))):
            raise ValueError(f"{path}: annotations[{index}] (id {ann['id']!r}): 'bbox' must be a "
                             f'list of 4 numbers [x, y, width, height], got {bbox!r:.80}')


class COCO(_COCO):
    """pycocotools ``COCO`` plus ``get_*``/``load_*`` snake_case aliases.

    ``annotation_file`` is read with :func:`load_json` and checked with
    :func:`check_coco_layout`, so a broken file is refused with its name and the position or
    entry at fault (pycocotools would fail on a missing key deep inside its index).
    """

    def __init__(self, annotation_file: str = None) -> None:
        super().__init__(annotation_file=None)
        if annotation_file is not None:
            dataset = load_json(annotation_file)
            check_coco_layout(dataset, annotation_file)
            self.dataset = dataset
            self.createIndex()
        self.img_ann_map = self.imgToAnns
        self.cat_img_map = self.catToImgs

    def get_ann_ids(self, img_ids: Sequence[int] = [], cat_ids: Sequence[int] = [],
                    area_rng: Sequence[float] = [], iscrowd=None) -> List[int]:
        return self.getAnnIds(img_ids, cat_ids, area_rng, iscrowd)

    def get_cat_ids(self, cat_names: Sequence[str] = [], sup_names: Sequence[str] = [],
                    cat_ids: Sequence[int] = []) -> List[int]:
        return self.getCatIds(cat_names, sup_names, cat_ids)

    def get_img_ids(self, img_ids: Sequence[int] = [], cat_ids: Sequence[int] = []) -> List[int]:
        return self.getImgIds(img_ids, cat_ids)

    def load_anns(self, ids: Union[int, Sequence[int]]) -> List[dict]:
        return self.loadAnns(ids)

    def load_cats(self, ids: Union[int, Sequence[int]]) -> List[dict]:
        return self.loadCats(ids)

    def load_imgs(self, ids: Union[int, Sequence[int]]) -> List[dict]:
        return self.loadImgs(ids)


__all__ = ['COCO', 'COCOeval', 'load_json', 'check_coco_layout']
