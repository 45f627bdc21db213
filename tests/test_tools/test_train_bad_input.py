"""Bad input to tools/train.py: one clear message, non-zero exit, work_dir left as it was.

Each case stops before training, so most run ``main`` in this process (``run_tool_in_process``)."""
import pytest
import torch

from tests.conftest import REPO_ROOT, TINY_CONFIG
from tests.test_tools.conftest import TINY_COCO_CONFIG, data_root_options

CONFIGS = REPO_ROOT / 'tests' / 'data' / 'configs'


@pytest.fixture
def earlier_work_dir(tmp_path):
    """A work_dir holding an earlier run's files, to check that a failed run leaves them be."""
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    files = {'tiny.py': 'earlier dump\n', 'epoch_1.pth': 'earlier weights',
             '20200101_000000.log': 'earlier log\n'}
    for name, text in files.items():
        (work_dir / name).write_text(text)
    return work_dir, files


def assert_untouched(work_dir, files):
    names = {p.name for p in work_dir.iterdir() if not p.name.endswith('.log')}
    assert names == {n for n in files if not n.endswith('.log')}
    for name, text in files.items():
        assert (work_dir / name).read_text() == text


def assert_one_screen_error(result, *fragments):
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr
    assert len(result.stderr.splitlines()) <= 25
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def test_missing_config_file(train_in_process, tmp_path):
    missing = tmp_path / 'nope.py'
    result = train_in_process(missing)
    assert_one_screen_error(result, f'config file {missing} does not exist')


def test_config_syntax_error_names_file_and_line(run_train, earlier_work_dir):
    """A subprocess: the stderr of the whole process counts, and mmcv leaves a temporary file
    object behind whose finalizer would print a traceback at interpreter exit."""
    work_dir, files = earlier_work_dir
    result = run_train(CONFIGS / 'syntax_error.py', '--work-dir', work_dir)
    assert_one_screen_error(result, 'SyntaxError', 'syntax_error.py', 'line 2')
    assert_untouched(work_dir, files)


