"""Second stage of a two-stage detector (MMDetection 2.x ``BaseRoIHead`` + ``StandardRoIHead``, box branch).

Training: assign each image's proposals to its ground truths and sample them (all images at once for a
``MaxIoUAssigner`` with a ``RandomSampler``, else image by image); all images' sampled boxes become
one ``(R, 5)`` RoI tensor (positives then negatives per image, images concatenated); pool, classify,
regress, and compute losses on the whole batch. Test: pool all proposals of the batch at once, then
post-process each image.

Symbols: N images, L FPN levels, Pi proposals of image i, R sampled RoIs, K classes.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.runner import BaseModule
from torch.nn.utils.rnn import pad_sequence

from ..builder import HEADS, build_head, build_roi_extractor, build_shared_head
from ...core.bbox import (AssignResult, MaxIoUAssigner, RandomSampler, SamplingResult, bbox2result, bbox2roi,
                          bbox_mapping, boxes2roi, build_assigner, build_sampler, pad_boxes)
from ...core.fp16 import force_fp32
from ...core.post_processing import merge_aug_bboxes, multiclass_nms
from ...core.utils import host_index


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
        samplers that run the head (OHEM) use and the others ignore. A ``MaxIoUAssigner`` with a
        ``RandomSampler`` assigns and samples all images at once (:meth:`_batch_assign_and_sample`)."""
        gt_bboxes, gt_labels = self._valid_gts(gt_bboxes, gt_labels)
        if self._batched_sampling_applies(gt_bboxes):
            return self._batch_assign_and_sample(proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore)
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

    def _batched_sampling_applies(self, gt_bboxes: List[torch.Tensor]) -> bool:
        """Whether :meth:`_batch_assign_and_sample` gives this head's results: exactly the assigner and
        sampler classes it reimplements, the assignment not moved to the CPU, ``_assign`` not overridden."""
        assigner, sampler = self.bbox_assigner, self.bbox_sampler
        if type(assigner) is not MaxIoUAssigner or type(sampler) is not RandomSampler:
            return False
        if type(self)._assign is not StandardRoIHead._assign:
            return False
        max_gts = max((gt.size(0) for gt in gt_bboxes), default=0)
        return not (assigner.gpu_assign_thr > 0 and max_gts > assigner.gpu_assign_thr)

    def _batch_assign_and_sample(self, proposal_list: List[torch.Tensor], gt_bboxes: List[torch.Tensor],
                                 gt_labels: List[torch.Tensor],
                                 gt_bboxes_ignore: List[Optional[torch.Tensor]]) -> Tuple[list, list]:
        """The per-image loop of :meth:`_assign_and_sample` for all N images at once; the only value read
        back from the device is the (2, N) count of sampled positives and negatives.

        Image i's Mi candidates (its Gi ground truths first when ``add_gt_as_proposals``, then its Pi
        proposals) sit in row i of an (N, M) layout, M = max Mi, at their per-image index. One ``batch_assign``
        matches the proposal columns, the ground-truth columns take themselves (``add_gt_``), and
        ``batch_sample_masks`` draws the sizes ``sample`` draws. The results equal the per-image path's for the
        same picks (indices ascending); the picks are uniform subsets as there, from other random numbers.
        """
        device = proposal_list[0].device
        num_gts = [gt.size(0) for gt in gt_bboxes]
        cands, is_gt_col, is_prop_col, cand_pos, num_cands = self._batch_candidates(proposal_list, gt_bboxes)
        gt_pad, gt_valid = pad_boxes(gt_bboxes, device)
        ignore_pad, ignore_valid = None, None
        if any(ignore is not None for ignore in gt_bboxes_ignore):
            ignore_pad, ignore_valid = pad_boxes(
                [cands.new_zeros((0, 4)) if ignore is None else ignore for ignore in gt_bboxes_ignore], device)
        gt_inds, max_overlaps = self._batch_assign(cands, gt_pad, gt_valid, is_prop_col, ignore_pad, ignore_valid)
        self_inds = torch.arange(1, cands.size(1) + 1, device=device).expand_as(gt_inds)
        gt_inds = torch.where(is_gt_col, self_inds, gt_inds)
        max_overlaps = torch.where(is_gt_col, 1.0, max_overlaps)
        labels = torch.full_like(gt_inds, -1)
        if gt_pad.size(1) > 0:  # a shape check: with no ground truth at all nothing is positive
            labels_pad = pad_sequence(gt_labels, batch_first=True).long()
            labels = torch.where(gt_inds > 0, labels_pad.gather(1, (gt_inds - 1).clamp(min=0)), labels)

        pos_mask, neg_mask = self.bbox_sampler.batch_sample_masks(gt_inds)
        sampled = _gather_sampled(pos_mask, neg_mask, cands, is_gt_col, gt_inds, labels, gt_pad)
        sampling_results = [SamplingResult.from_parts(num_gts=num_gt, **parts)
                            for num_gt, parts in zip(num_gts, sampled)]
        per_image = [values.view(-1)[cand_pos].split(num_cands) for values in (gt_inds, max_overlaps, labels)]
        assign_results = [AssignResult(num_gt, *values) for num_gt, *values in zip(num_gts, *per_image)]
        return assign_results, sampling_results

    def _batch_candidates(self, proposal_list: List[torch.Tensor], gt_bboxes: List[torch.Tensor]) -> tuple:
        """The (N, M) candidate layout of :meth:`_batch_assign_and_sample`, built from host-known counts.

        Returns cands (N, M, 4) (zeros past each image's Mi), is_gt_col and is_prop_col (N, M) bool, the
        (sum Mi,) positions of the candidates in the flattened (N * M) layout, image after image, and [Mi].
        """
        device = proposal_list[0].device
        num_imgs = len(proposal_list)
        num_gt_cols = np.array([gt.size(0) if self.bbox_sampler.add_gt_as_proposals else 0 for gt in gt_bboxes])
        num_cands = num_gt_cols + np.array([proposals.size(0) for proposals in proposal_list])
        num_cols = int(num_cands.max(initial=0))
        col_ids = np.arange(num_cols)
        flat_pos = (np.arange(num_imgs) * num_cols)[:, None] + col_ids
        is_gt_col = col_ids < num_gt_cols[:, None]
        is_prop_col = ~is_gt_col & (col_ids < num_cands[:, None])
        if len({proposals.size(1) for proposals in proposal_list}) > 1:  # given proposals with and without scores
            proposal_list = [proposals[:, :4] for proposals in proposal_list]
        cands = proposal_list[0].new_zeros((num_imgs * num_cols, 4))
        # two copies of all images' boxes instead of a concatenation per image
        cands.index_copy_(0, host_index(flat_pos[is_prop_col], device), torch.cat(proposal_list)[:, :4])
        if is_gt_col.any():
            cands.index_copy_(0, host_index(flat_pos[is_gt_col], device), torch.cat(gt_bboxes)[:, :4].to(cands.dtype))
        cand_pos = host_index(flat_pos[is_gt_col | is_prop_col], device)
        return (cands.view(num_imgs, num_cols, 4), host_index(is_gt_col, device).bool(),
                host_index(is_prop_col, device).bool(), cand_pos, num_cands.tolist())

    @force_fp32
    def _batch_assign(self, cands: torch.Tensor, gt_pad: torch.Tensor, gt_valid: torch.Tensor,
                      cands_valid: torch.Tensor, ignore_pad: Optional[torch.Tensor],
                      ignore_valid: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """``MaxIoUAssigner.batch_assign`` of (N, M, 4) ``cands`` (those in ``cands_valid``) in float32."""
        return self.bbox_assigner.batch_assign(cands, gt_pad, gt_valid, cands_valid, ignore_pad, ignore_valid)

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


def _gather_sampled(pos_mask: torch.Tensor, neg_mask: torch.Tensor, cands: torch.Tensor, is_gt_col: torch.Tensor,
                    gt_inds: torch.Tensor, labels: torch.Tensor, gt_pad: torch.Tensor) -> List[dict]:
    """Per image the ``SamplingResult`` attributes (but ``num_gts``) of the sampled (N, M) layout: every
    image's gathered at once and split by the sampled counts, read back once.

    pos_mask, neg_mask, is_gt_col, gt_inds, labels (N, M); cands (N, M, 4); gt_pad (N, G, 4).
    """
    num_cols = max(cands.size(1), 1)
    num_pos, num_neg = torch.stack([pos_mask.sum(dim=1), neg_mask.sum(dim=1)]).tolist()
    pos_flat, neg_flat = _true_positions(pos_mask, sum(num_pos)), _true_positions(neg_mask, sum(num_neg))
    pos_assigned = gt_inds.view(-1)[pos_flat] - 1
    pos_gt_rows = torch.div(pos_flat, num_cols, rounding_mode='floor') * gt_pad.size(1) + pos_assigned
    parts = dict(
        pos_inds=(pos_flat % num_cols).split(num_pos),
        neg_inds=(neg_flat % num_cols).split(num_neg),
        pos_bboxes=cands.view(-1, 4)[pos_flat].split(num_pos),
        neg_bboxes=cands.view(-1, 4)[neg_flat].split(num_neg),
        pos_is_gt=is_gt_col.view(-1)[pos_flat].to(torch.uint8).split(num_pos),
        pos_assigned_gt_inds=pos_assigned.split(num_pos),
        pos_gt_bboxes=gt_pad.view(-1, 4)[pos_gt_rows].split(num_pos),
        pos_gt_labels=labels.view(-1)[pos_flat].split(num_pos))
    return [dict(zip(parts, values)) for values in zip(*parts.values())]


def _true_positions(mask: torch.Tensor, num_true: int) -> torch.Tensor:
    """(num_true,) ascending flat positions of the true entries of ``mask``, whose count the host knows:
    no device read, unlike ``nonzero``."""
    flat = mask.reshape(-1)
    rank = torch.cumsum(flat, dim=0) - 1
    # false entries go to the spare last slot, which is dropped
    slots = torch.where(flat, rank, num_true)
    positions = torch.arange(flat.numel(), device=flat.device)
    return positions.new_zeros(num_true + 1).scatter_(0, slots, positions)[:num_true]
