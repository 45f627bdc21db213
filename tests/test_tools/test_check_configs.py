"""tools/analysis_tools/check_configs.py over a folder of three small configs (CPU, in this process)."""
import re

from tests.conftest import REPO_ROOT, run_in_process

TOY_CONFIG = REPO_ROOT / 'configs' / 'toy' / 'faster_rcnn_r18_fpn_toy.py'
# The toy detector made smaller still: 8-channel ResNet-18, 16-channel FPN and heads.
TINY_FASTER_RCNN = f"""_base_ = '{TOY_CONFIG}'
model = dict(
    backbone=dict(base_channels=8, norm_cfg=dict(num_groups=4)),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=16),
                  bbox_head=dict(in_channels=16, fc_out_channels=32)))
"""


def write_configs(folder):
    """good.py (a tiny FasterRCNN), misspelt.py (its sampler given ``add_gt_as_proposal``),
    retinanet.py (another detector type), and a _base_/ file that must not be checked."""
    (folder / '_base_').mkdir(parents=True)
    (folder / '_base_' / 'base.py').write_text("model = dict(type='FasterRCNN')\n")
    (folder / 'good.py').write_text(TINY_FASTER_RCNN)
    (folder / 'misspelt.py').write_text(
        "_base_ = './good.py'\n"
        "model = dict(train_cfg=dict(rcnn=dict(sampler=dict(add_gt_as_proposal=False))))\n")
    (folder / 'retinanet.py').write_text("model = dict(type='RetinaNet')\n")


def test_check_configs_prints_a_line_a_config_and_the_totals_and_fails(tmp_path):
    write_configs(tmp_path / 'configs')
    log = tmp_path / 'failures.log'
    result = run_in_process('analysis_tools/check_configs.py', tmp_path / 'configs', '--img-size', 64,
                            '--log', log)
    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert lines[0].startswith('Pretrained weights are not loaded')
    assert re.fullmatch(r'OK   \S+/configs/good\.py  \d+\.\ds  loss=\d+\.\d{4}', lines[1])
    assert re.fullmatch(r"FAIL \S+/configs/misspelt\.py  TypeError: .*RandomSampler.*unexpected keyword "
                        r"argument 'add_gt_as_proposal'", lines[2])
    assert lines[3] == '1 of 2 configs OK, 1 failed, 1 skipped (type not in FasterRCNN,RPN,FastRCNN)'
    assert len(lines) == 4
    assert 'Traceback' not in result.stdout + result.stderr
    assert 'check_configs.py: 1 of 2 configs failed' in result.stderr
    assert 'misspelt.py' in log.read_text() and 'Traceback' in log.read_text()


def test_check_configs_is_seeded_and_exits_0_when_all_pass(tmp_path):
    write_configs(tmp_path / 'configs')
    (tmp_path / 'configs' / 'misspelt.py').unlink()
    first, second = (run_in_process('analysis_tools/check_configs.py', tmp_path / 'configs', '--img-size',
                                    64, '--types', 'FasterRCNN') for _ in range(2))
    assert first.returncode == second.returncode == 0
    loss = [re.search(r'loss=(\S+)', result.stdout).group(1) for result in (first, second)]
    assert loss[0] == loss[1]
    assert first.stdout.splitlines()[-1] == '1 of 1 configs OK, 0 failed, 1 skipped (type not in FasterRCNN)'


def test_a_misspelt_type_is_refused_naming_it_instead_of_skipping_everything(tmp_path):
    write_configs(tmp_path / 'configs')
    result = run_in_process('analysis_tools/check_configs.py', tmp_path / 'configs', '--types', 'FasterRCN,RPN')
    assert result.returncode == 1 and 'OK' not in result.stdout
    assert "--types FasterRCN: not a registered detector type" in result.stderr
