"""One training run per work_dir: a lock file that names its holder.

Two runs on one work_dir (a requeued job while the old one still runs, a restarted "slow" job)
would overwrite each other's checkpoints. The run that takes ``<work_dir>/.train.lock`` first owns
the work_dir; a second is refused before it writes anything, with the holder's host and PID.

A lock outlives a run killed by SIGKILL or a lost node. It is stale, and taken over with a warning,
when its PID is no longer running on this host, or, for a holder on another host (a shared file
system), when the holder stopped refreshing it (its mtime, touched every ``heartbeat_s`` by the
holder) for ``stale_after_s``.
"""
import json
import os
import os.path as osp
import socket
import threading
import time
from typing import List, Optional

LOCK_FILE = '.train.lock'


class WorkDirInUse(RuntimeError):
    """Another live run holds the work_dir."""


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True


class WorkDirLock:
    """``with WorkDirLock(work_dir):`` holds the work_dir for the block (creating the directory)."""

    def __init__(self, work_dir: str, heartbeat_s: float = 60.0, stale_after_s: float = 300.0) -> None:
        self.path = osp.join(work_dir, LOCK_FILE)
        self.notes: List[str] = []  # what acquiring did beyond taking a free lock, for the log
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.holder = dict(host=socket.gethostname(), pid=os.getpid(),
                           started=time.strftime('%Y-%m-%d %H:%M:%S'))
        self._stop = threading.Event()
        self._heartbeat: Optional[threading.Thread] = None

    def __enter__(self) -> 'WorkDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def acquire(self) -> None:
        os.makedirs(osp.dirname(self.path) or '.', exist_ok=True)
        for _ in range(3):  # a lost race for a stale lock is retried
            if self._create():
                break
            holder = self._read_holder()
            reason = self._stale_reason(holder)
            if reason is None:
                raise WorkDirInUse(
                    f'work_dir {osp.dirname(self.path)} is in use by PID {holder.get("pid")} on host '
                    f'{holder.get("host")} (since {holder.get("started")}, lock {self.path}). Wait for '
                    'that run to end or stop it, or train into another --work-dir')
            self.notes.append(f'took over the stale lock {self.path} of PID {holder.get("pid")} on host '
                       f'{holder.get("host")}: {reason}')
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
        else:
            raise WorkDirInUse(f'could not take the lock {self.path}: other runs keep taking it')
        self._heartbeat = threading.Thread(target=self._beat, name='WorkDirLock', daemon=True)
        self._heartbeat.start()

    def release(self) -> None:
        self._stop.set()
        if self._read_holder() == self.holder:
            os.remove(self.path)

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w') as f:
            json.dump(self.holder, f)
        return True

    def _read_holder(self) -> dict:
        try:
            with open(self.path) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):  # half-written by a killed holder
            return {'unreadable': True}

    def _stale_reason(self, holder: dict) -> Optional[str]:
        if not holder:
            return 'it was just removed'
        if holder.get('unreadable'):
            return 'it cannot be read'
        if holder.get('host') == self.holder['host']:
            pid = holder.get('pid')
            return None if isinstance(pid, int) and _pid_running(pid) else 'that process has ended'
        try:
            idle = time.time() - os.stat(self.path).st_mtime
        except FileNotFoundError:
            return 'it was just removed'
        if idle > self.stale_after_s:
            return f'not refreshed for {idle:.0f} s'
        return None

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except OSError:
                return
