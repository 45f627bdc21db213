# tiny.py slowed down so that a signal can land inside an iteration, an evaluation or a save.
_base_ = ['./tiny_slow_save.py']  # every fsync takes 0.5 s
runner = dict(max_epochs=2)
data = dict(train=dict(delay_s=0.03), val=dict(delay_s=0.15))
evaluation = dict(interval=1)
log_config = dict(interval=1)
