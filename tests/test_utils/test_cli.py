"""run_cli's one-line error messages."""
import pytest
from torch.utils.data import DataLoader, Dataset

from mmdet_lite.utils.cli import error_message, run_cli


class FailingDataset(Dataset):
    """Item 1 raises while handling another error (a chained traceback in the worker)."""

    def __len__(self):
        return 2

    def __getitem__(self, idx):
        if idx == 1:
            try:
                {}['missing']
            except KeyError:
                raise ValueError("cannot decode image file 'a.jpg'\nsecond line") from None
        return idx


def test_a_loader_worker_error_becomes_the_workers_own_message():
    with pytest.raises(ValueError) as error:
        list(DataLoader(FailingDataset(), num_workers=1))
    assert 'Original Traceback' in str(error.value)  # as torch re-raises it
    assert error_message(error.value) == ("cannot decode image file 'a.jpg'\nsecond line "
                                          '(in DataLoader worker process 0)')


def test_run_cli_prints_one_error_line_without_the_worker_traceback(capsys, monkeypatch):
    monkeypatch.delenv('MMDET_LITE_TRACEBACK', raising=False)

    def main(argv):
        list(DataLoader(FailingDataset(), num_workers=1))

    assert run_cli(main, 'tool.py') == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        "tool.py: error: ValueError: cannot decode image file 'a.jpg'")


def test_other_errors_keep_their_message():
    assert error_message(KeyError('k not found')) == 'k not found'
    assert error_message(ValueError('plain')) == 'plain'
