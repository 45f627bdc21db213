"""Safe reading of the detection results ``tools/test.py --out`` pickles.

A pickle can run any code while it loads; a results file only needs lists, tuples, dicts,
numbers and numpy arrays. :func:`load_results` unpickles with exactly those (as
``torch.load(weights_only=True)`` does for checkpoints) and names the file in every error.
"""
import io
import os.path as osp
import pickle
from typing import List

# The globals numpy arrays, dtypes and scalars pickle through (numpy 1.x and 2.x module names);
# protocol 5 writes arrays through _frombuffer; protocol 2 (mmcv.dump's) writes bytes as
# _codecs.encode(str, 'latin1') or bytes().
_ALLOWED_GLOBALS = {
    *((module, name) for module in ('numpy.core.multiarray', 'numpy._core.multiarray')
      for name in ('_reconstruct', 'scalar')),
    *((module, '_frombuffer') for module in ('numpy.core.numeric', 'numpy._core.numeric')),
    ('numpy', 'ndarray'), ('numpy', 'dtype'), ('_codecs', 'encode'), ('builtins', 'bytes'),
}


class _ResultsUnpickler(pickle.Unpickler):

    def find_class(self, module: str, name: str):
        if module == '__builtin__':  # Python 2's name, which protocol 2 writes
            module = 'builtins'
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f'{module}.{name}')
        return super().find_class(module, name)


def load_results(path: str) -> list:
    """The per-image results list pickled at ``path`` (``.pkl`` / ``.pickle``), read without
    running code; ``ValueError`` / ``FileNotFoundError`` name the file and what is wrong."""
    if not path.endswith(('.pkl', '.pickle')):
        raise ValueError(f'results file {path}: expected a .pkl file, as tools/test.py --out '
                         'writes')
    if not osp.isfile(path):
        raise FileNotFoundError(f'results file {path} does not exist')
    with open(path, 'rb') as f:
        data = f.read()
    try:
        results = _ResultsUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as error:
        reason = str(error)
        if '.' in reason and ' ' not in reason:
            raise ValueError(f'results file {path} was refused: it holds {reason}, which only '
                             'unsafe unpickling can rebuild; a results file holds lists of numpy '
                             'arrays') from None
        raise ValueError(f'results file {path} is not a readable pickle ({reason})') from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f'results file {path} is truncated or corrupt '
                         f'({type(error).__name__}: {error})') from None
    if not isinstance(results, list):
        raise ValueError(f'results file {path} holds a {type(results).__name__}, not the list of '
                         'per-image results tools/test.py --out writes')
    return results


def check_results_length(results: List, dataset, path: str, config: str) -> None:
    """Raise ``ValueError`` unless ``results`` holds one entry per image of ``dataset``."""
    if len(results) != len(dataset):
        raise ValueError(f'results file {path} holds results of {len(results)} images, but '
                         f'data.test of {config} has {len(dataset)}: were they written with '
                         'another config or dataset?')
