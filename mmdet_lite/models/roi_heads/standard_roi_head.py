"""Second stage of a two-stage detector (MMDetection 2.x ``BaseRoIHead`` + ``StandardRoIHead``, box branch).

Training: per image assign proposals to ground truths and sample them; all images' sampled boxes become
one ``(R, 5)`` RoI tensor (positives then negatives per image, images concatenated); pool, classify,
regress, and compute losses on the whole batch. Test: pool all proposals of the batch at once, then
post-process each image.

Symbols: N images, L FPN levels, Pi proposals of image i, R sampled RoIs, K classes.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.runner import BaseModule

from ..builder import HEADS, build_head, build_roi_extractor, build_shared_head
from ...core.bbox import AssignResult, bbox2result, bbox2roi, bbox_mapping, boxes2roi, build_assigner, build_sampler
from ...core.fp16 import force_fp32
from ...core.post_processing import merge_aug_bboxes, multiclass_nms


class BaseRoIHead(BaseModule):
    """Holds the RoI extractor / head builders and the ``with_*`` flags; masks are not implemented."""

    def __init__(self,
                 bbox_roi_extractor: Optional[dict] = None,
                 bbox_head: Optional[dict] = None,
                 mask_roi_extractor: Optional[dict] = None,
                 mask_head: Optional[dict] = None,
                 shared_head: Optional[dict] = None,
                 train_cfg=None,
                 test_cfg=None,
                 pretrained: Optional[str] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if mask_head is not None or mask_roi_extractor is not None:
            raise ValueError(f'mask heads are not implemented in mmdet_lite; got mask_head={mask_head}')
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        if shared_head is not None:
            shared_head = dict(shared_head)
            if pretrained is not None:
                shared_head['pretrained'] = pretrained
            self.shared_head = build_shared_head(shared_head)
        if bbox_head is not None:
            self.init_bbox_head(bbox_roi_extractor, bbox_head)
        self.init_assigner_sampler()

    @property
    def with_bbox(self) -> bool:
        return hasattr(self, 'bbox_head') and self.bbox_head is not None

    @property
    def with_mask(self) -> bool:
        return hasattr(self, 'mask_head') and self.mask_head is not None

    @property
    def with_shared_head(self) -> bool:
        return hasattr(self, 'shared_head') and self.shared_head is not None

    def init_bbox_head(self, bbox_roi_extractor: dict, bbox_head: dict) -> None:
        self.bbox_roi_extractor = build_roi_extractor(bbox_roi_extractor)
        self.bbox_head = build_head(bbox_head)

    def init_assigner_sampler(self) -> None:
        self.bbox_assigner = None
        self.bbox_sampler = None
        if self.train_cfg:
            self.bbox_assigner = build_assigner(self.train_cfg['assigner'])
            self.bbox_sampler = build_sampler(self.train_cfg['sampler'], context=self)


@HEADS.register_module()
class StandardRoIHead(BaseRoIHead):
    """Box branch: ``bbox_roi_extractor`` -> (``shared_head``) -> ``bbox_head``."""

    def forward_dummy(self, x: Sequence[torch.Tensor], proposals: torch.Tensor) -> tuple:
        """FLOPs helper: head outputs for (P, 4) proposals of image 0."""
        rois = bbox2roi([proposals])
        bbox_results = self._bbox_forward(x, rois)
        return (bbox_results['cls_score'], bbox_results['bbox_pred'])

    def forward_train(self,
                      x: Sequence[torch.Tensor],
                      img_metas: List[dict],
                      proposal_list: List[torch.Tensor],
                      gt_bboxes: List[torch.Tensor],
                      gt_labels: List[torch.Tensor],
                      gt_bboxes_ignore: Optional[List[torch.Tensor]] = None,
                      gt_masks=None) -> dict:
        """Losses ``loss_cls``, ``acc``, ``loss_bbox``.

        Args:
            x: L maps (N, C, Hl, Wl).
            proposal_list: N tensors (Pi, 5) (score column ignored).
            gt_bboxes: N tensors (Gi, 4); gt_labels: N tensors (Gi,).
        """
        if gt_bboxes_ignore is None:
            gt_bboxes_ignore = [None] * len(img_metas)
        _, sampling_results = self._assign_and_sample(proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore, x)
        losses = dict()
        bbox_results = self._bbox_forward_train(x, sampling_results, gt_bboxes, gt_labels, img_metas)
        losses.update(bbox_results['loss_bbox'])
        return losses

    def _assign_and_sample(self, proposal_list: List[torch.Tensor], gt_bboxes: List[torch.Tensor],
                           gt_labels: List[torch.Tensor], gt_bboxes_ignore: List[Optional[torch.Tensor]],
                           x: Optional[Sequence[torch.Tensor]] = None) -> Tuple[list, list]:
        """Per image an ``AssignResult`` and a ``SamplingResult``: proposals (Pi, 5) assigned to the valid
        ground truths (Gi, 4) (see ``_valid_gts``) and sampled (the assignment afterwards includes the ground
        truths added as proposals).

        The sampler gets the image's feature maps ``feats`` (L maps (1, C, Hl, Wl) cut from ``x``), which
        samplers that run the head (OHEM) use and the others ignore."""
        gt_bboxes, gt_labels = self._valid_gts(gt_bboxes, gt_labels)
        if x is None:
            img_feats = [None] * len(proposal_list)
        else:  # one split per level instead of a slice per level and image
            img_feats = [list(feats) for feats in zip(*(lvl_feat.split(1) for lvl_feat in x))]
        assign_results, sampling_results = [], []
        for proposals, gt, labels, gt_ignore, feats in zip(proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore,
                                                           img_feats):
            assign_result = self._assign(proposals, gt, labels, gt_ignore)
            sampling_results.append(self.bbox_sampler.sample(assign_result, proposals, gt, labels, feats=feats))
            assign_results.append(assign_result)
        return assign_results, sampling_results

    @staticmethod
    def _valid_gts(gt_bboxes: List[torch.Tensor],
                   gt_labels: List[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Each image's ground truths (Gi, 4) and labels (Gi,) without the zero-width/height boxes.

        Such a box matches nothing by IoU, but added as a proposal it would be a positive with 0/0 regression
        targets (NaN loss); MMDetection 2.18 lets that happen. One check of the whole batch is the only value
        read back from the device; images are filtered one by one only when some box is degenerate."""
        all_gts = torch.cat(gt_bboxes)
        if bool(((all_gts[:, 2] > all_gts[:, 0]) & (all_gts[:, 3] > all_gts[:, 1])).all()):
            return gt_bboxes, gt_labels
        valid = [(gt[:, 2] > gt[:, 0]) & (gt[:, 3] > gt[:, 1]) for gt in gt_bboxes]
        return [gt[v] for gt, v in zip(gt_bboxes, valid)], [lbl[v] for lbl, v in zip(gt_labels, valid)]

    @force_fp32
    def _assign(self, proposals: torch.Tensor, gt_bboxes: torch.Tensor, gt_labels: torch.Tensor,
                gt_bboxes_ignore: Optional[torch.Tensor]) -> AssignResult:
        """Assign one image's (P, 5) proposals to its (G, 4) ground truths with labels (G,)."""
        return self.bbox_assigner.assign(proposals, gt_bboxes, gt_bboxes_ignore, gt_labels)

    def _bbox_forward(self, x: Sequence[torch.Tensor], rois: torch.Tensor) -> dict:
        """rois (R, 5) -> dict(cls_score (R, K+1), bbox_pred (R, 4K), bbox_feats (R, C, S, S))."""
        bbox_feats = self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois)
        if self.with_shared_head:
            bbox_feats = self.shared_head(bbox_feats)
        cls_score, bbox_pred = self.bbox_head(bbox_feats)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_feats)

    def _bbox_forward_train(self, x: Sequence[torch.Tensor], sampling_results: list,
                            gt_bboxes: List[torch.Tensor], gt_labels: List[torch.Tensor],
                            img_metas: List[dict]) -> dict:
        rois = self._sampled_rois(sampling_results)
        bbox_results = self._bbox_forward(x, rois)
        bbox_targets = self._get_bbox_targets(sampling_results, gt_bboxes, gt_labels)
        loss_bbox = self.bbox_head.loss(bbox_results['cls_score'], bbox_results['bbox_pred'], rois, *bbox_targets)
        bbox_results.update(loss_bbox=loss_bbox)
        return bbox_results

    @staticmethod
    def _sampled_rois(sampling_results: list) -> torch.Tensor:
        """(R, 5) RoIs of the sampled boxes: per image its positives then its negatives (``bbox2roi`` of each
        ``res.bboxes``), concatenated at once."""
        bboxes = torch.cat([boxes for res in sampling_results for boxes in (res.pos_bboxes, res.neg_bboxes)])
        return boxes2roi(bboxes, [len(res.pos_bboxes) + len(res.neg_bboxes) for res in sampling_results])

    def _get_bbox_targets(self, sampling_results: list, gt_bboxes: List[torch.Tensor],
                          gt_labels: List[torch.Tensor]) -> tuple:
        """labels (R,), label_weights (R,), bbox_targets (R, 4), bbox_weights (R, 4) of the sampled RoIs."""
        return self.bbox_head.get_targets(sampling_results, gt_bboxes, gt_labels, self.train_cfg)

    def simple_test_bboxes(self,
                           x: Sequence[torch.Tensor],
                           img_metas: List[dict],
                           proposals: List[torch.Tensor],
                           rcnn_test_cfg,
                           rescale: bool = False) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Per image ``det_bboxes (k, 5)`` and ``det_labels (k,)``; images without proposals give empty ones."""
        rois = bbox2roi(proposals)
        num_imgs = len(proposals)
        if rois.shape[0] == 0:
            empty_bboxes = [rois.new_zeros(0, 5) for _ in range(num_imgs)]
            empty_labels = [rois.new_zeros((0, ), dtype=torch.long) for _ in range(num_imgs)]
            return empty_bboxes, empty_labels
        bbox_results = self._bbox_forward(x, rois)
        num_proposals_per_img = [len(p) for p in proposals]
        rois = rois.split(num_proposals_per_img, 0)
        cls_score = bbox_results['cls_score'].split(num_proposals_per_img, 0)
        bbox_pred = bbox_results['bbox_pred']
        if bbox_pred is None:
            bbox_pred = [None] * num_imgs
        elif isinstance(bbox_pred, torch.Tensor):
            bbox_pred = bbox_pred.split(num_proposals_per_img, 0)
        else:  # a head with structured predictions (SABL's bucket scores and offsets) splits them itself
            bbox_pred = self.bbox_head.bbox_pred_split(bbox_pred, num_proposals_per_img)
        det_bboxes, det_labels = [], []
        for i, img_meta in enumerate(img_metas):
            if rois[i].shape[0] == 0:
                det_bboxes.append(rois[i].new_zeros(0, 5))
                det_labels.append(rois[i].new_zeros((0, ), dtype=torch.long))
                continue
            det_bbox, det_label = self.bbox_head.get_bboxes(rois[i], cls_score[i], bbox_pred[i],
                                                            img_meta['img_shape'], img_meta['scale_factor'],
                                                            rescale=rescale, cfg=rcnn_test_cfg)
            det_bboxes.append(det_bbox)
            det_labels.append(det_label)
        return det_bboxes, det_labels

    def simple_test(self, x: Sequence[torch.Tensor], proposal_list: List[torch.Tensor], img_metas: List[dict],
                    proposals=None, rescale: bool = False) -> List[List[np.ndarray]]:
        """Per image a list of K float32 arrays (n, 5) = x1, y1, x2, y2, score."""
        if not self.with_bbox:
            raise ValueError('StandardRoIHead.simple_test needs a bbox head')
        det_bboxes, det_labels = self.simple_test_bboxes(x, img_metas, proposal_list, self.test_cfg,
                                                         rescale=rescale)
        return [bbox2result(det_bboxes[i], det_labels[i], self.bbox_head.num_classes) for i in range(len(det_bboxes))]

    def aug_test_bboxes(self, feats: List[Sequence[torch.Tensor]], img_metas: List[List[dict]],
                        proposal_list: List[torch.Tensor], rcnn_test_cfg) -> Tuple[torch.Tensor, torch.Tensor]:
        """Batch-of-one test-time augmentation: proposals (in original-image pixels) are mapped into each
        augmentation, boxes/scores are merged back (``merge_aug_bboxes``) and NMS'ed.

        Returns det_bboxes (k, 5) and det_labels (k,); no proposals give k = 0, as in MMDetection 2.28."""
        aug_bboxes, aug_scores = [], []
        for x, img_meta in zip(feats, img_metas):
            img_shape = img_meta[0]['img_shape']
            scale_factor = img_meta[0]['scale_factor']
            flip = img_meta[0]['flip']
            flip_direction = img_meta[0].get('flip_direction', 'horizontal')
            proposals = bbox_mapping(proposal_list[0][:, :4], img_shape, scale_factor, flip, flip_direction)
            rois = bbox2roi([proposals])
            if rois.shape[0] == 0:
                aug_bboxes.append(rois.new_zeros(0, 4))
                aug_scores.append(rois.new_zeros(0, 1))
                continue
            bbox_results = self._bbox_forward(x, rois)
            bboxes, scores = self.bbox_head.get_bboxes(rois, bbox_results['cls_score'], bbox_results['bbox_pred'],
                                                       img_shape, scale_factor, rescale=False, cfg=None)
            aug_bboxes.append(bboxes)
            aug_scores.append(scores)
        merged_bboxes, merged_scores = merge_aug_bboxes(aug_bboxes, aug_scores, img_metas, rcnn_test_cfg)
        if merged_bboxes.shape[0] == 0:
            return merged_bboxes.new_zeros(0, 5), merged_bboxes.new_zeros((0, ), dtype=torch.long)
        return multiclass_nms(merged_bboxes, merged_scores, rcnn_test_cfg['score_thr'], rcnn_test_cfg['nms'],
                              rcnn_test_cfg['max_per_img'])

    def aug_test(self, x: List[Sequence[torch.Tensor]], proposal_list: List[torch.Tensor],
                 img_metas: List[List[dict]], rescale: bool = False) -> List[List[np.ndarray]]:
        """Test with augmentations (batch of one); boxes are in original-image pixels when ``rescale``."""
        det_bboxes, det_labels = self.aug_test_bboxes(x, img_metas, proposal_list, self.test_cfg)
        if rescale:
            _det_bboxes = det_bboxes
        else:
            _det_bboxes = det_bboxes.clone()
            _det_bboxes[:, :4] *= det_bboxes.new_tensor(img_metas[0][0]['scale_factor'])
        return [bbox2result(_det_bboxes, det_labels, self.bbox_head.num_classes)]
