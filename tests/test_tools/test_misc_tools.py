"""tools/misc/print_config.py and tools/model_converters/publish_model.py (in this process)."""
import hashlib

import torch
from mmcv import Config

from tests.conftest import REPO_ROOT, assert_same_weights, read_checkpoint

TOY_CONFIG = REPO_ROOT / 'configs' / 'toy' / 'faster_rcnn_r18_fpn_toy.py'


def test_print_config_prints_the_merged_config(run_tool_in_process):
    result = run_tool_in_process('misc/print_config.py', TOY_CONFIG, '--cfg-options',
                                 'optimizer.lr=0.5')
    assert result.returncode == 0, result.stderr
    expected = Config.fromfile(str(TOY_CONFIG))
    expected.merge_from_dict({'optimizer.lr': 0.5})
    assert result.stdout == f'Config:\n{expected.pretty_text}\n'
    assert 'lr=0.5' in result.stdout and "depth=18" in result.stdout  # _base_ merged, option applied


def test_print_config_missing_file(run_tool_in_process, tmp_path):
    result = run_tool_in_process('misc/print_config.py', tmp_path / 'none.py')
    assert result.returncode == 1
    assert f'config file {tmp_path / "none.py"} does not exist' in result.stderr


def test_publish_model_drops_the_optimizer_and_names_the_hash(run_tool_in_process, tmp_path):
    state_dict = {'conv.weight': torch.randn(2, 3), 'conv.bias': torch.zeros(2)}
    source = tmp_path / 'latest.pth'
    torch.save(dict(meta=dict(epoch=3, CLASSES=('a', 'b')), state_dict=state_dict,
                    optimizer=dict(state={}, param_groups=[dict(lr=0.1, params=[0, 1])])), source)
    result = run_tool_in_process('model_converters/publish_model.py', source, tmp_path / 'model.pth')
    assert result.returncode == 0, result.stderr
    (published,) = tmp_path.glob('model-*.pth')
    assert published.name == f'model-{hashlib.sha256(published.read_bytes()).hexdigest()[:8]}.pth'
    assert result.stdout == f'published {published}\n'
    checkpoint = read_checkpoint(published)  # weights_only=True
    assert set(checkpoint) == {'meta', 'state_dict'} and checkpoint['meta']['epoch'] == 3
    assert_same_weights(state_dict, checkpoint['state_dict'])


def test_publish_model_refuses_an_unsafe_checkpoint(run_tool_in_process, tmp_path):
    source = tmp_path / 'unsafe.pth'
    torch.save(dict(state_dict={}, meta=dict(hook=print)), source)
    result = run_tool_in_process('model_converters/publish_model.py', source, tmp_path / 'out.pth')
    assert result.returncode == 1 and 'unsafe.pth was refused' in result.stderr
    assert not list(tmp_path.glob('out*'))
