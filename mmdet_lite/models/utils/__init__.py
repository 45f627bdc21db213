from .res_layer import ResLayer, SimplifiedBasicBlock

__all__ = ['ResLayer', 'SimplifiedBasicBlock']
