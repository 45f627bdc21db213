"""Positive/negative boxes picked by a sampler, with their ground truths."""
from typing import Any, Dict, Optional

import torch

from ..assigners import AssignResult
from ..demodata import Rng, ensure_rng, random_boxes


class SamplingResult:
    """Sampled boxes of one image.

    Symbols: P sampled positives, Q sampled negatives, G ground truths; indices refer to the
    sampler's candidate list (ground truths first when they were added as proposals).

    Attributes:
        pos_inds (P,), neg_inds (Q,): sorted candidate indices.
        pos_bboxes (P, 4), neg_bboxes (Q, 4): the sampled boxes.
        pos_is_gt (P,) uint8: 1 where the positive is a ground truth added as proposal.
        num_gts: G.
        pos_assigned_gt_inds (P,): 0-based ground-truth index of each positive.
        pos_gt_bboxes (P, 4): the matched ground-truth boxes.
        pos_gt_labels (P,) or None: their labels (None if the assignment had no labels).
    """

    def __init__(self, pos_inds: torch.Tensor, neg_inds: torch.Tensor, bboxes: torch.Tensor,
                 gt_bboxes: torch.Tensor, assign_result: AssignResult,
                 gt_flags: torch.Tensor) -> None:
        self.pos_inds = pos_inds
        self.neg_inds = neg_inds
        self.pos_bboxes = bboxes[pos_inds]
        self.neg_bboxes = bboxes[neg_inds]
        self.pos_is_gt = gt_flags[pos_inds]
        self.num_gts = gt_bboxes.shape[0]
        self.pos_assigned_gt_inds = assign_result.gt_inds[pos_inds] - 1
        if gt_bboxes.numel() == 0:
            if self.pos_assigned_gt_inds.numel() != 0:
                raise ValueError(f'{self.pos_assigned_gt_inds.numel()} positives but no ground '
                                 f'truth (gt_bboxes shape {tuple(gt_bboxes.shape)})')
            self.pos_gt_bboxes = torch.empty_like(gt_bboxes).view(-1, 4)
        else:
            self.pos_gt_bboxes = gt_bboxes.view(-1, gt_bboxes.size(-1))[self.pos_assigned_gt_inds]
        self.pos_gt_labels = (None if assign_result.labels is None else
                              assign_result.labels[pos_inds])

    @classmethod
    def from_parts(cls, pos_inds: torch.Tensor, neg_inds: torch.Tensor, pos_bboxes: torch.Tensor,
                   neg_bboxes: torch.Tensor, pos_is_gt: torch.Tensor, num_gts: int,
                   pos_assigned_gt_inds: torch.Tensor, pos_gt_bboxes: torch.Tensor,
                   pos_gt_labels: Optional[torch.Tensor]) -> 'SamplingResult':
        """A result from attributes already gathered (a batched sampler gathers all images' at once and
        splits them), so that building it indexes nothing."""
        result = cls.__new__(cls)
        result.__dict__.update(pos_inds=pos_inds, neg_inds=neg_inds, pos_bboxes=pos_bboxes, neg_bboxes=neg_bboxes,
                               pos_is_gt=pos_is_gt, num_gts=num_gts, pos_assigned_gt_inds=pos_assigned_gt_inds,
                               pos_gt_bboxes=pos_gt_bboxes, pos_gt_labels=pos_gt_labels)
        return result

    @property
    def bboxes(self) -> torch.Tensor:
        """(P + Q, 4) positives then negatives."""
        return torch.cat([self.pos_bboxes, self.neg_bboxes])

    def to(self, device: torch.device) -> 'SamplingResult':
        """Move every tensor attribute to ``device`` in place; returns self."""
        for key, value in self.__dict__.items():
            if isinstance(value, torch.Tensor):
                self.__dict__[key] = value.to(device)
        return self

    @property
    def info(self) -> Dict[str, Any]:
        """Dictionary of the main attributes."""
        return {
            'pos_inds': self.pos_inds,
            'neg_inds': self.neg_inds,
            'pos_bboxes': self.pos_bboxes,
            'neg_bboxes': self.neg_bboxes,
            'pos_is_gt': self.pos_is_gt,
            'num_gts': self.num_gts,
            'pos_assigned_gt_inds': self.pos_assigned_gt_inds,
        }

    def __repr__(self) -> str:
        parts = [f'{key}.shape={tuple(value.shape)}' if isinstance(value, torch.Tensor)
                 else f'{key}={value!r}' for key, value in self.info.items()]
        return f'<{self.__class__.__name__}({", ".join(parts)})>'

    @classmethod
    def random(cls, rng: Rng = None, num_preds: Optional[int] = None, num_gts: Optional[int] = None,
               p_ignore: float = 0.3, p_assigned: float = 0.7,
               p_use_label: float = 0.5) -> 'SamplingResult':
        """A random sampling result, for tests and debugging (MMDetection 2.28's ``SamplingResult.random``).

        An :meth:`AssignResult.random` assignment (the keyword arguments are its own) of random unit boxes
        to random unit ground truths, sampled by a ``RandomSampler(num=32, pos_fraction=0.5)`` that does not
        add the ground truths as proposals. Box corners come from ``rng``; the sampler draws from torch's
        global generator.
        """
        from .random_sampler import RandomSampler  # the sampler module imports this one
        rng = ensure_rng(rng)
        assign_result = AssignResult.random(num_preds=num_preds, num_gts=num_gts, p_ignore=p_ignore,
                                            p_assigned=p_assigned, p_use_label=p_use_label, rng=rng)
        bboxes = random_boxes(assign_result.num_preds, rng=rng)
        gt_bboxes = random_boxes(assign_result.num_gts, rng=rng)
        sampler = RandomSampler(32, 0.5, neg_pos_ub=-1, add_gt_as_proposals=False)
        return sampler.sample(assign_result, bboxes, gt_bboxes)
