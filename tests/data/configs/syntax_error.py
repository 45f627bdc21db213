_base_ = ['./tiny.py']
optimizer = dict(type='SGD', lr=0.01
runner = dict(max_epochs=1)
