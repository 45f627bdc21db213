"""Check that every config in a folder builds, trains one step and tests (a smoke test of configs).

    python tools/analysis_tools/check_configs.py CONFIG_DIR [--types FasterRCNN,RPN,FastRCNN]
                                                 [--img-size 128] [--seed 0] [--log FILE]
                                                 [--cfg-options KEY=VALUE ...]

Every ``*.py`` under CONFIG_DIR (``_base_`` folders skipped) is loaded as tools/train.py loads it
(``load_config``: ``${key}`` references, ``$MMDET_DATASETS``, ``--cfg-options``; then
``compat_cfg``). A config whose ``model.type`` is not in ``--types`` is skipped. Pretrained weights
are NOT loaded (no network): every ``init_cfg`` of type ``Pretrained`` and every ``pretrained`` in
the model become None, so the model starts from its own initialisation. Then, seeded afresh for
each config, on the CPU:

1. ``build_detector(cfg.model)``, ``init_weights()``, and the optimizer of ``cfg.optimizer``;
2. one training step on 2 random images of 3 x S x S (``--img-size``) with 3 random boxes each
   (labels below the model's ``num_classes``; RPN: no labels; FastRCNN: 16 random proposals an
   image): losses, their sum, backward, optimizer step; every loss must be finite;
3. one test in eval mode (``model(return_loss=False, img=[img], img_metas=[img_metas])``).

Training runs in float32 whatever the config's ``fp16``; the datasets, pipelines and schedules are
not built (tests/test_configs_registered.py checks that their types are registered).

One line per config, ``OK   <path>  <time>s  loss=<total>`` or ``FAIL <path>  <type>: <message>``,
then the totals. Tracebacks of failures go to ``--log`` if given. Exit status 1 if any failed.
"""
import argparse
import logging
import os
import os.path as osp
import sys
import time
import traceback
import warnings
from typing import Iterator, List, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/, for process_env
import process_env  # noqa: E402

process_env.apply()  # as tools/train.py does, before torch is imported

import mmdet_lite  # noqa: E402,F401  (before mmcv: installs mmdet_lite.compat)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmcv.runner import build_optimizer  # noqa: E402
from mmcv.utils import get_logger  # noqa: E402

from mmdet_lite.models.builder import DETECTORS, build_detector  # noqa: E402
from mmdet_lite.utils import compat_cfg  # noqa: E402
from mmdet_lite.utils.cli import StrictDictAction, error_message, load_config, run_cli  # noqa: E402
from mmdet_lite.utils.seed import set_random_seed  # noqa: E402

NUM_GT_BOXES = 3
NUM_PROPOSALS = 16


class ConfigsFailed(Exception):
    """Some configs failed: their lines are printed already; exit status 1 (``run_cli``)."""
    exit_code = 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Build every config under a folder, train it one step on a random batch and '
                    'test it once (CPU, no pretrained weights).')
    parser.add_argument('config_dir', help='folder searched for *.py configs (_base_ skipped)')
    parser.add_argument('--types', default='FasterRCNN,RPN,FastRCNN',
                        help='comma-separated model types to check; others are skipped')
    parser.add_argument('--img-size', type=int, default=128, help='random images are S x S')
    parser.add_argument('--seed', type=int, default=0, help='random seed, set before each config')
    parser.add_argument('--log', help='file the tracebacks of failed configs are written to')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override settings of every config, KEY=VALUE pairs as in train.py')
    args = parser.parse_args(argv)
    if args.img_size < 32:
        parser.error(f'--img-size must be at least 32, got {args.img_size}')
    return args


def find_configs(config_dir: str) -> List[str]:
    """The ``*.py`` files under ``config_dir``, outside ``_base_`` folders, sorted."""
    if not osp.isdir(config_dir):
        raise FileNotFoundError(f'config folder {config_dir} does not exist')
    found = []
    for root, dirs, files in os.walk(config_dir):
        dirs[:] = sorted(name for name in dirs if name != '_base_')
        found += [osp.join(root, name) for name in files if name.endswith('.py')]
    return sorted(found)


def drop_pretrained(node) -> None:
    """Set every ``pretrained`` and every ``init_cfg`` of type ``Pretrained`` under ``node`` (a
    config dict or list, changed in place) to None."""
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    if isinstance(node, dict):
        if node.get('pretrained', None) is not None:
            node['pretrained'] = None
        init_cfg = node.get('init_cfg', None)
        init_cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
        if any(isinstance(cfg, dict) and cfg.get('type') == 'Pretrained' for cfg in init_cfgs):
            node['init_cfg'] = None
    for child in list(children):
        drop_pretrained(child)


def random_boxes(num_boxes: int, img_size: int, generator: torch.Generator) -> torch.Tensor:
    """(num_boxes, 4) x1y1x2y2 boxes inside an img_size square, sides 10-40% of it."""
    sizes = (0.1 + 0.3 * torch.rand(num_boxes, 2, generator=generator)) * img_size
    corners = torch.rand(num_boxes, 2, generator=generator) * (img_size - sizes)
    return torch.cat([corners, corners + sizes], dim=1)


