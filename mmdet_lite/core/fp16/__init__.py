from .autocast import auto_fp16, autocast_dtype, cast_to_fp32, enable_autocast, force_fp32
from .amp_optimizer_hook import AmpOptimizerHook

__all__ = ['auto_fp16', 'autocast_dtype', 'cast_to_fp32', 'enable_autocast', 'force_fp32', 'AmpOptimizerHook']
