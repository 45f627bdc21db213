from .class_aware_sampler import ClassAwareSampler
from .distributed_sampler import DistributedSampler
from .group_sampler import DistributedGroupSampler, GroupSampler
from .infinite_sampler import InfiniteBatchSampler, InfiniteGroupBatchSampler
from .sample_seed import SeededIndex, SeededSampler, sample_rng

__all__ = ['ClassAwareSampler', 'DistributedSampler', 'DistributedGroupSampler', 'GroupSampler',
           'InfiniteBatchSampler', 'InfiniteGroupBatchSampler', 'SeededIndex', 'SeededSampler', 'sample_rng']
