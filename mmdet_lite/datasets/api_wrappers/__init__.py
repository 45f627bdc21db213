from .coco_api import COCO, COCOeval, check_coco_layout, load_json

__all__ = ['COCO', 'COCOeval', 'check_coco_layout', 'load_json']
