"""``init_cfg=dict(type='Pretrained')`` reports how the checkpoint fit in one line.

mmcv 1.7.2's ``PretrainedInit`` loads non-strictly through ``load_state_dict``, which logs every
missing, unexpected and shape-mismatched key in one long warning. Registered for ``Pretrained``,
this subclass loads the same way (what fits is loaded, mismatched shapes are skipped) through
:func:`mmdet_lite.utils.checkpoint.load_state_dict_reporting`: one line with the four counts and
the first keys of each kind.
"""
from mmcv.cnn.utils.weight_init import INITIALIZERS, PretrainedInit, update_init_info
from mmcv.runner.checkpoint import _load_checkpoint_with_prefix
from mmcv.utils import get_logger, print_log

from mmdet_lite.utils.checkpoint import load_checkpoint, load_state_dict_reporting


class ReportingPretrainedInit(PretrainedInit):
    """mmcv's ``PretrainedInit`` with a one-line report of the load."""

    def __call__(self, module) -> None:
        logger = get_logger('mmcv')
        if self.prefix is None:
            print_log(f'load model from: {self.checkpoint}', logger=logger)
            load_checkpoint(module, self.checkpoint, map_location=self.map_location, logger=logger)
        else:
            print_log(f'load {self.prefix} in model from: {self.checkpoint}', logger=logger)
            state_dict = _load_checkpoint_with_prefix(self.prefix, self.checkpoint,
                                                      map_location=self.map_location)
            load_state_dict_reporting(module, state_dict,
                                      f'{self.prefix} of checkpoint file {self.checkpoint}', logger)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())


def install() -> None:
    INITIALIZERS.register_module(name='Pretrained', module=ReportingPretrainedInit, force=True)
