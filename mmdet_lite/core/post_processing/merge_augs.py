"""Merge test-time-augmentation results back in original image coordinates."""
import copy
import warnings
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv import ConfigDict

from ..bbox import bbox_mapping_back
from .bbox_nms import nms


def merge_aug_proposals(aug_proposals: Sequence[torch.Tensor], img_metas: Sequence[dict],
                        cfg: dict) -> torch.Tensor:
    """Merge proposals of T augmentations of one image.

    Args:
        aug_proposals: T tensors (Ni, 5) of boxes + scores in augmented coordinates.
        img_metas: T meta dicts (``img_shape``, ``scale_factor``, ``flip``, ``flip_direction``).
        cfg: RPN test config with ``nms`` (``iou_threshold``) and ``max_per_img``.

    Returns:
        (k, 5) proposals after NMS, sorted by score, k <= ``max_per_img``.
    """
    cfg = copy.deepcopy(cfg)
    if 'nms' not in cfg:
        warnings.warn('In rpn_proposal or test_cfg, nms_thr has been moved to a dict named nms as '
                      'iou_threshold, max_num has been renamed as max_per_img, name of original '
                      'arguments and the way to specify iou_threshold of NMS will be deprecated.')
        cfg['nms'] = ConfigDict(dict(type='nms', iou_threshold=cfg['nms_thr']))
    if 'max_num' in cfg:
        if 'max_per_img' in cfg and cfg['max_num'] != cfg['max_per_img']:
            raise ValueError(f"max_num ({cfg['max_num']}) and max_per_img "
                             f"({cfg['max_per_img']}) disagree in the RPN test config")
        cfg['max_per_img'] = cfg['max_num']

    recovered_proposals = []
    for proposals, img_info in zip(aug_proposals, img_metas):
        _proposals = proposals.clone()
        _proposals[:, :4] = bbox_mapping_back(_proposals[:, :4], img_info['img_shape'],
                                              img_info['scale_factor'], img_info['flip'],
                                              img_info['flip_direction'])
        recovered_proposals.append(_proposals)
    all_proposals = torch.cat(recovered_proposals, dim=0)
    merged_proposals, _ = nms(all_proposals[:, :4].contiguous(),
                              all_proposals[:, -1].contiguous(), cfg['nms']['iou_threshold'])
    order = merged_proposals[:, 4].sort(0, descending=True)[1]
    return merged_proposals[order[:min(cfg['max_per_img'], merged_proposals.shape[0])], :]


def merge_aug_bboxes(aug_bboxes: Sequence[torch.Tensor],
                     aug_scores: Optional[Sequence[torch.Tensor]],
                     img_metas: Sequence[Sequence[dict]],
                     rcnn_test_cfg: Optional[dict] = None
                     ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """Average boxes (and scores) of T augmentations after mapping them back.

    Args:
        aug_bboxes: T tensors (N, 4k) of boxes, same N rows in every augmentation.
        aug_scores: T tensors (N, C+1), or None.
        img_metas: T lists whose first dict holds ``img_shape``, ``scale_factor``, ``flip``,
            ``flip_direction``.
        rcnn_test_cfg: unused, kept for the MMDetection signature.

    Returns:
        (N, 4k) mean boxes, and (N, C+1) mean scores when ``aug_scores`` is given.
    """
    recovered_bboxes = [
        bbox_mapping_back(bboxes, img_info[0]['img_shape'], img_info[0]['scale_factor'],
                          img_info[0]['flip'], img_info[0]['flip_direction'])
        for bboxes, img_info in zip(aug_bboxes, img_metas)
    ]
    bboxes = torch.stack(recovered_bboxes).mean(dim=0)
    if aug_scores is None:
        return bboxes
    return bboxes, torch.stack(list(aug_scores)).mean(dim=0)


def merge_aug_scores(aug_scores: Sequence[Union[torch.Tensor, np.ndarray]]
                     ) -> Union[torch.Tensor, np.ndarray]:
    """Mean of T equally shaped score tensors (or arrays)."""
    if isinstance(aug_scores[0], torch.Tensor):
        return torch.mean(torch.stack(list(aug_scores)), dim=0)
    return np.mean(aug_scores, axis=0)
