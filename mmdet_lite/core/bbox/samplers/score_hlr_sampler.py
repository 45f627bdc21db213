"""Score hierarchical-local-rank negative sampling (MMDetection 2.x ``ScoreHLRSampler``, ISR-N of PISA,
https://arxiv.org/abs/1904.04821).

Symbols: M candidates of one image, Q sampled negatives, V "valid" negatives (best foreground score above
``score_thr``), K classes.
"""
from typing import Any, Optional, Tuple

import torch

from ..assigners import AssignResult
from ..builder import BBOX_SAMPLERS
from ..transforms import bbox2roi
from .random_sampler import RandomSampler
from .sampling_result import SamplingResult


def group_rank(groups: list, num: int, device: torch.device) -> torch.Tensor:
    """Position of each of ``num`` elements inside its group (groups: index tensors covering 0..num-1)."""
    members = torch.cat(groups).to(device)
    sizes = torch.tensor([len(g) for g in groups], device=device)
    starts = torch.cumsum(sizes, 0) - sizes
    rank = torch.empty(num, dtype=torch.long, device=device)
    rank[members] = torch.arange(len(members), device=device) - torch.repeat_interleave(starts, sizes)
    return rank


@BBOX_SAMPLERS.register_module()
class ScoreHLRSampler(RandomSampler):
    """Positives at random; negatives by Score-HLR, returned with importance-based label weights.

    Negatives are scored by the head (``context._bbox_forward``) without gradients. Those whose best
    foreground score is above ``score_thr`` are grouped by ``nms_match`` (IoU ``iou_thr``) of their decoded
    boxes; importance = V - rank in group + score, and the top ones by importance are taken (random others
    fill up). Weights ``(bias + (1 - bias) * (U - imp_rank) / U) ** k`` (U = max(Q, V)) are rescaled so the
    weighted background loss of the picks equals the unweighted one.

    ``sample`` returns ``(SamplingResult, neg_label_weights (Q,) or None)``.
    """

    def __init__(self,
                 num: int,
                 pos_fraction: float,
                 context: Any,
                 neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True,
                 k: float = 0.5,
                 bias: float = 0,
                 score_thr: float = 0.05,
                 iou_thr: float = 0.5) -> None:
        super().__init__(num, pos_fraction, neg_pos_ub, add_gt_as_proposals)
        if context is None:
            raise ValueError('ScoreHLRSampler needs its RoI head as context (build it with context=roi_head)')
        self.k = k
        self.bias = bias
        self.score_thr = score_thr
        self.iou_thr = iou_thr
        self.context = context
        if hasattr(context, 'num_stages'):
            self.bbox_head = context.bbox_head[context.current_stage]
        else:
            self.bbox_head = context.bbox_head

    def _sample_neg(self, assign_result: AssignResult, num_expected: int, bboxes: Optional[torch.Tensor] = None,
                    feats=None, **kwargs: Any) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Indices (Q,) of the picked negatives and their label weights (Q,) (None without negatives)."""
        # post_processing imports core.bbox, so it cannot be imported while core.bbox initialises
        from ...post_processing import nms_match
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).flatten()
        num_neg = neg_inds.size(0)
        if num_neg == 0:
            return neg_inds, None
        with torch.no_grad():
            neg_rois = bbox2roi([bboxes[neg_inds]])
            bbox_result = self.context._bbox_forward(feats, neg_rois)
            cls_score, bbox_pred = bbox_result['cls_score'], bbox_result['bbox_pred']
            ori_loss = self.bbox_head.loss(
                cls_score=cls_score, bbox_pred=None, rois=None,
                labels=neg_inds.new_full((num_neg, ), self.bbox_head.num_classes),
                label_weights=cls_score.new_ones(num_neg), bbox_targets=None, bbox_weights=None,
                reduction_override='none')['loss_cls']
            max_score, argmax_score = cls_score.softmax(-1)[:, :-1].max(-1)
            valid_inds = (max_score > self.score_thr).nonzero(as_tuple=False).view(-1)
            invalid_inds = (max_score <= self.score_thr).nonzero(as_tuple=False).view(-1)
            num_valid = valid_inds.size(0)
            num_expected = min(num_neg, num_expected)
            if num_valid == 0:
                select_inds = torch.randperm(num_neg)[:num_expected].to(neg_inds.device)
                return neg_inds[select_inds], cls_score.new_ones(num_expected)
            num_hlr = min(num_valid, num_expected)
            num_rand = num_expected - num_hlr
            valid_max_score = max_score[valid_inds]
            valid_bbox_pred = bbox_pred[valid_inds].view(num_valid, -1, 4)
            selected_bbox_pred = valid_bbox_pred[torch.arange(num_valid), argmax_score[valid_inds]]
            pred_bboxes = self.bbox_head.bbox_coder.decode(neg_rois[valid_inds, 1:], selected_bbox_pred)
            groups = nms_match(torch.cat([pred_bboxes, valid_max_score[:, None]], -1), self.iou_thr)
            rank_in_group = group_rank(groups, num_valid, cls_score.device)
            imp = num_valid - rank_in_group.float() + valid_max_score
            _, imp_rank_inds = imp.sort(descending=True)
            _, imp_rank = imp_rank_inds.sort()
            hlr_inds = imp_rank_inds[:num_expected]
            select_inds = valid_inds[hlr_inds]
            if num_rand > 0:
                rand_inds = torch.randperm(invalid_inds.size(0))[:num_rand].to(invalid_inds.device)
                select_inds = torch.cat([select_inds, invalid_inds[rand_inds]])
            up_bound = max(num_expected, num_valid)
            imp_weights = (up_bound - imp_rank[hlr_inds].float()) / up_bound
            neg_label_weights = cls_score.new_ones(num_expected)
            neg_label_weights[:num_hlr] = imp_weights
            neg_label_weights[num_hlr:] = imp_weights.min()
            neg_label_weights = (self.bias + (1 - self.bias) * neg_label_weights).pow(self.k)
            ori_selected_loss = ori_loss[select_inds]
            neg_label_weights = neg_label_weights * (ori_selected_loss.sum() /
                                                     (ori_selected_loss * neg_label_weights).sum())
            return neg_inds[select_inds], neg_label_weights

    def sample(self,
               assign_result: AssignResult,
               bboxes: torch.Tensor,
               gt_bboxes: torch.Tensor,
               gt_labels: Optional[torch.Tensor] = None,
               img_meta: Optional[dict] = None,
               **kwargs: Any) -> Tuple[SamplingResult, Optional[torch.Tensor]]:
        """As :meth:`BaseSampler.sample` (``feats``: the image's L maps (1, C, Hl, Wl)), plus the negatives'
        (Q,) label weights; indices keep the sampler's order (not sorted) so they line up with the weights."""
        bboxes, gt_flags = self._candidates(assign_result, bboxes, gt_bboxes, gt_labels)
        num_expected_pos = int(self.num * self.pos_fraction)
        pos_inds = self._sample_pos(assign_result, num_expected_pos, bboxes=bboxes, **kwargs)
        num_expected_neg = self._num_expected_neg(pos_inds.numel())
        neg_inds, neg_label_weights = self._sample_neg(assign_result, num_expected_neg, bboxes=bboxes, **kwargs)
        return SamplingResult(pos_inds, neg_inds, bboxes, gt_bboxes, assign_result, gt_flags), neg_label_weights
