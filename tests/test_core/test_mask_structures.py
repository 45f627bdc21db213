"""BitmapMasks: COCO decoding and the geometric ops the pipelines use, on hand-drawn masks."""
import numpy as np
import pytest
import torch

from mmdet_lite.core.mask import BitmapMasks, bitmap_masks_from_coco, polygons_or_rle_to_bitmap


def _two_masks():
    masks = np.zeros((2, 4, 6), dtype=np.uint8)
    masks[0, 1:3, 2:5] = 1  # box (2, 1, 5, 3)
    masks[1, 0, 0] = 1  # box (0, 0, 1, 1)
    return BitmapMasks(masks, 4, 6)


def test_coco_polygon_and_rle_decode():
    # the polygon (1, 1)-(5, 4) covers pixel columns 1..4 and rows 1..3
    expected = np.zeros((6, 7), dtype=np.uint8)
    expected[1:4, 1:5] = 1
    np.testing.assert_array_equal(polygons_or_rle_to_bitmap([[1, 1, 5, 1, 5, 4, 1, 4]], 6, 7), expected)
    # uncompressed RLE counts run column-major: 1 zero, 2 ones, 3 zeros
    np.testing.assert_array_equal(polygons_or_rle_to_bitmap({'counts': [1, 2, 3], 'size': [3, 2]}, 3, 2),
                                  [[0, 0], [1, 0], [1, 0]])
    masks = bitmap_masks_from_coco([[[1, 1, 5, 1, 5, 4, 1, 4]]], 6, 7)
    assert len(masks) == 1 and masks.areas.tolist() == [12]
    assert len(bitmap_masks_from_coco([], 6, 7)) == 0


def test_get_bboxes_index_and_tensor():
    masks = _two_masks()
    np.testing.assert_array_equal(masks.get_bboxes(), [[2, 1, 5, 3], [0, 0, 1, 1]])
    np.testing.assert_array_equal(masks[np.array([1])].get_bboxes(), [[0, 0, 1, 1]])
    assert masks.to_tensor(torch.float32, 'cpu').shape == (2, 4, 6)
    np.testing.assert_array_equal(BitmapMasks(np.zeros((1, 4, 6), np.uint8), 4, 6).get_bboxes(), [[0, 0, 0, 0]])


@pytest.mark.parametrize('direction, expected', [('horizontal', [[1, 1, 4, 3], [5, 0, 6, 1]]),
                                                 ('vertical', [[2, 1, 5, 3], [0, 3, 1, 4]]),
                                                 ('diagonal', [[1, 1, 4, 3], [5, 3, 6, 4]])])
def test_flip_moves_boxes_like_bbox_flip(direction, expected):
    np.testing.assert_array_equal(_two_masks().flip(direction).get_bboxes(), expected)


def test_rescale_resize_pad_crop_by_hand():
    masks = _two_masks()
    rescaled = masks.rescale(2.0)  # nearest x2: 8 x 12
    assert (rescaled.height, rescaled.width) == (8, 12)
    np.testing.assert_array_equal(rescaled.get_bboxes(), [[4, 2, 10, 6], [0, 0, 2, 2]])
    resized = masks.resize((8, 6))  # rows doubled only
    np.testing.assert_array_equal(resized.get_bboxes(), [[2, 2, 5, 6], [0, 0, 1, 2]])
    padded = masks.pad((5, 8), pad_val=0)
    assert padded.masks.shape == (2, 5, 8)
    np.testing.assert_array_equal(padded.masks[:, :4, :6], masks.masks)
    assert padded.masks[:, 4:].sum() == 0 and padded.masks[:, :, 6:].sum() == 0
    cropped = masks.crop(np.array([3, 1, 10, 3]))  # clipped to x <= 6: a 2 x 3 window
    assert cropped.masks.shape == (2, 2, 3)
    np.testing.assert_array_equal(cropped.get_bboxes(), [[0, 0, 2, 2], [0, 0, 0, 0]])
    empty = masks[np.array([], dtype=np.int64)]
    assert empty.rescale(2.0).masks.shape == (0, 8, 12) and empty.resize((3, 5)).masks.shape == (0, 3, 5)


def test_missing_segmentation_and_shape_mismatch_raise():
    with pytest.raises(ValueError, match='None'):
        polygons_or_rle_to_bitmap(None, 4, 5)
    with pytest.raises(ValueError, match='do not match'):
        BitmapMasks(np.zeros((4, 6), np.uint8), 4, 5)
