"""Drawing: palettes, class colours on box outlines, score threshold, label tags, GT + detections."""
import mmcv
import numpy as np
import pytest

from mmdet_lite.core.visualization import (get_palette, imshow_det_bboxes, imshow_gt_det_bboxes,
                                           parse_det_result)
from mmdet_lite.core.visualization.palette import COCO_PALETTE
from tests.fixtures.drawn_boxes import edge_colour_distance, grey_image

RED, BLUE, GREEN = (230, 20, 20), (20, 20, 230), (20, 200, 20)
BOXES = np.array([[4, 4, 30, 40, 0.9], [34, 6, 60, 30, 0.8], [10, 10, 24, 24, 0.1]], np.float32)
LABELS = np.array([0, 1, 2])


def test_get_palette_named_tuple_list_and_colour_name():
    assert get_palette('coco', 3)[:3] == [(220, 20, 60), (119, 11, 32), (0, 0, 142)]
    assert get_palette('voc', 20)[0] == (106, 0, 228) and len(get_palette('citys', 8)) == 8
    assert get_palette((1, 2, 3), 2) == [(1, 2, 3), (1, 2, 3)]
    assert get_palette([RED, BLUE], 2) == [RED, BLUE]
    assert get_palette('green', 1) == [(0, 255, 0)]  # mmcv's BGR name, returned as RGB
    assert len(COCO_PALETTE) == len(set(COCO_PALETTE)) == 80


def test_random_palette_is_seeded_and_leaves_numpy_state():
    state = np.random.get_state()[1].copy()
    assert get_palette('random', 4) == get_palette(None, 4)
    assert np.array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize('palette, num_classes, error, words', [
    ([RED], 2, ValueError, 'palette has 1 colours for 2 classes'),
    ('no-such-colour', 1, ValueError, "unknown palette 'no-such-colour'"),
    (3.0, 1, TypeError, 'Invalid type for palette: float')])
def test_get_palette_refuses_bad_palettes(palette, num_classes, error, words):
    with pytest.raises(error, match=words):
        get_palette(palette, num_classes)


def test_each_box_outlined_in_its_class_colour_and_low_scores_hidden(tmp_path):
    out_file = tmp_path / 'drawn.png'
    drawn = imshow_det_bboxes(grey_image(48, 64), BOXES, LABELS, class_names=['a', 'b', 'c'],
                              score_thr=0.3, bbox_color=[RED, BLUE, GREEN], show=False,
                              out_file=str(out_file))
    read_back = mmcv.imread(str(out_file))
    assert read_back.shape == (48, 64, 3) and np.array_equal(read_back, drawn)
    assert edge_colour_distance(read_back, BOXES[0], RED, 128) < 10
    assert edge_colour_distance(read_back, BOXES[1], BLUE, 128) < 10
    assert edge_colour_distance(read_back, BOXES[0], BLUE, 128) > 100
    assert edge_colour_distance(read_back, BOXES[2], GREEN, 128) > 50  # 0.1 < score_thr


def test_score_thr_zero_draws_every_box():
    drawn = imshow_det_bboxes(grey_image(48, 64), BOXES, LABELS, bbox_color=[RED, BLUE, GREEN],
                              show=False)
    assert edge_colour_distance(drawn, BOXES[2], GREEN, 128) < 10


def test_label_tag_is_a_dark_patch_inside_the_top_left_corner():
    box = np.array([[20, 20, 200, 150, 0.93]], np.float32)
    drawn = imshow_det_bboxes(grey_image(180, 240), box, np.array([0]), class_names=['rect'],
                              bbox_color=[RED], text_color=[RED], font_size=13, show=False)
    tag = drawn[23:35, 23:60]
    assert (tag.max(axis=2) < 60).mean() > 0.3  # black tag (alpha 0.8 over grey 128: ~26)
    assert (np.abs(tag.astype(int) - (60, 30, 210)).max(axis=2) < 60).any()  # red text on it
    assert (drawn[100:140, 100:180] == 128).all()  # inside the box, away from the tag: untouched


def test_gt_and_detections_stacked_or_overlaid():
    annotation = dict(gt_bboxes=BOXES[:1, :4], gt_labels=np.array([0]))
    result = [np.zeros((0, 5), np.float32), BOXES[1:2]]
    stacked = imshow_gt_det_bboxes(grey_image(48, 64), annotation, result, ['a', 'b'],
                                   gt_bbox_color=[RED, BLUE], det_bbox_color=[RED, BLUE],
                                   show=False, overlay_gt_pred=False)
    assert stacked.shape == (96, 64, 3)
    assert edge_colour_distance(stacked[:48], BOXES[0], RED, 128) < 10
    assert edge_colour_distance(stacked[48:], BOXES[1], BLUE, 128) < 10
    overlaid = imshow_gt_det_bboxes(grey_image(48, 64), annotation, result, ['a', 'b'],
                                    gt_bbox_color=[RED, BLUE], det_bbox_color=[RED, BLUE],
                                    show=False)
    assert overlaid.shape == (48, 64, 3)
    assert edge_colour_distance(overlaid, BOXES[1], BLUE, 128) < 10


def test_parse_det_result_gives_boxes_and_labels_per_class():
    bboxes, labels, segms = parse_det_result([BOXES[:2], np.zeros((0, 5), np.float32), BOXES[2:]])
    assert bboxes.shape == (3, 5) and labels.tolist() == [0, 0, 2] and segms is None


def test_label_without_a_class_name_is_refused():
    with pytest.raises(ValueError, match=r'label 2 has no name: class_names holds 2 \(a, b\)'):
        imshow_det_bboxes(grey_image(48, 64), BOXES, LABELS, class_names=['a', 'b'], show=False)


def test_a_label_past_the_right_edge_moves_left_into_the_image():
    box = np.array([[112, 63, 151, 105, 0.99]], np.float32)
    drawn = imshow_det_bboxes(grey_image(128, 160), box, np.array([0]), class_names=['rectangle'],
                              bbox_color=[RED], text_color=(200, 200, 200), font_size=13,
                              show=False)
    tag_rows = drawn[65:75]
    assert (tag_rows[:, 95:110].max(axis=2) < 60).mean() > 0.3  # moved left of the box
    assert (tag_rows[:, 150:158].max(axis=2) < 60).mean() > 0.3  # and still reaching the edge
