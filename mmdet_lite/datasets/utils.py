"""Config helpers for pipelines and the ``NumClassCheckHook``."""
import copy
import warnings
from typing import List

from mmcv.runner import HOOKS, Hook

from .builder import PIPELINES
from .pipelines import LoadAnnotations, LoadImageFromFile, LoadProposals

# Modules whose ``num_classes`` is not the dataset's class count (matched by class name
# along the MRO, so mmdet_lite need not import them).
_NUM_CLASSES_EXEMPT = ('RPNHead', 'VGG', 'FusedSemanticHead', 'GARPNHead')


def replace_ImageToTensor(pipelines: List[dict]) -> List[dict]:
    """Copy of ``pipelines`` with every ``ImageToTensor`` (also inside ``MultiScaleFlipAug``)
    replaced by ``DefaultFormatBundle``, for batched inference; warns when it replaces."""
    pipelines = copy.deepcopy(pipelines)
    for i, pipeline in enumerate(pipelines):
        if pipeline['type'] == 'MultiScaleFlipAug':
            if 'transforms' not in pipeline:
                raise KeyError(f'MultiScaleFlipAug config has no transforms: {pipeline}')
            pipeline['transforms'] = replace_ImageToTensor(pipeline['transforms'])
        elif pipeline['type'] == 'ImageToTensor':
            warnings.warn('"ImageToTensor" pipeline is replaced by "DefaultFormatBundle" for '
                          'batch inference. It is recommended to manually replace it in the '
                          'test data pipeline in your config file.', UserWarning)
            pipelines[i] = {'type': 'DefaultFormatBundle'}
    return pipelines


def get_loading_pipeline(pipeline: List[dict]) -> List[dict]:
    """The image- and annotation-loading steps of a pipeline config (exactly two expected)."""
    loading_pipeline_cfg = []
    for cfg in pipeline:
        obj_cls = PIPELINES.get(cfg['type'])
        if obj_cls is not None and obj_cls in (LoadImageFromFile, LoadAnnotations, LoadProposals):
            loading_pipeline_cfg.append(cfg)
    if len(loading_pipeline_cfg) != 2:
        raise ValueError('The data pipeline in your config file must include loading image and '
                         f'annotations related pipeline, got {loading_pipeline_cfg}')
    return loading_pipeline_cfg


def check_num_classes(model, dataset, logger=None) -> None:
    """Every head's ``num_classes`` must equal ``len(dataset.CLASSES)`` (``RPNHead`` and a
    few others exempt).

    Raises:
        ValueError: ``CLASSES`` is a plain string, or a ``num_classes`` mismatches.
    """
    dataset_name = dataset.__class__.__name__
    if dataset.CLASSES is None:
        message = (f'Please set `CLASSES` in the {dataset_name} and check if it is consistent '
                   'with the `num_classes` of head')
        if logger is None:
            warnings.warn(message)
        else:
            logger.warning(message)
        return
    if isinstance(dataset.CLASSES, str):
        raise ValueError(
            f'`CLASSES` in {dataset_name} should be a tuple of str. Add comma if number of '
            f'classes is 1 as CLASSES = ({dataset.CLASSES},)')
    for _, module in model.named_modules():
        if not hasattr(module, 'num_classes'):
            continue
        if any(cls.__name__ in _NUM_CLASSES_EXEMPT for cls in type(module).__mro__):
            continue
        if module.num_classes != len(dataset.CLASSES):
            raise ValueError(
                f'The `num_classes` ({module.num_classes}) in {module.__class__.__name__} '
                f'of {model.__class__.__name__} does not matches the length of `CLASSES` '
                f'{len(dataset.CLASSES)}) in {dataset_name}')


@HOOKS.register_module()
class NumClassCheckHook(Hook):
    """Run :func:`check_num_classes` before each train/val epoch."""

    def before_train_epoch(self, runner) -> None:
        check_num_classes(runner.model, runner.data_loader.dataset, runner.logger)

    def before_val_epoch(self, runner) -> None:
        check_num_classes(runner.model, runner.data_loader.dataset, runner.logger)
