"""Safe loading, atomic writes and checkpoint discovery."""
import errno
import logging
import os

import pytest
import torch

from mmdet_lite.utils import atomic_io
from mmdet_lite.utils.atomic_io import WriteError, atomic_write_bytes, remove_stale_temp_files
from mmdet_lite.utils.checkpoint import (CheckpointError, _gpu_ids_in_config_text, check_fits_model,
                                         find_latest_checkpoint, load_from_local,
                                         load_state_dict_reporting, match_state_dict)


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


# TinyTestDetector(num_classes=C) holds conv.weight, conv.bias, bn.{weight, bias, running_mean,
# running_var} and fc.weight (4 + C, 8), fc.bias (4 + C,): 8 counted tensors (num_batches_tracked aside).
def tiny_detector(num_classes=3):
    from tests.fixtures.tiny_components import TinyTestDetector
    return TinyTestDetector(num_classes=num_classes)


def save_resumable(path, model):
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 1, 'iter': 6}}, path)


OTHER_CONFIG_SHAPES = ('fc.weight: checkpoint [9, 8], model [7, 8]; fc.bias: checkpoint [9], model [7]')


def test_match_counts_loaded_missing_unexpected_and_mismatched():
    source = {k: v for k, v in tiny_detector(num_classes=5).state_dict().items() if not k.startswith('bn.')}
    source['extra.w'] = torch.zeros(1)
    match = match_state_dict(tiny_detector(), source)
    assert match.loaded == ['conv.weight', 'conv.bias']
    assert match.missing == ['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var']
    assert match.unexpected == ['extra.w']
    assert match.summary() == (
        'loaded 2 of 8 tensors of TinyTestDetector, 4 missing, 1 unexpected, 2 shape-mismatched '
        '(missing: bn.weight, bn.bias, bn.running_mean; unexpected: extra.w; '
        f'shape-mismatched: {OTHER_CONFIG_SHAPES})')


def test_reporting_load_takes_what_fits_and_logs_one_line(caplog):
    model, other = tiny_detector(), tiny_detector(num_classes=5)
    fc_before = model.fc.weight.detach().clone()
    with caplog.at_level(logging.INFO, logger='test_ckpt'):
        load_state_dict_reporting(model, other.state_dict(), 'checkpoint file x.pth',
                                  logger=logging.getLogger('test_ckpt'))
    assert torch.equal(model.conv.weight, other.conv.weight)
    assert torch.equal(model.bn.running_var, other.bn.running_var)
    assert torch.equal(model.fc.weight, fc_before)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [(
        'WARNING', 'checkpoint file x.pth: loaded 6 of 8 tensors of TinyTestDetector, 0 missing, '
                   f'0 unexpected, 2 shape-mismatched (shape-mismatched: {OTHER_CONFIG_SHAPES})')]


def test_checkpoint_of_another_config_does_not_fit(tmp_path):
    path = tmp_path / 'other.pth'
    save_resumable(path, tiny_detector(num_classes=5))
    with pytest.raises(CheckpointError) as error:
        check_fits_model(tiny_detector(), str(path))
    assert str(error.value) == (
        f"checkpoint file {path} does not fit TinyTestDetector: 2 of its tensors have other shapes "
        f"than the model's ({OTHER_CONFIG_SHAPES}). Was it saved with another config? To start "
        'from its weights instead, use load_from')


def test_a_checkpoint_missing_most_tensors_does_not_fit_half_does(tmp_path):
    state = tiny_detector().state_dict()
    most_missing, half_missing = tmp_path / 'conv_only.pth', tmp_path / 'no_bn.pth'
    torch.save({'state_dict': {k: v for k, v in state.items() if k.startswith('conv.')}}, most_missing)
    torch.save({'state_dict': {k: v for k, v in state.items() if not k.startswith('bn.')}}, half_missing)
    with pytest.raises(CheckpointError, match=r"conv_only.pth does not fit TinyTestDetector: 6 of "
                                              r"the model's 8 tensors are missing \(bn.weight, "):
        check_fits_model(tiny_detector(), str(most_missing))
    check_fits_model(tiny_detector(), str(half_missing))  # 4 of 8 missing: not most


