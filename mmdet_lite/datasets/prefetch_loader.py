"""Receive a DataLoader's batches on a background thread, ahead of the training loop.

With loader workers the pipeline runs in other processes, but the main process still unpickles each
batch and maps its tensors from shared memory, ~2.5 ms for a toy batch of 4 images (9 tensors): on
the toy quick start that was 4-5% of every iteration, all counted as ``data_time``. A thread that
takes the batches off the workers' queue while the model computes keeps that off the critical path
(torch's ``pin_memory`` thread does the same, but only with CUDA).

Only for loaders with workers: with ``num_workers=0`` the pipeline itself (random flips included)
would run on the thread and draw from the main process's random generators at unpredictable times.
"""
import queue
import threading
from typing import Iterator

from torch.utils.data import DataLoader

_END = object()


class PrefetchLoader:
    """Iterate ``loader`` on a daemon thread, up to ``depth`` batches ahead. Everything else
    (``len``, ``sampler``, ``batch_sampler``, ``dataset``, ...) is the wrapped loader's."""

    def __init__(self, loader: DataLoader, depth: int = 2) -> None:
        if loader.num_workers == 0:
            raise ValueError('PrefetchLoader needs a DataLoader with workers (num_workers > 0): '
                             'without them the pipeline would run on the prefetch thread')
        self.loader = loader
        self.depth = depth

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
                    if not put(batch):
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
