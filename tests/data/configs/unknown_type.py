_base_ = ['./tiny.py']
model = dict(type='NoSuchDetector', _delete_=True)