def random_batch(model_type: str, num_classes: int, img_size: int,
                 seed: int) -> Tuple[dict, dict]:
    """Train and test inputs of 2 random images for a ``model_type`` detector: keyword
    arguments of ``model(...)`` with ``return_loss=True`` and ``False``. Drawn from their own
    generator: every detector of a type gets the same batch, however its build used the RNG."""
    generator = torch.Generator().manual_seed(seed)
    num_images = 2
    img = torch.randn(num_images, 3, img_size, img_size, generator=generator)
    shape = (img_size, img_size, 3)
    img_metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=shape, flip=False,
                      flip_direction=None, scale_factor=np.ones(4, dtype=np.float32))
                 for _ in range(num_images)]
    train = dict(img=img, img_metas=img_metas,
                 gt_bboxes=[random_boxes(NUM_GT_BOXES, img_size, generator)
                            for _ in range(num_images)])
    test = dict(img=[img], img_metas=[[dict(meta) for meta in img_metas]])
    if model_type != 'RPN':
        train['gt_labels'] = [torch.randint(num_classes, (NUM_GT_BOXES, ), generator=generator)
                             for _ in range(num_images)]
    if model_type == 'FastRCNN':
        proposals = [random_boxes(NUM_PROPOSALS, img_size, generator) for _ in range(num_images)]
        train['proposals'] = proposals
        test['proposals'] = [proposals]
    return train, test


def num_classes_of(model) -> int:
    """The classes a detector's boxes are labelled with (1 for a class-agnostic RPN)."""
    roi_head = getattr(model, 'roi_head', None)
    return roi_head.bbox_head.num_classes if roi_head is not None else 1


def check_config(cfg, img_size: int, seed: int) -> float:
    """Build ``cfg.model``, train it one step and test it once; the step's total loss."""
    model = build_detector(cfg.model, train_cfg=cfg.get('train_cfg'), test_cfg=cfg.get('test_cfg'))
    mmcv_logger = get_logger('mmcv')
    level = mmcv_logger.level
    mmcv_logger.setLevel(logging.WARNING)  # not mmcv's report of every parameter's initialisation
    try:
        model.init_weights()
    finally:
        mmcv_logger.setLevel(level)
    optimizer = build_optimizer(model, cfg.optimizer)
    train_inputs, test_inputs = random_batch(cfg.model.type, num_classes_of(model),
                                              img_size, seed)
    model.train()
    losses = model(return_loss=True, **train_inputs)
    loss, log_vars = model._parse_losses(losses)
    not_finite = [name for name, value in log_vars.items() if not np.isfinite(value)]
    if not_finite:
        raise FloatingPointError('losses not finite: ' +
                                 ', '.join(f'{name}={log_vars[name]}' for name in not_finite))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        results = model(return_loss=False, **test_inputs)
    if len(results) != len(train_inputs['img_metas']):
        raise ValueError(f"the test returned {len(results)} results for "
                         f"{len(train_inputs['img_metas'])} images")
    return log_vars['loss']


def check_configs(paths: List[str], types: List[str], img_size: int, seed: int,
                  cfg_options=None) -> Iterator[Tuple[str, str, object]]:
    """Per config ``(path, status, detail)``: ``('OK', (seconds, loss))``,
    ``('FAIL', exception)`` or ``('SKIP', model type)``."""
    for path in paths:
        started = time.perf_counter()
        try:
            cfg = load_config(path, cfg_options)
            model_type = cfg.get('model', {}).get('type', None)
            if model_type not in types:
                yield path, 'SKIP', model_type
                continue
            with warnings.catch_warnings():  # its notices on loader keys: no loader is built here
                warnings.simplefilter('ignore', UserWarning)
                cfg = compat_cfg(cfg)
            drop_pretrained(cfg.model)
            set_random_seed(seed)
            loss = check_config(cfg, img_size, seed)
        except Exception as error:  # noqa: BLE001 - reported per config, the others still run
            yield path, 'FAIL', error
            continue
        yield path, 'OK', (time.perf_counter() - started, loss)


def main(argv=None) -> None:
    args = parse_args(argv)
    types = [name.strip() for name in args.types.split(',') if name.strip()]
    unknown = [name for name in types if DETECTORS.get(name) is None]
    if unknown:  # a misspelt type would skip every config and report success
        raise ValueError(f'--types {",".join(unknown)}: not a registered detector type')
    paths = find_configs(args.config_dir)
    print('Pretrained weights are not loaded (init_cfg of type Pretrained and pretrained set to '
          'None: no network); training runs on the CPU in float32.')
    log = open(args.log, 'w') if args.log else None
    counts = dict(OK=0, FAIL=0, SKIP=0)
    try:
        for path, status, detail in check_configs(paths, types, args.img_size, args.seed,
                                                  args.cfg_options):
            counts[status] += 1
            if status == 'OK':
                seconds, loss = detail
                print(f'OK   {path}  {seconds:.1f}s  loss={loss:.4f}', flush=True)
            elif status == 'FAIL':
                message = ' '.join(error_message(detail).split())
                print(f'FAIL {path}  {type(detail).__name__}: {message}', flush=True)
                if log is not None:
                    log.write(f'{path}\n' + ''.join(traceback.format_exception(detail)) + '\n')
    finally:
        if log is not None:
            log.close()
    checked = counts['OK'] + counts['FAIL']
    print(f"{counts['OK']} of {checked} configs OK, {counts['FAIL']} failed, {counts['SKIP']} "
          f"skipped (type not in {','.join(types)})")
    if counts['FAIL']:
        raise ConfigsFailed(f"{counts['FAIL']} of {checked} configs failed")


if __name__ == '__main__':
    sys.exit(run_cli(main, 'check_configs.py'))
