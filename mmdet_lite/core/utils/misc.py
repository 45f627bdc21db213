"""Small helpers shared by heads: apply a function over images/levels, scatter back into a full tensor,
select one image of multi-level outputs, keep the top-scoring (box, class) pairs, copy host-built
indices to the device without waiting for it."""
from functools import partial
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch


def multi_apply(func: Callable, *args: Any, **kwargs: Any) -> Tuple[list, ...]:
    """Apply ``func`` to each tuple of items in ``args`` (zipped) and regroup the results.

    ``func`` must return a tuple; the result is a tuple of lists, one list per returned
    element, e.g. ``multi_apply(f, [a1, a2], [b1, b2]) == ([f(a1,b1)[0], f(a2,b2)[0]], ...)``.
    Keyword arguments are passed unchanged to every call.
    """
    pfunc = partial(func, **kwargs) if kwargs else func
    map_results = map(pfunc, *args)
    return tuple(map(list, zip(*map_results)))


def unmap(data: torch.Tensor, count: int, inds: torch.Tensor, fill: float = 0) -> torch.Tensor:
    """Scatter ``data`` back into a tensor of ``count`` rows (inverse of ``full[inds]``).

    Args:
        data: (K,) or (K, C) values for the selected rows.
        count: total number of rows N of the output.
        inds: (N,) bool mask with K true entries, or (K,) long indices.
        fill: value of the rows not selected.

    Returns:
        (N,) or (N, C) tensor with ``out[inds] = data`` and ``fill`` elsewhere.
    """
    ret = data.new_full((count, ) + tuple(data.shape[1:]), fill)
    if inds.dtype in (torch.bool, torch.uint8):  # uint8 masks (older mmdet callers) count as bool, as in MMDetection
        # masked_scatter_ fills the selected rows in order without nonzero(), a host-device sync on a GPU
        mask = inds.bool().view((count, ) + (1, ) * (data.dim() - 1)).expand_as(ret)
        return ret.masked_scatter_(mask, data)
    ret[inds.long()] = data
    return ret


def select_single_mlvl(mlvl_tensors: Sequence[torch.Tensor], batch_id: int,
                       detach: bool = True) -> List[torch.Tensor]:
    """Image ``batch_id`` of each level: L tensors (N, ...) -> L tensors (...), detached by default."""
    if not isinstance(mlvl_tensors, (list, tuple)):
        raise TypeError(f'mlvl_tensors must be a list or tuple of per-level tensors, got {type(mlvl_tensors)}')
    if detach:
        return [level[batch_id].detach() for level in mlvl_tensors]
    return [level[batch_id] for level in mlvl_tensors]


Results = Union[dict, list, torch.Tensor]


def filter_scores_and_topk(scores: torch.Tensor, score_thr: float, topk: int, results: Optional[Results] = None
                           ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Optional[Results]]:
    """Keep the (box, class) pairs scoring above ``score_thr``, at most the ``topk`` best.

    Args:
        scores: (B, K) scores of B boxes for K classes.
        score_thr: pairs with score <= this are dropped.
        topk: largest number of pairs kept.
        results: a (B, ...) tensor, or a list or dict of them, filtered like the boxes.

    Returns:
        scores (k,) descending, labels (k,) class of each pair, keep_idxs (k,) box of each pair, and
        ``results`` indexed by ``keep_idxs`` (None without ``results``); k = min(topk, pairs above thr).
    """
    valid_mask = scores > score_thr
    valid_idxs = torch.nonzero(valid_mask)  # (V, 2) = (box, class)
    num_topk = min(topk, valid_idxs.size(0))
    sorted_scores, order = scores[valid_mask].sort(descending=True, stable=True)
    keep_idxs, labels = valid_idxs[order[:num_topk]].unbind(dim=1)
    if results is None:
        filtered_results = None
    elif isinstance(results, dict):
        filtered_results = {key: value[keep_idxs] for key, value in results.items()}
    elif isinstance(results, list):
        filtered_results = [value[keep_idxs] for value in results]
    elif isinstance(results, torch.Tensor):
        filtered_results = results[keep_idxs]
    else:
        raise TypeError(f'results must be a dict, list or Tensor, got {type(results)}')
    return sorted_scores[:num_topk], labels, keep_idxs, filtered_results


def host_index(values: Union[np.ndarray, Sequence], device: Union[str, torch.device]) -> torch.Tensor:
    """A host-built integer (or bool) array as an int64 tensor on ``device``.

    The copy does not wait for the device (``non_blocking``): the values are already on the host, so no
    queued kernel has to finish first, whereas a blocking host-to-device copy synchronises the stream.
    """
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.int64)).to(device, non_blocking=True)
