from .structures import BitmapMasks, bitmap_masks_from_coco, polygons_or_rle_to_bitmap

__all__ = ['BitmapMasks', 'bitmap_masks_from_coco', 'polygons_or_rle_to_bitmap']
