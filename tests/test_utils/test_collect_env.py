"""``python -m mmdet_lite.utils.collect_env`` prints the environment, one ``key: value`` a line."""
import runpy

import pytest
import torch


# runpy warns that the package imported the module first (as MMDetection's does): harmless
@pytest.mark.filterwarnings('ignore:.*found in sys.modules:RuntimeWarning')
def test_running_the_module_prints_the_environment(capsys):
    runpy.run_module('mmdet_lite.utils.collect_env', run_name='__main__')
    lines = capsys.readouterr().out.splitlines()
    assert f'PyTorch: {torch.__version__}' in lines
    assert 'MMCV: 1.7.2' in lines
    assert any(line.startswith('mmdet_lite: ') for line in lines)
    assert lines[0].startswith('sys.platform: ')
