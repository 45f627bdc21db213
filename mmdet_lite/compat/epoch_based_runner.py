"""``EpochBasedRunner`` without mmcv's pauses.

mmcv 1.x sleeps 2 s before every train and val epoch ("prevent possible deadlock during epoch
transition", a guard for DataLoader workers of old PyTorch releases). The sleep falls inside the
first iteration's ``data_time`` and, on a small dataset, is a sizeable share of the wall time (12
epochs of the toy quick start: 24 s of about 3 minutes). Registering this class under mmcv's name
makes every ``runner = dict(type='EpochBasedRunner', ...)`` config use it.
"""
import torch
from mmcv.runner import RUNNERS
from mmcv.runner import EpochBasedRunner as MMCVEpochBasedRunner


class EpochBasedRunner(MMCVEpochBasedRunner):
    """mmcv's epoch loop, hook for hook, minus the sleeps."""

    def train(self, data_loader, **kwargs) -> None:
        self.model.train()
        self.mode = 'train'
        self.data_loader = data_loader
        self._max_iters = self._max_epochs * len(self.data_loader)
        self.call_hook('before_train_epoch')
        for inner_iter, data_batch in enumerate(self.data_loader):
            self.data_batch = data_batch
            self._inner_iter = inner_iter
            self.call_hook('before_train_iter')
            self.run_iter(data_batch, train_mode=True, **kwargs)
            self.call_hook('after_train_iter')
            del self.data_batch
            self._iter += 1
        self.call_hook('after_train_epoch')
        self._epoch += 1

    def val(self, data_loader, **kwargs) -> None:
        self.model.eval()
        self.mode = 'val'
        self.data_loader = data_loader
        self.call_hook('before_val_epoch')
        with torch.no_grad():
            for inner_iter, data_batch in enumerate(self.data_loader):
                self.data_batch = data_batch
                self._inner_iter = inner_iter
                self.call_hook('before_val_iter')
                self.run_iter(data_batch, train_mode=False)
                self.call_hook('after_val_iter')
                del self.data_batch
        self.call_hook('after_val_epoch')


def install() -> None:
    RUNNERS.register_module(name='EpochBasedRunner', module=EpochBasedRunner, force=True)
