"""Two-stage detector (MMDetection 2.x ``TwoStageDetector``): backbone -> neck -> RPN -> RoI head."""
import warnings
from typing import List, Optional

import torch

from ..builder import DETECTORS, build_backbone, build_head, build_neck
from .base import BaseDetector


@DETECTORS.register_module()
class TwoStageDetector(BaseDetector):
    """The RPN gets ``train_cfg.rpn``/``test_cfg.rpn``, the RoI head ``train_cfg.rcnn``/``test_cfg.rcnn``;
    training proposals use ``train_cfg.rpn_proposal`` (falling back to ``test_cfg.rpn``).

    ``channels_last`` (not in MMDetection): backbone and neck weights use the channels_last (NHWC) memory
    format and ``extract_feat`` converts each input batch once. Same values, different layout. The default
    (None) turns it on where the benchmark measured it faster: on machines without CUDA (CPU training,
    1.11-1.14x), not where CUDA is available (no faster on an H200); True or False force it. State dicts are
    layout-free: checkpoints load either way.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 rpn_head: Optional[dict] = None,
                 roi_head: Optional[dict] = None,
                 train_cfg=None,
                 test_cfg=None,
                 pretrained: Optional[str] = None,
                 init_cfg=None,
                 channels_last: Optional[bool] = None) -> None:
        super().__init__(init_cfg)
        if pretrained:
            warnings.warn('DeprecationWarning: pretrained is deprecated, please use "init_cfg" instead')
            backbone['pretrained'] = pretrained
        self.backbone = build_backbone(backbone)
        if neck is not None:
            self.neck = build_neck(neck)
        if rpn_head is not None:
            rpn_train_cfg = train_cfg['rpn'] if train_cfg is not None else None
            rpn_head_ = dict(rpn_head)
            rpn_head_.update(train_cfg=rpn_train_cfg, test_cfg=test_cfg['rpn'] if test_cfg is not None else None)
            self.rpn_head = build_head(rpn_head_)
        if roi_head is not None:
            rcnn_train_cfg = train_cfg['rcnn'] if train_cfg is not None else None
            roi_head_ = dict(roi_head)
            roi_head_.update(train_cfg=rcnn_train_cfg, test_cfg=test_cfg['rcnn'] if test_cfg is not None else None)
            if pretrained is not None:
                roi_head_['pretrained'] = pretrained
            self.roi_head = build_head(roi_head_)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.channels_last = not torch.cuda.is_available() if channels_last is None else channels_last
        self._set_memory_format(torch.channels_last if self.channels_last else torch.contiguous_format)

    def _set_memory_format(self, memory_format: torch.memory_format) -> None:
        self.backbone.to(memory_format=memory_format)
        if self.with_neck:
            self.neck.to(memory_format=memory_format)

    def init_weights(self) -> None:
        """Initialise in NCHW, then restore the layout: random init fills a tensor in memory order, so
        the same seed gives the same weights with channels_last on or off."""
        self._set_memory_format(torch.contiguous_format)
        super().init_weights()
        if self.channels_last:
            self._set_memory_format(torch.channels_last)

    @property
    def with_rpn(self) -> bool:
        return hasattr(self, 'rpn_head') and self.rpn_head is not None

    @property
    def with_roi_head(self) -> bool:
        return hasattr(self, 'roi_head') and self.roi_head is not None

    def extract_feat(self, img: torch.Tensor):
        """img (N, 3, H, W) -> L maps (N, C, Hl, Wl)."""
        if img.dim() != 4:
            # an unbatched (3, H, W) image would fail in the channels_last conversion below with
            # torch's "required rank 4 tensor to use channels_last format"
            raise ValueError(f'img must be an (N, 3, H, W) batch, got shape {tuple(img.shape)}: '
                             'batch images with mmcv.parallel.collate, as inference_detector '
                             'and the data loaders do')
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        x = self.backbone(img)
        if self.with_neck:
            x = self.neck(x)
        return x

    def forward_dummy(self, img: torch.Tensor) -> tuple:
        """Raw head outputs for FLOPs counting (1000 random proposals)."""
        outs = ()
        x = self.extract_feat(img)
        if self.with_rpn:
            outs = outs + (self.rpn_head(x), )
        proposals = torch.randn(1000, 4).to(img.device)
        return outs + (self.roi_head.forward_dummy(x, proposals), )

    def forward_train(self,
                      img: torch.Tensor,
                      img_metas: List[dict],
                      gt_bboxes: List[torch.Tensor],
                      gt_labels: List[torch.Tensor],
                      gt_bboxes_ignore: Optional[List[torch.Tensor]] = None,
                      gt_masks=None,
                      proposals: Optional[List[torch.Tensor]] = None) -> dict:
        """Losses ``loss_rpn_cls``, ``loss_rpn_bbox`` (per-level lists), ``loss_cls``, ``acc``, ``loss_bbox``.

        Args:
            img: (N, 3, H, W) padded batch.
            img_metas: N dicts with ``img_shape``, ``pad_shape``, ``scale_factor`` ...
            gt_bboxes: N tensors (Gi, 4) x1y1x2y2 in ``img`` pixels; gt_labels: N tensors (Gi,) in [0, K).
        """
        if img.dim() != 4:
            raise ValueError(f'img must be (N, C, H, W), got shape {tuple(img.shape)}')
        if not (len(img_metas) == len(gt_bboxes) == len(gt_labels) == img.size(0)):
            raise ValueError(f'batch of {img.size(0)} images but {len(img_metas)} img_metas, {len(gt_bboxes)} '
                             f'gt_bboxes and {len(gt_labels)} gt_labels')
        super().forward_train(img, img_metas)
        x = self.extract_feat(img)
        losses = dict()
        if self.with_rpn:
            proposal_cfg = self.train_cfg.get('rpn_proposal', self.test_cfg['rpn'])
            rpn_losses, proposal_list = self.rpn_head.forward_train(x, img_metas, gt_bboxes, gt_labels=None,
                                                                    gt_bboxes_ignore=gt_bboxes_ignore,
                                                                    proposal_cfg=proposal_cfg)
            losses.update(rpn_losses)
        else:
            proposal_list = proposals
        roi_losses = self.roi_head.forward_train(x, img_metas, proposal_list, gt_bboxes, gt_labels,
                                                 gt_bboxes_ignore, gt_masks)
        losses.update(roi_losses)
        return losses

    def simple_test(self, img: torch.Tensor, img_metas: List[dict], proposals=None, rescale: bool = False):
        """Per image a list of K float32 arrays (n, 5); ``rescale`` maps boxes to original-image pixels."""
        if not self.with_bbox:
            raise ValueError('bbox head must be implemented')
        x = self.extract_feat(img)
        proposal_list = self.rpn_head.simple_test_rpn(x, img_metas) if proposals is None else proposals
        return self.roi_head.simple_test(x, proposal_list, img_metas, rescale=rescale)

    def aug_test(self, imgs: List[torch.Tensor], img_metas: List[List[dict]], rescale: bool = False):
        """Test with augmentations; ``imgs[0]`` is the unaugmented batch of one image."""
        x = self.extract_feats(imgs)
        proposal_list = self.rpn_head.aug_test_rpn(x, img_metas)
        return self.roi_head.aug_test(x, proposal_list, img_metas, rescale=rescale)
