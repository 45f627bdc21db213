"""Registries and builders for box assigners, samplers and coders."""
from typing import Any

from mmcv.utils import Registry, build_from_cfg

BBOX_ASSIGNERS = Registry('bbox_assigner')
BBOX_SAMPLERS = Registry('bbox_sampler')
BBOX_CODERS = Registry('bbox_coder')


def build_assigner(cfg: dict, **default_args: Any):
    """Builder of box assigner."""
    return build_from_cfg(cfg, BBOX_ASSIGNERS, default_args)


def build_sampler(cfg: dict, **default_args: Any):
    """Builder of box sampler."""
    return build_from_cfg(cfg, BBOX_SAMPLERS, default_args)


def build_bbox_coder(cfg: dict, **default_args: Any):
    """Builder of box coder."""
    return build_from_cfg(cfg, BBOX_CODERS, default_args)
