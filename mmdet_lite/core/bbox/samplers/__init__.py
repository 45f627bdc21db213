from .base_sampler import BaseSampler
from .pseudo_sampler import PseudoSampler
from .random_sampler import RandomSampler
from .sampling_result import SamplingResult
from .score_hlr_sampler import ScoreHLRSampler

__all__ = ['BaseSampler', 'PseudoSampler', 'RandomSampler', 'SamplingResult', 'ScoreHLRSampler']
