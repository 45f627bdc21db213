_base_ = ['./tiny.py']
custom_hooks = [dict(type='FailOnRankHook', rank=1, at_iter=2)]
runner = dict(max_epochs=3)
