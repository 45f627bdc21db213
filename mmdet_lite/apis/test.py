"""Inference over a data loader: ``single_gpu_test`` and ``multi_gpu_test``.

Both expect a model wrapper whose ``forward(**data)`` scatters DataContainers
(``MMDataParallel`` with or without device ids, or the DDP wrapper) and a detector that
answers ``model(return_loss=False, rescale=True, **data)`` with one result per image
(a list of per-class (n, 5) float32 arrays).

mmcv 1.7.2's ``collect_results_cpu/gpu`` build CUDA tensors; the collection below works
with any backend (gloo on CPU included).
"""
import os.path as osp
import pickle
import shutil
import tempfile
from typing import Any, List, Optional

import mmcv
import numpy as np
import torch
import torch.distributed as dist
from mmcv.image import tensor2imgs
from mmcv.runner import get_dist_info


def _batch_images(data: dict) -> List[np.ndarray]:
    """De-normalised HWC images of the first augmentation of a test batch."""
    img = data['img'][0]
    img_tensor = img if isinstance(img, torch.Tensor) else img.data[0]
    img_metas = data['img_metas'][0].data[0]
    return tensor2imgs(img_tensor, **img_metas[0]['img_norm_cfg'])


def _show_result(module, img: np.ndarray, result: list, show: bool, out_file: Optional[str],
                 score_thr: float, palette) -> None:
    """Draw one image's detections with the detector's ``show_result``, boxes and labels in the
    dataset's class colours."""
    if not hasattr(module, 'show_result'):
        raise TypeError(f'{type(module).__name__} has no show_result: --show and --show-dir draw '
                        'through the detector\'s show_result (BaseDetector provides it)')
    module.show_result(img, result, bbox_color=palette, text_color=palette, mask_color=palette,
                       show=show, out_file=out_file, score_thr=score_thr)


def single_gpu_test(model, data_loader, show: bool = False, out_dir: Optional[str] = None,
                    show_score_thr: float = 0.3) -> list:
    """Run ``model`` in eval mode over ``data_loader``; results in loader order.

    Args:
        model: the wrapped detector (``MMDataParallel``).
        data_loader: a sequential loader (no shuffling) over the test dataset.
        show / out_dir: display the detections / write drawn images to
            ``out_dir/<ori_filename>``, drawn by the detector's ``show_result`` in the
            dataset's ``PALETTE`` colours.
        show_score_thr: minimum score of a drawn box.

    Returns:
        list with one result per image.
    """
    model.eval()
    results = []
    dataset = data_loader.dataset
    palette = getattr(dataset, 'PALETTE', None)
    prog_bar = mmcv.ProgressBar(len(dataset))
    for data in data_loader:
        with torch.no_grad():
            result = model(return_loss=False, rescale=True, **data)
        batch_size = len(result)
        if show or out_dir:
            img_metas = data['img_metas'][0].data[0]
            for i, (img, img_meta) in enumerate(zip(_batch_images(data), img_metas)):
                h, w, _ = img_meta['img_shape']
                ori_h, ori_w = img_meta['ori_shape'][:-1]
                img_show = mmcv.imresize(img[:h, :w, :], (ori_w, ori_h))
                out_file = osp.join(out_dir, img_meta['ori_filename']) if out_dir else None
                _show_result(getattr(model, 'module', model), img_show, result[i], show,
                             out_file, show_score_thr, palette)
        results.extend(result)
        for _ in range(batch_size):
            prog_bar.update()
    return results


def multi_gpu_test(model, data_loader, tmpdir: Optional[str] = None,
                   gpu_collect: bool = False) -> Optional[list]:
    """Distributed inference; every rank runs its share of a ``DistributedSampler``.

    Args:
        model: the DDP-wrapped detector.
        data_loader: loader with a non-shuffling ``DistributedSampler`` (rank r gets
            indices r, r + world_size, ...; padded by repetition to equal length).
        tmpdir: directory for the per-rank result files (created by rank 0 when None).
        gpu_collect: gather in memory through ``all_gather_object`` instead of files.

    Returns:
        on rank 0, the results of the whole dataset in dataset order, padding removed;
        None on the other ranks.
    """
    model.eval()
    results = []
    dataset = data_loader.dataset
    rank, world_size = get_dist_info()
    prog_bar = mmcv.ProgressBar(len(dataset)) if rank == 0 else None
    for data in data_loader:
        with torch.no_grad():
            result = model(return_loss=False, rescale=True, **data)
        results.extend(result)
        if prog_bar is not None:
            for _ in range(len(result) * world_size):
                prog_bar.update()
    if gpu_collect:
        return collect_results_gpu(results, len(dataset))
    return collect_results_cpu(results, len(dataset), tmpdir)


def _interleave(part_list: List[list], size: int) -> list:
    """Undo the ``DistributedSampler`` split (rank r holds items r, r + W, ...) and its padding."""
    ordered_results = []
    for res in zip(*part_list):
        ordered_results.extend(list(res))
    return ordered_results[:size]


def collect_results_cpu(result_part: list, size: int, tmpdir: Optional[str] = None
                        ) -> Optional[list]:
    """Gather per-rank results through pickle files in a shared ``tmpdir``.

    Rank 0 creates a temporary directory when ``tmpdir`` is None and broadcasts its path.
    Returns the ordered results on rank 0 (then deletes ``tmpdir``), None elsewhere.
    """
    rank, world_size = get_dist_info()
    if tmpdir is None:
        path = [tempfile.mkdtemp() if rank == 0 else None]
        dist.broadcast_object_list(path, src=0)
        tmpdir = path[0]
    else:
        mmcv.mkdir_or_exist(tmpdir)
    with open(osp.join(tmpdir, f'part_{rank}.pkl'), 'wb') as f:
        pickle.dump(result_part, f, protocol=pickle.HIGHEST_PROTOCOL)
    dist.barrier()
    ordered = None
    if rank == 0:
        part_list = []
        for i in range(world_size):
            with open(osp.join(tmpdir, f'part_{i}.pkl'), 'rb') as f:
                part_list.append(pickle.load(f))
        ordered = _interleave(part_list, size)
        shutil.rmtree(tmpdir)
    # Nobody may write into tmpdir again (next evaluation) before rank 0 has removed it.
    dist.barrier()
    return ordered


def collect_results_gpu(result_part: list, size: int) -> Optional[list]:
    """Gather per-rank results in memory (``all_gather_object``; any backend)."""
    rank, world_size = get_dist_info()
    part_list: List[Any] = [None] * world_size
    dist.all_gather_object(part_list, result_part)
    return _interleave(part_list, size) if rank == 0 else None
