"""pycocotools ``COCO``/``COCOeval`` with MMDetection's snake_case aliases."""
from typing import List, Sequence, Union

from pycocotools.coco import COCO as _COCO
from pycocotools.cocoeval import COCOeval


class COCO(_COCO):
    """pycocotools ``COCO`` plus ``get_*``/``load_*`` snake_case aliases."""

    def __init__(self, annotation_file: str = None) -> None:
        super().__init__(annotation_file=annotation_file)
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


__all__ = ['COCO', 'COCOeval']
