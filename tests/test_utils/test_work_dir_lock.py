"""One training run per work_dir: the lock names its holder; a stale one is taken over."""
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from mmdet_lite.utils.work_dir_lock import LOCK_FILE, WorkDirInUse, WorkDirLock


def write_lock(work_dir, host, pid):
    (work_dir / LOCK_FILE).write_text(json.dumps(dict(host=host, pid=pid, started='earlier')))


@pytest.fixture
def live_process():
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    yield proc
    proc.kill()
    proc.wait()


def test_the_lock_names_its_holder_and_is_gone_after_the_run(tmp_path):
    work_dir = tmp_path / 'new'
    with WorkDirLock(str(work_dir)) as lock:
        holder = json.loads((work_dir / LOCK_FILE).read_text())
        assert (holder['host'], holder['pid']) == (socket.gethostname(), os.getpid())
        assert lock.notes == []
    assert not (work_dir / LOCK_FILE).exists()


def test_a_lock_held_by_a_live_process_is_refused_and_left_as_it_was(tmp_path, live_process):
    write_lock(tmp_path, socket.gethostname(), live_process.pid)
    before = (tmp_path / LOCK_FILE).read_bytes()
    with pytest.raises(WorkDirInUse, match=f'in use by PID {live_process.pid} on host {socket.gethostname()}'):
        WorkDirLock(str(tmp_path)).acquire()
    assert (tmp_path / LOCK_FILE).read_bytes() == before


def test_the_lock_of_an_ended_process_on_this_host_is_taken_over_with_a_note(tmp_path):
    ended = subprocess.Popen([sys.executable, '-c', 'pass'])
    ended.wait()
    write_lock(tmp_path, socket.gethostname(), ended.pid)
    with WorkDirLock(str(tmp_path)) as lock:
        assert json.loads((tmp_path / LOCK_FILE).read_text())['pid'] == os.getpid()
        assert lock.notes == [f'took over the stale lock {tmp_path / LOCK_FILE} of PID {ended.pid} on '
                              f'host {socket.gethostname()}: that process has ended']


def test_another_hosts_lock_counts_while_it_is_refreshed(tmp_path):
    write_lock(tmp_path, 'other-node', 4242)
    with pytest.raises(WorkDirInUse, match='in use by PID 4242 on host other-node'):
        WorkDirLock(str(tmp_path), stale_after_s=300).acquire()
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path / LOCK_FILE, (an_hour_ago, an_hour_ago))
    with WorkDirLock(str(tmp_path), stale_after_s=300) as lock:
        assert re.search(r'of PID 4242 on host other-node: not refreshed for 360\d s$', lock.notes[0])


def test_the_holder_refreshes_the_lock(tmp_path):
    with WorkDirLock(str(tmp_path), heartbeat_s=0.05):
        an_hour_ago = time.time() - 3600
        os.utime(tmp_path / LOCK_FILE, (an_hour_ago, an_hour_ago))
        time.sleep(0.3)
        assert time.time() - os.stat(tmp_path / LOCK_FILE).st_mtime < 60
