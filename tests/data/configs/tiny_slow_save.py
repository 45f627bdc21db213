_base_ = ['./tiny.py']
custom_imports = dict(imports=['tests.fixtures.tiny_components', 'tests.fixtures.slow_fsync'],
                      allow_failed_imports=False)
runner = dict(max_epochs=4)
