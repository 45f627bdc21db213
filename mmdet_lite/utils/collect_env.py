import os.path as osp
import subprocess

from mmcv.utils import collect_env as collect_base_env

import mmdet_lite


def get_git_hash(digits: int = 7) -> str:
    """Short git hash of the mmdet_lite source checkout, '' when it is not one.

    MMDetection 2.x asks git in the current directory, so it records the hash of
    whatever repository the user runs from; this looks at mmdet_lite's own tree.
    """
    package_dir = osp.dirname(osp.abspath(mmdet_lite.__file__))
    try:
        out = subprocess.run(['git', '-C', package_dir, 'rev-parse', 'HEAD'],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ''
    return out.stdout.strip()[:digits] if out.returncode == 0 else ''


def collect_env() -> dict:
    """mmcv's environment keys plus this package's version and git hash."""
    env_info = collect_base_env()
    env_info['mmdet_lite'] = mmdet_lite.__version__ + '+' + get_git_hash()
    return env_info


if __name__ == '__main__':
    for name, value in collect_env().items():
        print(f'{name}: {value}')
