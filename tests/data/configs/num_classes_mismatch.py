_base_ = ['./tiny.py']
model = dict(num_classes=5)
custom_hooks = [dict(type='NumClassCheckHook')]