def test_find_latest_warns_when_last_checkpoint_names_a_missing_file(tmp_path):
    torch.save({'meta': {}}, tmp_path / 'epoch_1.pth')
    (tmp_path / 'last_checkpoint').write_text('epoch_2.pth\n')
    warnings = []
    assert find_latest_checkpoint(str(tmp_path), warn=warnings.append) == str(tmp_path / 'epoch_1.pth')
    assert warnings == [f'auto-resume: {tmp_path / "last_checkpoint"} names '
                        f'{tmp_path / "epoch_2.pth"}, which does not exist']


def test_find_latest_skips_a_checkpoint_of_another_model(tmp_path):
    save_resumable(tmp_path / 'epoch_1.pth', tiny_detector())
    save_resumable(tmp_path / 'epoch_2.pth', tiny_detector(num_classes=5))
    warnings = []
    found = find_latest_checkpoint(str(tmp_path), warn=warnings.append, model=tiny_detector())
    assert found == str(tmp_path / 'epoch_1.pth')
    assert len(warnings) == 1
    assert warnings[0].startswith(f'auto-resume skips {tmp_path / "epoch_2.pth"}: checkpoint file '
                                  f'{tmp_path / "epoch_2.pth"} does not fit TinyTestDetector')


def test_find_latest_stops_when_every_checkpoint_is_refused_unless_starting_fresh(tmp_path):
    save_resumable(tmp_path / 'epoch_1.pth', tiny_detector(num_classes=5))
    (tmp_path / 'epoch_2.pth').write_bytes(b'truncated')
    with pytest.raises(CheckpointError) as error:
        find_latest_checkpoint(str(tmp_path), model=tiny_detector())
    lines = str(error.value).splitlines()
    assert lines[0] == f'auto-resume: every checkpoint in {tmp_path} was refused:'
    assert lines[1].startswith(f'  - checkpoint file {tmp_path / "epoch_2.pth"} is truncated or corrupt')
    assert lines[2].startswith(f'  - checkpoint file {tmp_path / "epoch_1.pth"} does not fit')
    assert lines[3].endswith('or pass --start-fresh-if-refused to train from scratch (the new run '
                             'then overwrites their names)')
    assert find_latest_checkpoint(str(tmp_path), model=tiny_detector(), start_fresh=True) is None


@pytest.mark.parametrize('code, failing', [
    (errno.EROFS, 'open'), (errno.EACCES, 'open'), (errno.ENOSPC, 'fsync'), (errno.EFBIG, 'fsync'),
    (errno.ENOSPC, 'replace')])
def test_failed_write_names_the_path_and_keeps_the_previous_file(tmp_path, monkeypatch, code, failing):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'old')

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if failing == 'open':  # tests run as root: chmod cannot make the directory read-only
        monkeypatch.setattr(atomic_io, 'open', fail, raising=False)
    else:
        monkeypatch.setattr(os, failing, fail)
    with pytest.raises(WriteError) as error:
        atomic_write_bytes(b'new', path)
    assert error.value.errno == code
    assert str(error.value) == (f'cannot write {path}: {os.strerror(code)} ({errno.errorcode[code]}); '
                                'the previous file, if any, is unchanged')
    assert path.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['epoch_1.pth']


def test_checkpoint_save_on_a_full_disk_names_the_checkpoint(tmp_path, monkeypatch):
    from mmcv.runner import save_checkpoint
    path = tmp_path / 'epoch_2.pth'

    def disk_full(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', disk_full)
    with pytest.raises(WriteError, match=f'^cannot write {path}: No space left on device '
                                         r'\(ENOSPC\); the previous file'):
        save_checkpoint(tiny_detector(), str(path))
    assert list(tmp_path.iterdir()) == []
