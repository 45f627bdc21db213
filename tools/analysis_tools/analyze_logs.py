"""Curves and training speed from the ``*.log.json`` files training writes (MMDetection 2.x's tool).

    python tools/analysis_tools/analyze_logs.py plot_curve LOG_JSON [LOG_JSON ...] \\
        [--keys loss_cls bbox_mAP] [--title T] [--legend L ...] [--backend B] [--style dark] \\
        [--out curves.png] [--start-epoch 1] [--eval-interval 1]
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG_JSON [...] [--include-outliers]

A ``.log.json`` holds one JSON object a line: the run's meta first (no ``epoch``), then one entry
per logged training interval (``mode: train``, ``iter`` counted inside the epoch) and one per
evaluation (``mode: val``). Training keys (losses, ``lr``, ``time``) are plotted against the
iteration, evaluation keys (``bbox_mAP``...) against the epoch; asked for together, they get one
panel each. Drawn with matplotlib alone: ``--style`` takes seaborn's style names (``dark``,
``whitegrid``...) through matplotlib's copies of them (``seaborn-v0_8-dark``) or any matplotlib style.
"""
import argparse
import json
import os
import os.path as osp
import sys
import warnings
from typing import Dict, List, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from mmdet_lite.utils.cli import run_cli

# A log: {epoch: [entry, ...]} in file order, each entry the JSON object without its 'epoch'.
LogDict = Dict[int, List[dict]]


def load_json_log(json_log: str) -> LogDict:
    """Read one ``.log.json``; entries without ``epoch`` (the meta line) are skipped. A last line
    that does not parse (a run still writing it) is skipped with a warning; any other is an error."""
    if not json_log.endswith('.json'):
        raise ValueError(f'{json_log} is not a json log: expected the *.log.json file training '
                         'writes beside its *.log')
    if not osp.isfile(json_log):
        raise FileNotFoundError(f'log file {json_log} does not exist')
    with open(json_log) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    log_dict: LogDict = {}
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):
                warnings.warn(f'{json_log}: its last line is incomplete (still being written?) '
                              'and was ignored')
                break
            raise ValueError(f'{json_log}, line {number}: not JSON ({error})') from None
        if not isinstance(entry, dict) or 'epoch' not in entry:
            continue
        log_dict.setdefault(entry.pop('epoch'), []).append(entry)
    if not log_dict:
        raise ValueError(f'{json_log} holds no training or evaluation entries (no line with an '
                         '"epoch" key)')
    return log_dict


def load_json_logs(json_logs: Sequence[str]) -> List[LogDict]:
    return [load_json_log(json_log) for json_log in json_logs]


def _entries(log_dict: LogDict, mode: str, key: str):
    """(epoch, entry) of every ``mode`` entry holding ``key``, in epoch order."""
    return [(epoch, entry) for epoch in sorted(log_dict) for entry in log_dict[epoch]
            if entry.get('mode') == mode and key in entry]


def iters_per_epoch(log_dict: LogDict) -> int:
    """The last training ``iter`` logged in the first epoch: how far each epoch shifts the x axis
    (as in MMDetection: a log interval that does not divide the epoch makes it a little short)."""
    first = min(log_dict)
    iters = [entry['iter'] for entry in log_dict[first] if entry.get('mode') == 'train']
    return max(iters) if iters else 0


def curve_points(log_dict: LogDict, key: str, start_epoch: int = 1):
    """``(x label, xs, ys)`` of ``key``: training keys against the iteration counted from the
    start of training, evaluation keys (found only in ``val`` entries) against the epoch."""
    train = _entries(log_dict, 'train', key)
    if train:
        per_epoch = iters_per_epoch(log_dict)
        points = [((epoch - 1) * per_epoch + entry['iter'], entry[key])
                  for epoch, entry in train if epoch >= start_epoch]
        label = 'iter'
    else:
        points = [(epoch, entry[key]) for epoch, entry in _entries(log_dict, 'val', key)
                  if epoch >= start_epoch]
        label = 'epoch'
    xs, ys = zip(*points) if points else ((), ())
    return label, np.array(xs), np.array(ys, dtype=float)


