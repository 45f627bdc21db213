"""Seeding: one place for the seeds of a run, of its epochs and iterations, and of each sample.

``init_random_seed`` and ``set_random_seed`` are MMDetection 2.x's (``mmdet.apis`` re-exports
them); ``derived_seed`` turns a run's seed and a position (epoch, iteration, rank, sample) into the
seed of that position, so what happens there does not depend on what ran before it.
"""
import random
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
from mmcv.runner import get_dist_info


def init_random_seed(seed: Optional[int] = None, device: str = 'cpu') -> int:
    """``seed`` if given, else a random seed drawn on rank 0 and shared with every rank."""
    return int(seed) if seed is not None else sync_random_seed(None, device)


def sync_random_seed(seed: Optional[int] = None, device: str = 'cpu') -> int:
    """Rank 0's ``seed`` (drawn when None) on every rank: what the shuffling samplers use, so that
    ranks seeded differently (``--diff-seed``) still split one order of the dataset between them."""
    if seed is None:
        seed = int(np.random.randint(2**31))
    rank, world_size = get_dist_info()
    if world_size == 1:
        return int(seed)
    shared = torch.tensor(seed if rank == 0 else 0, dtype=torch.int64, device=device)
    dist.broadcast(shared, src=0)
    return int(shared.item())


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch (CPU and every GPU) with ``seed``;
    ``deterministic`` also makes cuDNN pick deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # every CUDA device too
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def derived_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed drawn from ``(seed, *keys)``; distinct for distinct key tuples."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])
