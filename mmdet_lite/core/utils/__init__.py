from .misc import filter_scores_and_topk, host_index, multi_apply, select_single_mlvl, unmap

__all__ = ['multi_apply', 'unmap', 'select_single_mlvl', 'filter_scores_and_topk', 'host_index']