def _check_keys(log_dicts: Sequence[LogDict], json_logs: Sequence[str], keys: Sequence[str]) -> None:
    """Raise ``KeyError`` for a key no entry of a log holds, listing the keys it holds."""
    for log_dict, json_log in zip(log_dicts, json_logs):
        entries = [entry for epoch_entries in log_dict.values() for entry in epoch_entries]
        found = {k for entry in entries for k in entry}
        for key in keys:
            if key in found:
                continue
            plottable = sorted(k for k in found if k not in ('mode', 'iter', 'bbox_mAP_copypaste'))
            message = f'{json_log} does not contain metric {key}; its keys are {", ".join(plottable)}'
            modes = {entry.get('mode') for entry in entries}
            if 'val' not in modes:
                message += ('. Please check if "--no-validate" is specified when you trained the '
                            'model')
            if 'train' not in modes:
                message += ('. Please reduce the log interval in the config so that interval is '
                            'less than iterations of one epoch')
            raise KeyError(message)


def _style(name: str) -> str:
    """A matplotlib style for ``name``: itself, or matplotlib's copy of the seaborn style."""
    for candidate in (name, f'seaborn-v0_8-{name}'):
        if candidate in plt.style.available:
            return candidate
    raise ValueError(f'--style {name}: no such matplotlib style (seaborn names like dark, '
                     f'whitegrid, ticks work too); available: {", ".join(plt.style.available)}')


def default_legend(json_logs: Sequence[str], keys: Sequence[str]) -> List[str]:
    """``{log}_{key}`` as in MMDetection, the log named by its file name (its path when two logs
    share a file name), and by nothing when there is one log: a full path would cover the plot."""
    if len(json_logs) == 1:
        return list(keys)
    names = [osp.basename(json_log) for json_log in json_logs]
    names = names if len(set(names)) == len(names) else list(json_logs)
    return [f'{name}_{key}' for name in names for key in keys]


def plot_curve(log_dicts: Sequence[LogDict], args):
    """Draw ``args.keys`` of every log; returns the matplotlib Figure (saved to ``args.out`` if
    given, shown otherwise). One panel per x axis (iter, epoch) the keys need."""
    _check_keys(log_dicts, args.json_logs, args.keys)
    legend = args.legend or default_legend(args.json_logs, args.keys)
    if len(legend) != len(args.json_logs) * len(args.keys):
        raise ValueError(f'--legend needs one label per log and key ({len(args.json_logs)} logs x '
                         f'{len(args.keys)} keys = {len(args.json_logs) * len(args.keys)}), got '
                         f'{len(legend)}')
    curves = []
    for i, (log_dict, json_log) in enumerate(zip(log_dicts, args.json_logs)):
        for j, key in enumerate(args.keys):
            print(f'plot curve of {json_log}, metric is {key}')
            curves.append((*curve_points(log_dict, key, args.start_epoch), legend[i * len(args.keys) + j]))
    panels = sorted({label for label, *_ in curves}, key=['iter', 'epoch'].index)
    with plt.style.context(_style(args.style)):
        fig, axes = plt.subplots(len(panels), 1, squeeze=False,
                                 figsize=(6.4, 4.8 if len(panels) == 1 else 7.2))
        for axis_label, xs, ys, label in curves:
            ax = axes[panels.index(axis_label), 0]
            if axis_label == 'epoch':
                ax.plot(xs, ys, label=label, marker='o')
                ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            else:
                ax.plot(xs, ys, label=label, linewidth=0.5)
            ax.set_xlabel(axis_label)
        for ax, axis_label in zip(axes[:, 0], panels):
            keys = [key for key in args.keys
                    if any(curve[0] == axis_label for curve in curves[args.keys.index(key)::len(args.keys)])]
            ax.set_ylabel(', '.join(keys))
            ax.legend()
        if args.title is not None:
            axes[0, 0].set_title(args.title)
        fig.tight_layout()
    if args.out is None:
        plt.show()
    else:
        print(f'save curve to: {args.out}')
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        fig.savefig(args.out)
    return fig


