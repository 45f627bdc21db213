_base_ = ['./tiny.py']
runner = dict(_delete_=True, type='IterBasedRunner', max_iters=10)
checkpoint_config = dict(interval=4)
lr_config = dict(step=[5])
