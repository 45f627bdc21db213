"""Small helpers shared by heads: apply a function over images/levels, scatter back into a full tensor."""
from functools import partial
from typing import Any, Callable, Tuple

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
    # uint8 masks (older mmdet callers) are treated as bool masks, as MMDetection does.
    index = inds.bool() if inds.dtype in (torch.bool, torch.uint8) else inds.long()
    ret = data.new_full((count, ) + tuple(data.shape[1:]), fill)
    ret[index] = data
    return ret
