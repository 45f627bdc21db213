_base_ = ['./tiny.py']
custom_hooks = [dict(type='RankWeightsDumpHook')]
