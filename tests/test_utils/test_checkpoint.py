"""Safe loading, atomic writes and checkpoint discovery."""
import os

import pytest
import torch

from mmdet_lite.utils.atomic_io import atomic_write_bytes, remove_stale_temp_files
from mmdet_lite.utils.checkpoint import (CheckpointError, _gpu_ids_in_config_text,
                                         find_latest_checkpoint, load_from_local)


def test_safe_loader_reads_tensors_and_plain_values(tmp_path):
    path = tmp_path / 'ok.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': {'CLASSES': ('a',), 'epoch': 1}}, path)
    loaded = load_from_local(str(path))
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))
    assert loaded['meta'] == {'CLASSES': ('a',), 'epoch': 1}


def test_safe_loader_refuses_a_pickled_callable(tmp_path):
    path = tmp_path / 'unsafe.pth'
    torch.save({'meta': {'hook': os.system}}, path)
    with pytest.raises(CheckpointError, match='unsafe.pth was refused.*weights_only=True'):
        load_from_local(str(path))


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'old')
    atomic_write_bytes(b'new contents', path)
    assert path.read_bytes() == b'new contents'
    assert [p.name for p in tmp_path.iterdir()] == ['epoch_1.pth']


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'old')

    def failing_fsync(fd):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'fsync', failing_fsync)
    with pytest.raises(OSError, match='disk full'):
        atomic_write_bytes(b'new', path)
    assert path.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['epoch_1.pth']


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    stale = [tmp_path / '.epoch_3.pth.0123456789ab.tmp', tmp_path / '.last_checkpoint.deadbeef0000.tmp']
    kept = [tmp_path / '.notes.tmp', tmp_path / 'epoch_3.pth', tmp_path / '.epoch_3.pth.XYZ456789abc.tmp']
    for path in stale + kept:
        path.write_bytes(b'x')
    assert sorted(remove_stale_temp_files(str(tmp_path))) == sorted(str(p) for p in stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


def test_find_latest_prefers_pointer_then_latest_then_highest_number(tmp_path):
    assert find_latest_checkpoint(str(tmp_path)) is None
    for name in ('epoch_2.pth', 'epoch_10.pth', 'iter_3.pth'):
        torch.save({'meta': {}}, tmp_path / name)
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_10.pth')
    os.symlink('epoch_2.pth', tmp_path / 'latest.pth')
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')
    (tmp_path / 'last_checkpoint').write_text('iter_3.pth\n')
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_3.pth')


@pytest.mark.parametrize('text, expected', [
    ('a = 1\ngpu_ids = range(0, 8)\nb = 2', list(range(8))),
    ('gpu_ids = [3]', [3]),
    ('gpu_ids = __import__("os").system("true")', None),
    ('seed = 0', None),
])
def test_gpu_ids_are_read_from_a_dumped_config_without_running_it(text, expected):
    assert _gpu_ids_in_config_text(text) == expected
