"""Evaluate (or format) the results ``tools/test.py --out`` saved, without running the model again
(MMDetection 2.x's tool).

    python tools/analysis_tools/eval_metric.py CONFIG RESULTS.pkl --eval bbox [--eval-options ...]
    python tools/analysis_tools/eval_metric.py CONFIG RESULTS.pkl --format-only \\
        --eval-options jsonfile_prefix=results

The dataset is ``data.test`` of CONFIG; ``--eval`` and ``--eval-options`` work as in
``tools/test.py`` (with the config's ``evaluation`` options), so the metrics printed are the ones
``tools/test.py --eval`` prints for the same results. The pickle is read without running code
(lists of numpy arrays only).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/, for process_env
import process_env  # noqa: E402

process_env.apply()  # as tools/train.py does, before torch is imported

import mmdet_lite  # noqa: E402,F401  (before mmcv: installs mmdet_lite.compat)

from mmdet_lite.core.evaluation import dataset_eval_kwargs  # noqa: E402
from mmdet_lite.datasets import build_dataset  # noqa: E402
from mmdet_lite.utils.cli import (StrictDictAction, load_config, require_config_keys,  # noqa: E402
                                  run_cli)
from mmdet_lite.utils.results_file import check_results_length, load_results  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate metric of the results saved in pkl format')
    parser.add_argument('config', help='Config of the model')
    parser.add_argument('pkl_results', help='Results in pickle format')
    parser.add_argument('--format-only', action='store_true',
                        help='Format the output results without perform evaluation. It is useful '
                             'when you want to format the result to a specific format and submit '
                             'it to the test server')
    parser.add_argument('--eval', type=str, nargs='+',
                        help='Evaluation metrics, which depends on the dataset, e.g., "bbox", '
                             '"segm", "proposal" for COCO, and "mAP", "recall" for PASCAL VOC')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file.')
    parser.add_argument('--eval-options', nargs='+', action=StrictDictAction,
                        help='custom options for evaluation, the key-value pair in xxx=yyy format '
                             'will be kwargs for dataset.evaluate() function')
    args = parser.parse_args(argv)
    if not (args.eval or args.format_only):
        parser.error('Please specify at least one operation (eval/format the results) with the '
                     'argument "--eval", "--format-only"')
    if args.eval and args.format_only:
        parser.error('--eval and --format_only cannot be both specified')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    require_config_keys(cfg, args.config, 'data.test')
    outputs = load_results(args.pkl_results)  # a bad results file is refused before the dataset
    cfg.data.test.test_mode = True
    cfg.data.test.pop('samples_per_gpu', None)
    dataset = build_dataset(cfg.data.test)
    check_results_length(outputs, dataset, args.pkl_results, args.config)
    kwargs = {} if args.eval_options is None else args.eval_options
    if args.format_only:
        dataset.format_results(outputs, **kwargs)
    if args.eval:
        eval_kwargs = dataset_eval_kwargs(cfg.get('evaluation', {}))
        eval_kwargs.update(dict(metric=args.eval, **kwargs))
        print(dataset.evaluate(outputs, **eval_kwargs))


if __name__ == '__main__':
    sys.exit(run_cli(main, 'eval_metric.py'))
