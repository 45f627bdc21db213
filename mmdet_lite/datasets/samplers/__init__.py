from .distributed_sampler import DistributedSampler
from .group_sampler import DistributedGroupSampler, GroupSampler

__all__ = ['DistributedSampler', 'DistributedGroupSampler', 'GroupSampler']
