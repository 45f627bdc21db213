"""Prime-Sample-Attention RoI head (MMDetection 2.x ``PISARoIHead``, https://arxiv.org/abs/1904.04821).

``StandardRoIHead`` plus, from ``train_cfg``: negative label weights from a ``ScoreHLRSampler`` (ISR-N),
``isr=dict(k, bias)`` positive reweighting (ISR-P, :func:`isr_p`) and ``carl=dict(k, bias)`` the extra
classification-aware regression loss ``loss_carl`` (:func:`carl_loss`).

Symbols: N images, R sampled RoIs, Pi / Qi positives / negatives of image i.
"""
from typing import List, Optional, Sequence

import torch

from ..builder import HEADS
from ..losses.pisa_loss import carl_loss, isr_p
from .standard_roi_head import StandardRoIHead


@HEADS.register_module()
class PISARoIHead(StandardRoIHead):
    """Losses ``loss_cls``, ``acc``, ``loss_bbox`` and, with ``train_cfg.carl``, ``loss_carl``."""

    def forward_train(self,
                      x: Sequence[torch.Tensor],
                      img_metas: List[dict],
                      proposal_list: List[torch.Tensor],
                      gt_bboxes: List[torch.Tensor],
                      gt_labels: List[torch.Tensor],
                      gt_bboxes_ignore: Optional[List[torch.Tensor]] = None,
                      gt_masks=None) -> dict:
        if gt_bboxes_ignore is None:
            gt_bboxes_ignore = [None] * len(img_metas)
        _, results = self._assign_and_sample(proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore, x)
        sampling_results = [res[0] if isinstance(res, tuple) else res for res in results]
        neg_label_weights = [res[1] if isinstance(res, tuple) else None for res in results]
        bbox_results = self._bbox_forward_train(x, sampling_results, gt_bboxes, gt_labels, img_metas,
                                                neg_label_weights=neg_label_weights)
        return dict(bbox_results['loss_bbox'])

    def _bbox_forward_train(self, x: Sequence[torch.Tensor], sampling_results: list,
                            gt_bboxes: List[torch.Tensor], gt_labels: List[torch.Tensor], img_metas: List[dict],
                            neg_label_weights: Optional[List[Optional[torch.Tensor]]] = None) -> dict:
        rois = self._sampled_rois(sampling_results)
        bbox_results = self._bbox_forward(x, rois)
        bbox_targets = self._get_bbox_targets(sampling_results, gt_bboxes, gt_labels)
        if neg_label_weights is not None and neg_label_weights[0] is not None:
            bbox_targets = self._with_neg_label_weights(bbox_targets, sampling_results, neg_label_weights)
        cls_score = bbox_results['cls_score']
        bbox_pred = bbox_results['bbox_pred']
        num_classes = self.bbox_head.num_classes
        isr_cfg = self.train_cfg.get('isr', None)
        if isr_cfg is not None:
            bbox_targets = isr_p(cls_score, bbox_pred, bbox_targets, rois, sampling_results, self.bbox_head.loss_cls,
                                 self.bbox_head.bbox_coder, **isr_cfg, num_class=num_classes)
        loss_bbox = self.bbox_head.loss(cls_score, bbox_pred, rois, *bbox_targets)
        carl_cfg = self.train_cfg.get('carl', None)
        if carl_cfg is not None:
            loss_bbox.update(carl_loss(cls_score, bbox_targets[0], bbox_pred, bbox_targets[2],
                                       self.bbox_head.loss_bbox, **carl_cfg, num_class=num_classes))
        bbox_results.update(loss_bbox=loss_bbox)
        return bbox_results

    @staticmethod
    def _with_neg_label_weights(bbox_targets: tuple, sampling_results: list,
                                neg_label_weights: List[Optional[torch.Tensor]]) -> tuple:
        """Put each image's (Qi,) sampler weights at its negatives' places in the (R,) label weights
        (per image: Pi positives then Qi negatives)."""
        labels, label_weights, box_targets, bbox_weights = bbox_targets
        is_neg = torch.cat([
            torch.cat([res.pos_inds.new_zeros(len(res.pos_inds), dtype=torch.bool),
                       res.neg_inds.new_ones(len(res.neg_inds), dtype=torch.bool)]) for res in sampling_results
        ])
        label_weights = label_weights.clone()
        label_weights[is_neg] = torch.cat([w for w in neg_label_weights if w is not None]).to(label_weights.dtype)
        return labels, label_weights, box_targets, bbox_weights
