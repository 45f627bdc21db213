"""MMDetection 1.x anchors (``LegacyAnchorGenerator``), kept to run 1.x-trained models."""
from typing import Optional, Tuple, Union

import torch

from .anchor_generator import AnchorGenerator
from .builder import PRIOR_GENERATORS


@PRIOR_GENERATORS.register_module()
class LegacyAnchorGenerator(AnchorGenerator):
    """The anchor generator of MMDetection 1.x.

    It differs from :class:`AnchorGenerator` in the 1.x pixel convention (a box of side ``s``
    spans ``s - 1``): the centre is ``center_offset * (base_size - 1)`` (1.x configs use
    ``center_offset=0.5``), corners are ``centre -+ 0.5 * (side - 1)``, and corners are rounded.
    Tiling, valid flags and the constructor are the 2.x ones.
    """

    def gen_single_level_base_anchors(self,
                                      base_size: Union[int, float],
                                      scales: torch.Tensor,
                                      ratios: torch.Tensor,
                                      center: Optional[Tuple[float, float]] = None) -> torch.Tensor:
        """Base anchors of one level, (K * S, 4) with rounded corners (see the class docstring)."""
        width = height = base_size
        if center is None:
            x_center = self.center_offset * (width - 1)
            y_center = self.center_offset * (height - 1)
        else:
            x_center, y_center = center
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        if self.scale_major:
            ws = (width * w_ratios[:, None] * scales[None, :]).reshape(-1)
            hs = (height * h_ratios[:, None] * scales[None, :]).reshape(-1)
        else:
            ws = (width * scales[:, None] * w_ratios[None, :]).reshape(-1)
            hs = (height * scales[:, None] * h_ratios[None, :]).reshape(-1)
        return torch.stack([x_center - 0.5 * (ws - 1), y_center - 0.5 * (hs - 1),
                            x_center + 0.5 * (ws - 1), y_center + 0.5 * (hs - 1)], dim=-1).round()
