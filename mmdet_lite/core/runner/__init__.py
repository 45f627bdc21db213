from .epoch_based_runner import EpochBasedRunner

__all__ = ['EpochBasedRunner']
