"""Print a config as mmcv resolves it: ``_base_`` files merged, ``--cfg-options`` applied
(MMDetection 2.x's tool).

    python tools/misc/print_config.py CONFIG [--cfg-options KEY=VALUE ...]
"""
import argparse
import sys
import warnings

import mmdet_lite  # noqa: F401  (before mmcv: installs mmdet_lite.compat)
from mmcv import Config

from mmdet_lite.utils.cli import StrictDictAction, load_config, run_cli


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Print the whole config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file (deprecate), change '
                             'to --cfg-options instead.')
    parser.add_argument('--cfg-options', nargs='+', action=StrictDictAction,
                        help='override some settings in the used config, the key-value pair in '
                             'xxx=yyy format will be merged into config file.')
    args = parser.parse_args(argv)
    if args.options and args.cfg_options:
        parser.error('--options and --cfg-options cannot be both specified, --options is '
                     'deprecated in favor of --cfg-options')
    if args.options:
        warnings.warn('--options is deprecated in favor of --cfg-options')
        args.cfg_options = args.options
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg: Config = load_config(args.config, args.cfg_options)
    print(f'Config:\n{cfg.pretty_text}')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'print_config.py'))
