"""What tests share: running the tools (as processes or in this process), free ports, checkpoints."""
import importlib.util
import io
import logging
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# tools/process_env.py, which the tools import, is importable by tests as it is by the tools
# (appended: tools/test.py must not shadow the standard library's test package).
sys.path.append(str(REPO_ROOT / 'tools'))
import process_env  # noqa: E402

# Before torch is loaded, as the tools do: a tool run in this process then runs as in its own.
process_env.apply()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from mmcv.utils import logging as mmcv_logging  # noqa: E402

from mmdet_lite.utils.cli import run_cli  # noqa: E402

TINY_CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny.py'
# Set by launchers; a tool run by a test starts without them (and without MMDET_LITE_TRACEBACK).
LAUNCHER_ENV = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


def _env(extra=None):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO_ROOT), env.get('PYTHONPATH', '')])
    env.pop('MMDET_LITE_TRACEBACK', None)
    for name in LAUNCHER_ENV:
        env.pop(name, None)
    env.update(extra or {})
    return env


def run_script(script, *args, env=None, timeout=300):
    """Run ``tools/<script>`` with this interpreter from the repository root."""
    return subprocess.run([sys.executable, str(REPO_ROOT / 'tools' / script), *map(str, args)],
                          cwd=REPO_ROOT, env=_env(env), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def host_reads(monkeypatch):
    """(method, shape) of each tensor value read on the host (``tolist``, ``item``, ``bool``,
    ``float``): on a GPU each one waits for the device."""
    reads = []
    for name in ('tolist', 'item', '__bool__', '__float__'):
        original = getattr(torch.Tensor, name)

        def read(tensor, *args, _original=original, _name=name, **kwargs):
            reads.append((_name, tuple(tensor.shape)))
            return _original(tensor, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, read)
    return reads


@pytest.fixture
def run_train():
    return lambda *args, env=None: run_script('train.py', *args, env=env)


@pytest.fixture
def run_trains_at_once(tmp_path_factory):
    """``run_trains_at_once(args_1, args_2, ...)``: ``tools/train.py`` once per argument tuple, all
    started together (independent runs: their start-ups overlap); a ``CompletedProcess`` each."""
    def run(*arg_lists, timeout=300):
        outputs = tmp_path_factory.mktemp('train_outputs')
        started = []
        for i, args in enumerate(arg_lists):
            stdout, stderr = open(outputs / f'{i}.out', 'w+'), open(outputs / f'{i}.err', 'w+')
            command = [sys.executable, str(REPO_ROOT / 'tools' / 'train.py'), *map(str, args)]
            started.append((subprocess.Popen(command, cwd=REPO_ROOT, env=_env(), stdout=stdout,
                                             stderr=stderr, text=True), stdout, stderr))
        results = []
        for proc, stdout, stderr in started:
            proc.wait(timeout=timeout)
            stdout.seek(0), stderr.seek(0)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout.read(),
                                                       stderr.read()))
            stdout.close(), stderr.close()
        return results
    return run


@pytest.fixture
def run_dist_train():
    def run(config, num_procs, *args, port):
        return subprocess.run(['bash', str(REPO_ROOT / 'dist_train.sh'), str(config),
                               str(num_procs), *map(str, args)],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                              env=_env({'PYTHON': sys.executable, 'PORT': str(port)}))
    return run


@lru_cache(maxsize=None)
def load_tool(script: str):
    """``tools/<script>`` (``demo/...``: that script) as a module (its ``__main__`` block not run)."""
    path = REPO_ROOT / script if script.startswith('demo/') else REPO_ROOT / 'tools' / script
    spec = importlib.util.spec_from_file_location(f'mmdet_lite_tools_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _process_state_kept():
    """Undo what a tool's ``main`` changes for the whole process: ``os.environ`` (it exports
    LOCAL_RANK), ``sys.path`` (custom_imports appends the cwd), the global random states (seeded
    before the model is built), the ``mmdet`` logger (its handlers, and mmcv's note that it is set
    up, without which the next run would get no log file), the signal handlers (a run that
    fails does not restore the preemption hook's), and the config's ``mp_start_method`` and
    ``opencv_num_threads``."""
    environ, path = dict(os.environ), list(sys.path)
    start_method, opencv_threads = multiprocessing.get_start_method(allow_none=True), cv2.getNumThreads()
    random_states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    logger = logging.getLogger('mmdet')
    handlers = list(logger.handlers)
    # The run starts with the logger of a fresh process: one an earlier test set up (e.g. through
    # a dataset's evaluate) would stop mmcv from giving the run its console and log file handlers.
    initialized = mmcv_logging.logger_initialized.pop('mmdet', None)
    for handler in handlers:
        logger.removeHandler(handler)
    signal_handlers = {signum: signal.getsignal(signum)
                       for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)}
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        sys.path[:] = path
        random.setstate(random_states[0])
        np.random.set_state(random_states[1])
        torch.set_rng_state(random_states[2])
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        for handler in handlers:
            logger.addHandler(handler)
        mmcv_logging.logger_initialized.pop('mmdet', None)
        if initialized:
            mmcv_logging.logger_initialized['mmdet'] = initialized
        for signum, handler in signal_handlers.items():
            signal.signal(signum, handler)
        multiprocessing.set_start_method(start_method, force=True)
        cv2.setNumThreads(opencv_threads)


def run_in_process(script: str, *args, cwd=REPO_ROOT, env=None) -> subprocess.CompletedProcess:
    """Run ``tools/<script>``'s ``main`` through ``run_cli`` as its command line does, in this process,
    from the repository root and without launcher variables, like ``run_script`` but without starting
    an interpreter (most of a tiny run's time); ``env`` adds variables (a launcher's, say). Returns a
    ``CompletedProcess`` with the exit status and what was printed. Warnings go to pytest's record,
    not to the returned stderr: check them with ``pytest.warns``."""
    main = load_tool(script).main
    argv = [str(arg) for arg in args]
    out, err = io.StringIO(), io.StringIO()
    with _process_state_kept(), pytest.MonkeyPatch.context() as patch, \
            redirect_stdout(out), redirect_stderr(err):
        patch.chdir(cwd)
        patch.setenv('COLUMNS', '80')  # argparse wraps --help as for a pipe
        for name in (*LAUNCHER_ENV, 'MMDET_LITE_TRACEBACK'):
            patch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        try:
            status = run_cli(main, script, argv)
        except SystemExit as exit_:  # argparse: 0 after --help, 2 for a usage error
            status = exit_.code
    return subprocess.CompletedProcess([script, *argv], status, out.getvalue(), err.getvalue())


@pytest.fixture
def run_tool_in_process():
    """``run_tool_in_process('train.py', *args)``: :func:`run_in_process` as a fixture."""
    return run_in_process


@pytest.fixture
def train_in_process():
    """``train_in_process(*args)``: ``tools/train.py`` run by :func:`run_in_process`."""
    return lambda *args: run_in_process('train.py', *args)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a gloo rendezvous)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextmanager
def gloo_process_group(rank: int, world_size: int, port: int):
    """This process as ``rank`` of a gloo group meeting on 127.0.0.1:``port``, for the body."""
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def read_checkpoint(path) -> dict:
    """A checkpoint file loaded as the tools load one: ``weights_only=True``."""
    return torch.load(path, weights_only=True)


def read_state_dict(path) -> dict:
    return read_checkpoint(path)['state_dict']


def assert_same_weights(expected: dict, actual: dict) -> None:
    """The same names, and every tensor equal bit for bit; the first one that differs is named."""
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
