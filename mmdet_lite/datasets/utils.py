"""Config helpers for pipelines and the ``NumClassCheckHook``."""
import copy
import warnings
from typing import Iterator, List, Sequence

from mmcv.runner import HOOKS, Hook

from .builder import PIPELINES
from .pipelines import (Compose, DeviceNormalize, DevicePad, LoadAnnotations, LoadImageFromFile,
                        LoadProposals, Normalize, Pad)

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


def dataset_pipelines(dataset) -> Iterator[Compose]:
    """The ``pipeline`` of ``dataset`` and of the datasets it wraps (``RepeatDataset.dataset``,
    ``ConcatDataset.datasets``, a mixing wrapper's own pipeline and its ``dataset``'s)."""
    if isinstance(getattr(dataset, 'pipeline', None), Compose):
        yield dataset.pipeline
    if hasattr(dataset, 'dataset'):
        yield from dataset_pipelines(dataset.dataset)
    for inner in getattr(dataset, 'datasets', ()):
        yield from dataset_pipelines(inner)


# Steps that may follow ``Normalize`` when it moves to the device: they must not read or move
# pixels (a flip after ``Pad`` would move the padding to the left, where the device pads nothing).
_AFTER_DEVICE_NORMALIZE = ('Pad', 'DefaultFormatBundle', 'Collect')


def device_preprocess_settings(pipelines: Sequence[Compose]) -> dict:
    """``DetDataPreprocessor``'s arguments (``mean``, ``std``, ``to_rgb``, ``pad_value``) from the
    ``Normalize`` and ``Pad`` of ``pipelines``.

    Raises:
        ValueError: saying why the pixel work cannot move to the device: a pipeline without
            exactly one ``Normalize``, with steps other than one ``Pad``, ``DefaultFormatBundle``
            and ``Collect`` after it or a ``Pad`` before it, or pipelines that normalise or pad
            differently.
    """
    settings = []
    for pipeline in pipelines:
        names = [type(transform).__name__ for transform in pipeline.transforms]
        if names.count('Normalize') != 1:
            raise ValueError(f'a training pipeline needs exactly one Normalize, got steps {names}')
        normalize = pipeline.transforms[names.index('Normalize')]
        after = names[names.index('Normalize') + 1:]
        if any(name not in _AFTER_DEVICE_NORMALIZE for name in after) or names.count('Pad') > 1 \
                or names.count('Pad') != after.count('Pad'):
            raise ValueError(f'a training pipeline may only have one Pad, DefaultFormatBundle and '
                             f'Collect after its Normalize (and no Pad before), got steps {names}')
        pad_value = pipeline.transforms[names.index('Pad')].pad_val.get('img', 0) if 'Pad' in after else 0
        if not isinstance(pad_value, tuple):  # cv2 (in mmcv.impad) pads a number v as (v, 0, 0)
            pad_value = (pad_value,) + (0,) * (len(normalize.mean) - 1)
        settings.append(dict(mean=tuple(normalize.mean.tolist()), std=tuple(normalize.std.tolist()),
                             to_rgb=normalize.to_rgb, pad_value=pad_value))
    if not settings:
        raise ValueError('no training pipeline found')
    if any(setting != settings[0] for setting in settings):
        raise ValueError(f'the training pipelines normalise or pad differently: {settings}')
    return settings[0]


def move_normalize_to_device(pipelines: Sequence[Compose]) -> None:
    """Replace, in place, each ``Normalize`` by a ``DeviceNormalize`` and each ``Pad`` by a
    ``DevicePad`` with the same arguments (check ``device_preprocess_settings`` first)."""
    for pipeline in pipelines:
        for i, transform in enumerate(pipeline.transforms):
            if type(transform) is Normalize:
                pipeline.transforms[i] = DeviceNormalize(transform.mean, transform.std, transform.to_rgb)
            elif type(transform) is Pad:
                pipeline.transforms[i] = DevicePad(transform.size, transform.size_divisor,
                                                   transform.pad_to_square, transform.pad_val)


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