def test_unknown_type_names_registry_and_type(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(CONFIGS / 'unknown_type.py', '--work-dir', work_dir, '--no-validate')
    assert_one_screen_error(result, 'NoSuchDetector is not in the models registry')
    assert_untouched(work_dir, files)


def test_malformed_cfg_option_is_rejected(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--cfg-options', 'optimizer.lr')
    assert result.returncode == 2
    assert '--cfg-options expects KEY=VALUE pairs, got optimizer.lr' in result.stderr
    assert_untouched(work_dir, files)


def test_resume_from_missing_file(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    missing = work_dir / 'epoch_9.pth'
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--resume-from', missing)
    assert_one_screen_error(result, f'checkpoint file {missing} does not exist')
    assert_untouched(work_dir, files)


def test_resume_from_corrupt_file(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--resume-from',
                              work_dir / 'epoch_1.pth')
    assert_one_screen_error(result, 'epoch_1.pth is truncated or corrupt')
    assert_untouched(work_dir, files)


def test_resume_from_checkpoint_with_pickled_callable_is_refused(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    unsafe = work_dir.parent / 'unsafe.pth'
    torch.save({'state_dict': {}, 'meta': {'epoch': 1, 'iter': 1, 'hook': print}}, unsafe)
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--resume-from', unsafe)
    assert_one_screen_error(result, 'unsafe.pth was refused', 'weights_only=True')
    assert_untouched(work_dir, files)


def test_load_from_checkpoint_with_pickled_callable_is_refused(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    unsafe = work_dir.parent / 'unsafe.pth'
    torch.save({'state_dict': {'fc.weight': torch.zeros(1)}, 'extra': print}, unsafe)
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--cfg-options', f'load_from={unsafe}')
    assert_one_screen_error(result, 'unsafe.pth was refused')
    assert_untouched(work_dir, files)


def test_work_dir_that_is_a_file(train_in_process, tmp_path):
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('keep me')
    result = train_in_process(TINY_CONFIG, '--work-dir', not_a_dir)
    assert_one_screen_error(result, f'work_dir {not_a_dir} exists and is not a directory')
    assert not_a_dir.read_text() == 'keep me'


def test_pytorch_launcher_without_torchrun_environment(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--launcher', 'pytorch')
    # LOCAL_RANK is never missing: train.py sets it from --local_rank, as MMDetection does.
    assert_one_screen_error(result, '--launcher pytorch needs the environment variables RANK, '
                            'WORLD_SIZE, MASTER_ADDR, MASTER_PORT')
    assert_untouched(work_dir, files)


def test_gpus_without_cuda_is_a_clear_error(train_in_process, earlier_work_dir):
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--gpus', '2')
    assert_one_screen_error(result, 'CUDA is not available')
    assert_untouched(work_dir, files)


def test_num_classes_that_disagree_with_the_dataset(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(CONFIGS / 'num_classes_mismatch.py', '--work-dir', work_dir,
                              '--no-validate')
    assert_one_screen_error(result, 'The `num_classes` (5) in TinyTestDetector',
                            'does not matches the length of `CLASSES` 3) in TinyTestDataset')
    assert_untouched(work_dir, files)


def test_an_empty_training_set_is_refused_before_the_work_dir_is_written(train_in_process,
                                                                           earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--no-validate', '--cfg-options',
                              'data.train.num_samples=0')
    assert_one_screen_error(result, 'data.train: the training dataset is empty (TinyTestDataset')
    assert_untouched(work_dir, files)


# Bad data: a COCO-format sample under tmp_path (``coco_root``), trained by tiny_coco.py.
@pytest.fixture
def earlier_coco_work_dir(tmp_path):
    """A work_dir holding an earlier tiny_coco.py run's files, and their bytes."""
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    for name, data in {'tiny_coco.py': b'earlier dump\n', 'epoch_1.pth': b'earlier weights',
                       'latest.pth': b'earlier weights', '20200101_000000.log': b'earlier log\n',
                       '20200101_000000.log.json': b'{"mode": "train"}\n'}.items():
        (work_dir / name).write_bytes(data)
    return work_dir, snapshot(work_dir)


def snapshot(directory):
    """Every file under ``directory`` (relative path -> bytes)."""
    return {str(path.relative_to(directory)): path.read_bytes()
            for path in sorted(directory.rglob('*')) if path.is_file()}


def test_train_ann_file_that_is_not_json_is_named_with_line_and_column(
        train_in_process, coco_root, earlier_coco_work_dir):
    work_dir, before = earlier_coco_work_dir
    (coco_root / 'train.json').write_text('{"images": [\n  {"id": 1,,}]}')
    result = train_in_process(TINY_COCO_CONFIG, '--work-dir', work_dir,
                              *data_root_options(coco_root))
    assert_one_screen_error(result, f'train.py: error: ValueError: CocoDataset: {coco_root}/'
                            'train.json is not valid JSON: Expecting property name enclosed in '
                            'double quotes at line 2, column 12\n')
    assert snapshot(work_dir) == before


def test_missing_val_ann_file_fails_before_the_work_dir_is_written(
        train_in_process, coco_root, earlier_coco_work_dir):
    """The evaluation hook's dataset is built with the train datasets, before the config dump
    that would overwrite the earlier run's."""
    work_dir, before = earlier_coco_work_dir
    (coco_root / 'val.json').unlink()
    result = train_in_process(TINY_COCO_CONFIG, '--work-dir', work_dir,
                              *data_root_options(coco_root))
    assert_one_screen_error(result, f"ann_file '{coco_root}/val.json' does not exist")
    assert snapshot(work_dir) == before


def test_missing_and_empty_val_images_are_listed_before_the_work_dir_is_written(
        train_in_process, coco_root, earlier_coco_work_dir):
    work_dir, before = earlier_coco_work_dir
    (coco_root / 'val' / '0.jpg').write_bytes(b'')
    (coco_root / 'val' / '1.jpg').unlink()
    result = train_in_process(TINY_COCO_CONFIG, '--work-dir', work_dir,
                              *data_root_options(coco_root))
    assert_one_screen_error(result, f"train.py: error: FileNotFoundError: CocoDataset: "
                            f"{coco_root}/val.json: 2 of 2 image files are missing or empty under "
                            f"img_prefix='{coco_root}/val/': 0.jpg (0 bytes), 1.jpg (missing)\n")
    assert snapshot(work_dir) == before


def test_no_validate_does_not_build_the_val_dataset(train_in_process, coco_root, tmp_path):
    (coco_root / 'val.json').unlink()
    (coco_root / 'train' / '3.jpg').unlink()  # stops the run at the train dataset's check
    result = train_in_process(TINY_COCO_CONFIG, '--work-dir', tmp_path / 'work', '--no-validate',
                              *data_root_options(coco_root))
    assert_one_screen_error(result, '1 of 4 image files are missing or empty', '3.jpg (missing)')
    assert 'val.json' not in result.stderr


def truncate(path):
    path.write_bytes(path.read_bytes()[:300])


def test_corrupt_image_met_in_training_stops_with_one_line_naming_it(train_in_process, coco_root,
                                                                      tmp_path):
    """A real run, whose loader worker meets the truncated file."""
    truncate(coco_root / 'train' / '2.jpg')
    work_dir = tmp_path / 'work'
    result = train_in_process(TINY_COCO_CONFIG, '--work-dir', work_dir, '--no-validate', '--seed', '0',
                              *data_root_options(coco_root))
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert (f"train.py: error: CorruptImageError: cannot decode image file '{coco_root}/train/"
            "2.jpg' (300 bytes): unreadable or truncated image (in DataLoader worker process 0)\n"
            ) in result.stderr
    [log] = work_dir.glob('*.log')
    assert 'Original Traceback (most recent call last)' in log.read_text()  # kept for a report


def test_skip_corrupt_images_trains_on_and_counts_skips_in_the_log(train_in_process, coco_root,
                                                                    tmp_path):
    truncate(coco_root / 'train' / '2.jpg')
    work_dir = tmp_path / 'work'
    result = train_in_process(TINY_COCO_CONFIG, '--work-dir', work_dir, '--no-validate', '--seed', '0',
                              *data_root_options(coco_root), 'data.train.skip_corrupt_images=True')
    assert result.returncode == 0, result.stderr
    [log] = work_dir.glob('*.log')
    skips = [line for line in log.read_text().splitlines() if 'skipped a corrupt image' in line]
    # one epoch of 4 images in batches of 2: each index is drawn once, 2.jpg skipped once
    assert len(skips) == 1
    assert skips[0].endswith(
        "CocoDataset: skipped a corrupt image (skip_corrupt_images=True): cannot decode image "
        f"file '{coco_root}/train/2.jpg' (300 bytes): unreadable or truncated image; 1 skipped "
        'in this run so far')
    assert (work_dir / 'epoch_1.pth').is_file()


def test_an_unknown_compile_key_is_refused_before_the_work_dir_is_written(train_in_process, earlier_work_dir):
    work_dir, files = earlier_work_dir
    result = train_in_process(TINY_CONFIG, '--work-dir', work_dir, '--cfg-options', 'compile.neks=True')
    assert_one_screen_error(result, "compile: unknown key(s) ['neks']")
    assert_untouched(work_dir, files)
