"""Receive a DataLoader's batches on a background thread, ahead of the training loop.

With loader workers the pipeline runs in other processes, but the main process still unpickles each
batch and maps its tensors from shared memory, ~2.5 ms for a toy batch of 4 images (9 tensors): on
the toy quick start that was 4-5% of every iteration, all counted as ``data_time``. A thread that
takes the batches off the workers' queue while the model computes keeps that off the critical path
(torch's ``pin_memory`` thread does the same, but only with CUDA).

Only for loaders with workers: with ``num_workers=0`` the pipeline itself (random flips included)
would run on the thread and draw from the main process's random generators at unpredictable times.

With ``pin_images`` the thread also copies each batch's images into page-locked memory, so that
mmcv's scatter (``cuda(non_blocking=True)`` on a copy stream) transfers them while the host goes
on; torch's own ``pin_memory`` does not reach into mmcv's DataContainers.
"""
import queue
import threading
from typing import Callable, Iterator

import torch
from mmcv.parallel import DataContainer
from torch.utils.data import DataLoader

_END = object()


def pin_batch_images(batch: dict, pin: Callable[[torch.Tensor], torch.Tensor] = torch.Tensor.pin_memory
                     ) -> dict:
    """``batch`` with the tensors of its ``img`` (a collated DataContainer, or a tensor) passed
    through ``pin`` (page-locked copies; ``pin_memory`` needs CUDA); other entries as they are."""
    img = batch.get('img') if isinstance(batch, dict) else None
    if isinstance(img, torch.Tensor):
        return {**batch, 'img': pin(img)}
    if not isinstance(img, DataContainer) or img.cpu_only:
        return batch
    data = [pin(tensor) for tensor in img.data] if isinstance(img.data, list) else pin(img.data)
    return {**batch, 'img': DataContainer(data, stack=img.stack, padding_value=img.padding_value,
                                          cpu_only=img.cpu_only, pad_dims=img.pad_dims)}


class PrefetchLoader:
    """Iterate ``loader`` on a daemon thread, up to ``depth`` batches ahead, with ``pin_images``
    pinning each batch's images (``pin_batch_images``; CUDA only). Everything else (``len``,
    ``sampler``, ``batch_sampler``, ``dataset``, ...) is the wrapped loader's."""

    def __init__(self, loader: DataLoader, depth: int = 2, pin_images: bool = False) -> None:
        if loader.num_workers == 0:
            raise ValueError('PrefetchLoader needs a DataLoader with workers (num_workers > 0): '
                             'without them the pipeline would run on the prefetch thread')
        self.loader = loader
        self.depth = depth
        self.pin_images = pin_images

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str):
        if name == 'loader':  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator:
        # the sampler order and the workers' seeds are drawn here, on the caller's thread, as without prefetching
        batches = iter(self.loader)
        ready: queue.Queue = queue.Queue(self.depth)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def receive() -> None:
            try:
                for batch in batches:
                    if not put(pin_batch_images(batch) if self.pin_images else batch):
                        return
                put(_END)
            except BaseException as error:  # a worker's exception reaches the training loop
                put(error)

        thread = threading.Thread(target=receive, name='PrefetchLoader', daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
