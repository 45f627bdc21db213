"""Region Proposal Network as a detector (MMDetection 2.x ``RPN``): backbone -> neck -> RPN head."""
import warnings
from typing import List, Optional

import mmcv
import numpy as np
import torch

from ...core.bbox import bbox_mapping
from ..builder import DETECTORS, build_backbone, build_head, build_neck
from .base import BaseDetector


@DETECTORS.register_module()
class RPN(BaseDetector):
    """`RPN <https://arxiv.org/abs/1506.01497>`_ trained and tested on its own: class-agnostic
    proposals, evaluated by recall (``metric='proposal_fast'`` or ``'proposal'``).

    The head gets ``train_cfg.rpn`` / ``test_cfg.rpn``. Results: per image one float32 array (k, 5)
    = x1, y1, x2, y2, objectness, sorted by score.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict],
                 rpn_head: dict,
                 train_cfg,
                 test_cfg,
                 pretrained: Optional[str] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if pretrained:
            warnings.warn('DeprecationWarning: pretrained is deprecated, please use "init_cfg" instead')
            backbone['pretrained'] = pretrained
        self.backbone = build_backbone(backbone)
        self.neck = build_neck(neck) if neck is not None else None
        rpn_head_ = dict(rpn_head)
        rpn_head_.update(train_cfg=train_cfg['rpn'] if train_cfg is not None else None,
                         test_cfg=test_cfg['rpn'])
        self.rpn_head = build_head(rpn_head_)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, img: torch.Tensor):
        """img (N, 3, H, W) -> L maps (N, C, Hl, Wl)."""
        if img.dim() != 4:
            raise ValueError(f'img must be an (N, 3, H, W) batch, got shape {tuple(img.shape)}')
        x = self.backbone(img)
        if self.with_neck:
            x = self.neck(x)
        return x

    def forward_dummy(self, img: torch.Tensor) -> tuple:
        """Raw RPN outputs (scores, deltas per level) for FLOPs counting."""
        return self.rpn_head(self.extract_feat(img))

    def forward_train(self,
                      img: torch.Tensor,
                      img_metas: List[dict],
                      gt_bboxes: List[torch.Tensor],
                      gt_bboxes_ignore: Optional[List[torch.Tensor]] = None) -> dict:
        """Losses ``loss_rpn_cls`` and ``loss_rpn_bbox`` (per-level lists).

        Args:
            img: (N, 3, H, W) padded batch.
            img_metas: N dicts with ``img_shape``, ``pad_shape``, ``scale_factor`` ...
            gt_bboxes: N tensors (Gi, 4) x1y1x2y2 in ``img`` pixels (no labels: proposals are class-agnostic).
            gt_bboxes_ignore: N tensors (Ii, 4) or None.
        """
        if img.dim() != 4:
            raise ValueError(f'img must be (N, C, H, W), got shape {tuple(img.shape)}')
        if not (len(img_metas) == len(gt_bboxes) == img.size(0)):
            raise ValueError(f'batch of {img.size(0)} images but {len(img_metas)} img_metas and '
                             f'{len(gt_bboxes)} gt_bboxes')
        super().forward_train(img, img_metas)
        x = self.extract_feat(img)
        return self.rpn_head.forward_train(x, img_metas, gt_bboxes, gt_labels=None,
                                           gt_bboxes_ignore=gt_bboxes_ignore)

    def simple_test(self, img: torch.Tensor, img_metas: List[dict], rescale: bool = False) -> List[np.ndarray]:
        """Per image one float32 array (k, 5); ``rescale`` maps boxes to original-image pixels."""
        x = self.extract_feat(img)
        proposal_list = self.rpn_head.simple_test_rpn(x, img_metas)
        if rescale:
            for proposals, img_meta in zip(proposal_list, img_metas):
                proposals[:, :4] /= proposals.new_tensor(img_meta['scale_factor'])
        return [proposals.cpu().numpy() for proposals in proposal_list]

    def aug_test(self, imgs: List[torch.Tensor], img_metas: List[List[dict]],
                 rescale: bool = False) -> List[np.ndarray]:
        """Proposals merged over augmentations (in original-image pixels); without ``rescale`` mapped
        into the first augmentation's image."""
        proposal_list = self.rpn_head.aug_test_rpn(self.extract_feats(imgs), img_metas)
        if not rescale:
            for proposals, img_meta in zip(proposal_list, img_metas[0]):
                proposals[:, :4] = bbox_mapping(proposals[:, :4], img_meta['img_shape'], img_meta['scale_factor'],
                                                img_meta['flip'], img_meta.get('flip_direction', 'horizontal'))
        return [proposals.cpu().numpy() for proposals in proposal_list]

    def show_result(self, data, result: np.ndarray, top_k: int = 20, bbox_color='green', thickness: int = 1,
                    show: bool = True, win_name: str = '', wait_time: int = 0, out_file: Optional[str] = None,
                    score_thr=None, text_color=None, mask_color=None) -> Optional[np.ndarray]:
        """Draw the ``top_k`` best proposals of ``result`` (k, 5) on ``data`` (a file or a BGR array).

        ``score_thr``, ``text_color`` and ``mask_color``, which callers pass to every detector, are
        ignored: proposals have no class. A palette name or list for ``bbox_color`` draws green.
        """
        if isinstance(bbox_color, list) or (isinstance(bbox_color, str) and bbox_color not in mmcv.Color.__members__):
            bbox_color = 'green'
        return mmcv.imshow_bboxes(data, result, colors=bbox_color, top_k=top_k, thickness=thickness,
                                  show=show, win_name=win_name, wait_time=wait_time, out_file=out_file)
