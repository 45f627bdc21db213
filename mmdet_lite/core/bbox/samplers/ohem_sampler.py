"""Online hard example mining (MMDetection 2.x ``OHEMSampler``, https://arxiv.org/abs/1604.03540)."""
from typing import Any, Optional, Sequence

import torch

from ..assigners import AssignResult
from ..builder import BBOX_SAMPLERS
from ..transforms import bbox2roi
from .base_sampler import BaseSampler


@BBOX_SAMPLERS.register_module()
class OHEMSampler(BaseSampler):
    """Keep the candidates with the highest classification loss under the current RoI head.

    When there are more positives (negatives) than wanted, all of them are pooled from the image's features
    and classified by ``context._bbox_forward`` without gradients; the per-RoI ``loss_key`` entry of
    ``bbox_head.loss`` (positives against their labels, negatives against background) ranks them and the
    ``num_expected`` highest are kept. ``sample`` needs ``feats``: the image's L feature maps, each (1, C, H, W).

    Args:
        context: the RoI head (needs ``bbox_head`` and ``_bbox_forward``; a cascade head's ``current_stage``
            picks the stage, as in MMDetection).
        loss_key: the entry of ``bbox_head.loss`` that ranks candidates.
        others: as :class:`BaseSampler`.
    """

    def __init__(self,
                 num: int,
                 pos_fraction: float,
                 context: Any,
                 neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True,
                 loss_key: str = 'loss_cls') -> None:
        super().__init__(num, pos_fraction, neg_pos_ub=neg_pos_ub, add_gt_as_proposals=add_gt_as_proposals)
        if context is None or not hasattr(context, 'bbox_head'):
            raise TypeError(f'OHEMSampler needs the RoI head as context (with a bbox_head), got {context!r}')
        self.context = context
        if hasattr(context, 'num_stages'):
            self.bbox_head = context.bbox_head[context.current_stage]
        else:
            self.bbox_head = context.bbox_head
        self.loss_key = loss_key

    def hard_mining(self, inds: torch.Tensor, num_expected: int, bboxes: torch.Tensor, labels: torch.Tensor,
                    feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """The ``num_expected`` entries of (K,) ``inds`` whose (K, 4) ``bboxes`` have the highest loss for
        (K,) ``labels``."""
        with torch.no_grad():
            rois = bbox2roi([bboxes])
            if hasattr(self.context, 'num_stages'):
                bbox_results = self.context._bbox_forward(self.context.current_stage, feats, rois)
            else:
                bbox_results = self.context._bbox_forward(feats, rois)
            cls_score = bbox_results['cls_score']
            loss = self.bbox_head.loss(cls_score=cls_score, bbox_pred=None, rois=rois, labels=labels,
                                       label_weights=cls_score.new_ones(cls_score.size(0)), bbox_targets=None,
                                       bbox_weights=None, reduction_override='none')[self.loss_key]
            _, topk_loss_inds = loss.topk(num_expected)
        return inds[topk_loss_inds]

    def _require_feats(self, bboxes: Optional[torch.Tensor], feats: Optional[Sequence[torch.Tensor]]) -> None:
        if bboxes is None or feats is None:
            raise ValueError('OHEMSampler.sample needs feats (the image\'s feature maps) to rank candidates; '
                             f'got feats={type(feats).__name__}')

    def _sample_pos(self, assign_result: AssignResult, num_expected: int, bboxes: Optional[torch.Tensor] = None,
                    feats: Optional[Sequence[torch.Tensor]] = None, **kwargs: Any) -> torch.Tensor:
        """The ``num_expected`` hardest positives (all when there are no more)."""
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).view(-1)
        if pos_inds.numel() <= num_expected:
            return pos_inds
        self._require_feats(bboxes, feats)
        return self.hard_mining(pos_inds, num_expected, bboxes[pos_inds], assign_result.labels[pos_inds], feats)

    def _sample_neg(self, assign_result: AssignResult, num_expected: int, bboxes: Optional[torch.Tensor] = None,
                    feats: Optional[Sequence[torch.Tensor]] = None, **kwargs: Any) -> torch.Tensor:
        """The ``num_expected`` hardest negatives, scored as background (all when there are no more)."""
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).view(-1)
        if neg_inds.numel() <= num_expected:
            return neg_inds
        self._require_feats(bboxes, feats)
        neg_labels = assign_result.gt_inds.new_full((neg_inds.numel(), ), self.bbox_head.num_classes)
        return self.hard_mining(neg_inds, num_expected, bboxes[neg_inds], neg_labels, feats)