def cal_train_time(log_dicts: Sequence[LogDict], args) -> List[dict]:
    """Per log: the slowest and fastest epoch by mean iteration ``time``, the std of those means
    over epochs and the mean of all iteration times (printed as MMDetection prints them; returned
    as dicts). The first logged time of each epoch (loader start-up) is left out unless
    ``args.include_outliers``."""
    summaries = []
    for log_dict, json_log in zip(log_dicts, args.json_logs):
        print(f'{"-" * 5}Analyze train time of {json_log}{"-" * 5}')
        epochs, times = [], []
        for epoch in sorted(log_dict):
            epoch_times = [entry['time'] for entry in log_dict[epoch]
                           if entry.get('mode') == 'train' and 'time' in entry]
            epoch_times = epoch_times if args.include_outliers else epoch_times[1:]
            if not epoch_times:
                raise KeyError(f'{json_log}: epoch {epoch} has no iteration time left to average '
                               f'(it logs {"no" if args.include_outliers else "one or no"} training '
                               'entry). Please reduce the log interval in the config so that '
                               'interval is less than iterations of one epoch, or pass '
                               '--include-outliers')
            epochs.append(epoch)
            times.append(epoch_times)
        epoch_means = np.array([np.mean(epoch_times) for epoch_times in times])
        slowest, fastest = int(epoch_means.argmax()), int(epoch_means.argmin())
        summary = dict(slowest_epoch=epochs[slowest], slowest_time=float(epoch_means[slowest]),
                       fastest_epoch=epochs[fastest], fastest_time=float(epoch_means[fastest]),
                       std_over_epochs=float(epoch_means.std()),
                       average_iter_time=float(np.mean(np.concatenate(times))))
        print(f'slowest epoch {summary["slowest_epoch"]}, average time is {summary["slowest_time"]:.4f}')
        print(f'fastest epoch {summary["fastest_epoch"]}, average time is {summary["fastest_time"]:.4f}')
        print(f'time std over epochs is {summary["std_over_epochs"]:.4f}')
        print(f'average iter time: {summary["average_iter_time"]:.4f} s/iter')
        print()
        summaries.append(summary)
    return summaries


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Analyze Json Log')
    subparsers = parser.add_subparsers(dest='task', required=True, help='task parser')
    plot = subparsers.add_parser('plot_curve', help='parser for plotting curves')
    plot.add_argument('json_logs', type=str, nargs='+', help='path of train log in json format')
    plot.add_argument('--keys', type=str, nargs='+', default=['bbox_mAP'],
                      help='the metric that you want to plot')
    plot.add_argument('--start-epoch', type=int, default=1, help='the epoch that you want to start')
    plot.add_argument('--eval-interval', type=int, default=1,
                      help='the eval interval when training (accepted as MMDetection does; the '
                           'epochs that were evaluated are read from the log)')
    plot.add_argument('--title', type=str, help='title of figure')
    plot.add_argument('--legend', type=str, nargs='+', default=None, help='legend of each plot')
    plot.add_argument('--backend', type=str, default=None,
                      help='backend of plt (default: Agg with --out, matplotlib\'s otherwise)')
    plot.add_argument('--style', type=str, default='dark',
                      help='style of plt: a seaborn style name (dark, darkgrid, whitegrid, white, '
                           'ticks) or any matplotlib style')
    plot.add_argument('--out', type=str, default=None,
                      help='save the figure to this file (.png, .pdf, .svg...) instead of showing it')
    times = subparsers.add_parser('cal_train_time',
                                  help='parser for computing the average time per training iteration')
    times.add_argument('json_logs', type=str, nargs='+', help='path of train log in json format')
    times.add_argument('--include-outliers', action='store_true',
                       help='include the first value of every epoch when computing the average time')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.task == 'plot_curve':
        backend = args.backend or ('Agg' if args.out else None)
        if backend is not None:
            plt.switch_backend(backend)
        _style(args.style)  # a bad --style is refused before the logs are read
    log_dicts = load_json_logs(args.json_logs)
    if args.task == 'plot_curve':
        plt.close(plot_curve(log_dicts, args))
    else:
        cal_train_time(log_dicts, args)


if __name__ == '__main__':
    sys.exit(run_cli(main, 'analyze_logs.py'))
