"""``AmpOptimizerHook``: MMDetection 2.x's ``fp16 = dict(loss_scale=...)`` on native torch AMP, CPU or CUDA.

mmcv's ``Fp16OptimizerHook`` is CUDA-only. This hook keeps its config form and checkpoint layout:

* ``loss_scale``: a number -> ``GradScaler(init_scale=x)`` reset to x after every step (static);
  ``'dynamic'`` -> ``GradScaler()`` defaults; a dict -> ``GradScaler(**dict)``; default 512.
* ``dtype``: the autocast dtype; default float16 on CUDA, bfloat16 on the CPU. A loss scaler is used with
  float16 only: bfloat16 has float32's exponent range, so its gradients do not underflow.
* The scaler state goes into ``runner.meta['fp16']['loss_scaler']`` before every checkpoint is written
  (reading the scale waits for the device, so not at every step) and is restored from there in
  ``before_run`` (after ``--resume-from`` replaced ``runner.meta``).
* The clipped gradients' ``grad_norm`` is logged as a device tensor (read once per logging interval).
"""
from typing import Optional, Union

import torch
from mmcv.runner import HOOKS, OptimizerHook

from .autocast import autocast_dtype, enable_autocast


@HOOKS.register_module()
class AmpOptimizerHook(OptimizerHook):
    """Backward and optimizer step of a model whose forward runs under autocast.

    Args:
        grad_clip: ``clip_grad_norm_`` arguments, applied to unscaled gradients; None for no clipping.
        loss_scale: float (static), ``'dynamic'`` or a dict of ``GradScaler`` arguments.
        dtype: ``'float16'`` / ``'bfloat16'`` (or a torch dtype); None picks per device (see module doc).
        distributed: accepted for mmcv's signature; DDP already averages gradients in backward.
    """

    def __init__(self,
                 grad_clip: Optional[dict] = None,
                 loss_scale: Union[float, str, dict] = 512.,
                 dtype: Union[str, torch.dtype, None] = None,
                 distributed: bool = True) -> None:
        super().__init__(grad_clip=grad_clip)
        if not (isinstance(loss_scale, (int, float, dict)) or loss_scale == 'dynamic'):
            raise ValueError(f"loss_scale must be a number, 'dynamic' or a dict of GradScaler arguments, "
                             f'got {loss_scale!r}')
        self.loss_scale = loss_scale
        self.dtype = dtype
        self.distributed = distributed
        self.loss_scaler: Optional[torch.amp.GradScaler] = None

    def _build_scaler(self, device_type: str) -> torch.amp.GradScaler:
        if isinstance(self.loss_scale, dict):
            return torch.amp.GradScaler(device_type, **self.loss_scale)
        if self.loss_scale == 'dynamic':
            return torch.amp.GradScaler(device_type)
        return torch.amp.GradScaler(device_type, init_scale=float(self.loss_scale))

    def before_run(self, runner) -> None:
        device_type = next(runner.model.parameters()).device.type
        dtype = autocast_dtype(device_type, self.dtype)
        enable_autocast(runner.model, dtype)
        if dtype == torch.float16:
            self.loss_scaler = self._build_scaler(device_type)
        if runner.meta is None:  # a runner built without meta: the scaler state still needs a home
            runner.meta = {}
        saved_state = runner.meta.get('fp16', {}).get('loss_scaler')
        if self.loss_scaler is not None and saved_state is not None:
            self.loss_scaler.load_state_dict(saved_state)
        scaler_note = (f'loss scale {self.loss_scaler.get_scale()}' if self.loss_scaler is not None
                       else 'no loss scaler')
        runner.logger.info(f'AMP: autocast {str(dtype).replace("torch.", "")} on {device_type}, {scaler_note}')

    def after_train_iter(self, runner) -> None:
        runner.model.zero_grad()
        runner.optimizer.zero_grad()
        loss = runner.outputs['loss']
        if self.loss_scaler is None:
            loss.backward()
            self._clip(runner)
            runner.optimizer.step()
            return
        self.loss_scaler.scale(loss).backward()
        self.loss_scaler.unscale_(runner.optimizer)
        self._clip(runner)
        # skips the step when the unscaled gradients hold inf/NaN
        self.loss_scaler.step(runner.optimizer)
        static_scale = None if isinstance(self.loss_scale, (str, dict)) else float(self.loss_scale)
        self.loss_scaler.update(static_scale)

    def before_save_checkpoint(self, runner) -> None:
        if self.loss_scaler is not None:
            runner.meta.setdefault('fp16', {})['loss_scaler'] = self.loss_scaler.state_dict()

    def _clip(self, runner) -> None:
        if self.grad_clip is None:
            return
        grad_norm = self.clip_grads(runner.model.parameters())
        if grad_norm is not None:
            runner.log_buffer.update({'grad_norm': grad_norm.detach()}, runner.outputs['num_samples'])
