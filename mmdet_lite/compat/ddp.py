"""mmcv's ``MMDistributedDataParallel`` on current PyTorch, and DDP's renamed buffer switch.

mmcv 1.7.2's ``MMDistributedDataParallel`` runs ``train_step``/``val_step`` by re-enacting DDP's
forward with DDP's private internals (``_check_sync_bufs_pre_fwd``, ``_sync_params``,
``reducer.prepare_for_backward``); current torch has no ``_sync_params``, so every distributed step
fails. This one routes
the steps through ``DistributedDataParallel.forward`` and uses only public API.

torch 2.13 deprecated DDP's ``broadcast_buffers`` in favour of ``forward_sync_buffers``;
:func:`buffer_sync_kwargs` spells the switch the way the installed torch expects.
"""
import inspect

from mmcv.parallel import scatter_kwargs
from torch.nn.parallel import DistributedDataParallel

_BUFFER_SYNC_ARG = ('forward_sync_buffers'
                    if 'forward_sync_buffers' in inspect.signature(DistributedDataParallel.__init__).parameters
                    else 'broadcast_buffers')


def buffer_sync_kwargs(enabled: bool) -> dict:
    """DDP's keyword for synchronising buffers before each forward, under this torch's name."""
    return {_BUFFER_SYNC_ARG: enabled}


class MMDistributedDataParallel(DistributedDataParallel):
    """torch's DDP with mmcv's ``train_step``/``val_step`` interface and DataContainer inputs.

    ``train_step`` and ``val_step`` run through ``DistributedDataParallel.forward``, so DDP's
    gradient hooks and unused-parameter search see them exactly as a plain forward.
    """

    def _target_devices(self) -> list:
        return list(self.device_ids) if self.device_ids else [-1]

    def _scatter(self, inputs, kwargs):
        inputs, kwargs = scatter_kwargs(inputs, kwargs, self._target_devices(), dim=self.dim)
        return inputs[0], kwargs[0]

    def forward(self, *inputs, **kwargs):
        inputs, kwargs = self._scatter(inputs, kwargs)
        return super().forward(*inputs, **kwargs)

    def _run_module_method(self, name: str, inputs, kwargs):
        """Call ``module.<name>`` through DDP's forward (DDP calls ``module.forward``)."""
        module = self.module
        method = getattr(module, name)

        def dispatch(*args, **kw):
            # The step calls ``self(...)`` itself: the real forward must be back first.
            del module.forward
            return method(*args, **kw)

        inputs, kwargs = self._scatter(inputs, kwargs)
        module.forward = dispatch
        try:
            return super().forward(*inputs, **kwargs)
        finally:
            module.__dict__.pop('forward', None)

    def train_step(self, *inputs, **kwargs):
        return self._run_module_method('train_step', inputs, kwargs)

    def val_step(self, *inputs, **kwargs):
        return self._run_module_method('val_step', inputs, kwargs)
