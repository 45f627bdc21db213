from .anchor import *  # noqa: F401,F403
from .bbox import *  # noqa: F401,F403
# as ``from mmdet.core import EvalHook`` in 2.x; ``bbox_overlaps`` stays the tensor one of core.bbox
from .evaluation import (DistEvalHook, EvalHook, average_precision, eval_map, eval_recalls,  # noqa: F401
                         print_map_summary)
from .hook import *  # noqa: F401,F403
from .mask import *  # noqa: F401,F403
from .post_processing import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
