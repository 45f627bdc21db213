import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'mmdet_lite', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmdet_lite',
    version=read_version(),
    description="MMDetection 2.x's training workflow (configs, checkpoints, Faster R-CNN) "
                'on current PyTorch, on CPU or GPU',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmdet_lite', 'mmdet_lite.*']),
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.1,<3',
        'torchvision>=0.16',
        'mmcv>=1.7.0,<1.8',
        'numpy>=1.23',
        'pycocotools>=2.0.6',
        'opencv-python>=4.5',
        'matplotlib>=3.5',
        'addict>=2.4',
        'yapf>=0.30,<=0.40.1',
    ],
    # requirements/tests.txt and optional.txt pin the tested versions; the reasons for the upper
    # bounds are written there.
    extras_require={
        'tests': ['pytest>=7', 'tensorboard>=2.12'],
        'optional': ['tensorboard>=2.12', 'wandb>=0.15', 'mlflow>=2.9,<3', 'SQLAlchemy<2.1'],
    },
    zip_safe=False,
)
