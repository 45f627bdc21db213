"""Distributed set-up and the model wrapper, for CPU (gloo) and GPU (NCCL).

mmcv 1.7.2's ``init_dist`` picks the device as ``RANK % device_count()`` (a division by zero
without CUDA); this one takes the device from the local rank and falls back to gloo on the CPU.
"""
import os
import subprocess
from datetime import timedelta
from typing import Optional, Union

import torch
import torch.distributed as dist
from mmcv.parallel import MMDataParallel
from mmcv.runner import get_dist_info
from torch import nn

from mmdet_lite.compat.ddp import MMDistributedDataParallel, buffer_sync_kwargs

__all__ = ['init_dist', 'get_dist_info', 'get_device', 'wrap_model', 'MMDistributedDataParallel', 'LauncherError']

_LAUNCHER_ENV = {
    'pytorch': ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'),
    'mpi': ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK',
            'MASTER_ADDR', 'MASTER_PORT'),
    'slurm': ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
}
_LAUNCHER_HINT = {
    'pytorch': 'start it with dist_train.sh or torchrun',
    'mpi': 'start it with mpirun and export MASTER_ADDR/MASTER_PORT',
    'slurm': 'start it with srun',
}


class LauncherError(RuntimeError):
    """The process was told to join a launcher whose environment is not there."""


def _check_env(launcher: str) -> None:
    if launcher not in _LAUNCHER_ENV:
        raise ValueError(f'Invalid launcher type: {launcher} '
                         f'(expected one of {", ".join(_LAUNCHER_ENV)})')
    missing = [name for name in _LAUNCHER_ENV[launcher] if name not in os.environ]
    if missing:
        raise LauncherError(
            f'--launcher {launcher} needs the environment variables '
            f'{", ".join(missing)}, which are not set: {_LAUNCHER_HINT[launcher]}')


def _slurm_env(port) -> None:
    """Export the torch.distributed variables from SLURM's, as MMDetection does."""
    proc_id = int(os.environ['SLURM_PROCID'])
    num_tasks = int(os.environ['SLURM_NTASKS'])
    if 'MASTER_ADDR' not in os.environ:
        hosts = subprocess.check_output(
            ['scontrol', 'show', 'hostnames', os.environ['SLURM_NODELIST']], text=True)
        os.environ['MASTER_ADDR'] = hosts.split()[0]
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = str(num_tasks)
    os.environ['RANK'] = str(proc_id)
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', str(proc_id)))


def init_dist(launcher: str, backend: str = 'nccl', port=None, timeout_s: float = 1800,
              **kwargs) -> str:
    """Join the process group of ``launcher`` (pytorch | mpi | slurm).

    The device comes from the local rank. Without CUDA the backend falls back to gloo.

    Returns:
        str: a one-line description of the choice made, for the log.
    """
    _check_env(launcher)
    if launcher == 'slurm':
        _slurm_env(port)
    elif launcher == 'mpi':
        os.environ['RANK'] = os.environ['OMPI_COMM_WORLD_RANK']
        os.environ['WORLD_SIZE'] = os.environ['OMPI_COMM_WORLD_SIZE']
        os.environ['LOCAL_RANK'] = os.environ['OMPI_COMM_WORLD_LOCAL_RANK']
    rank = int(os.environ['RANK'])
    world_size = int(os.environ['WORLD_SIZE'])
    local_rank = int(os.environ['LOCAL_RANK'])
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        note = f'device cuda:{torch.cuda.current_device()}, backend {backend}'
    else:
        if backend != 'gloo':
            note = f'CUDA is not available: backend gloo instead of {backend}, device cpu'
            backend = 'gloo'
        else:
            note = 'device cpu, backend gloo'
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size,
                            timeout=timedelta(seconds=timeout_s), **kwargs)
    return note


def get_device() -> str:
    """``'cuda'`` when CUDA is available, else ``'cpu'`` (MMDetection 2.28's, without NPU/MLU)."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def check_device(device: Union[str, torch.device]) -> torch.device:
    """``device`` as a ``torch.device``; a CUDA device this machine lacks is refused by name."""
    device = torch.device(device)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError(f"device '{device}': CUDA is not available on this machine "
                               "(use device='cpu')")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"device '{device}': this machine has "
                               f'{torch.cuda.device_count()} CUDA device(s)')
    return device


def wrap_model(model: nn.Module, distributed: bool, gpu_id: Optional[int] = None,
               find_unused_parameters: bool = False) -> nn.Module:
    """Wrap ``model`` for mmcv's ``train_step``/``val_step`` and DataContainer batches.

    Distributed: DDP in this process, on its CUDA device (``init_dist`` chose it) or on the CPU;
    buffers are not synchronised each forward, as in MMDetection (DDP still broadcasts them once
    here, while every rank's model is still the same). Otherwise mmcv's
    ``MMDataParallel`` on GPU ``gpu_id``, or on the CPU when ``gpu_id`` is None.
    """
    if distributed:
        device_ids = [torch.cuda.current_device()] if torch.cuda.is_available() else None
        if device_ids is not None:
            model = model.cuda()
        return MMDistributedDataParallel(model, device_ids=device_ids,
                                         find_unused_parameters=find_unused_parameters,
                                         **buffer_sync_kwargs(False))
    if gpu_id is None:
        return MMDataParallel(model)
    return MMDataParallel(model.cuda(gpu_id), device_ids=[gpu_id])
