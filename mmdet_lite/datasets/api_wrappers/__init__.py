from .coco_api import COCO, COCOeval

__all__ = ['COCO', 'COCOeval']
