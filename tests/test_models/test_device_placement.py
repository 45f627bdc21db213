"""Device placement checked on the CPU: no tensor made on the host meets the model's tensors.

On a GPU, ``x + torch.arange(n)`` with ``x`` on the device fails ("Expected all tensors to be on the same
device"). On the CPU both are CPU tensors and the bug is invisible, and this project's CI has no GPU.
``HostTensorCheck`` tracks what a GPU run would put where: tensors that existed before the check (the
parameters, the batch the scatter hands over) are on the device; one a factory makes without
``device=`` (``torch.arange``, ``torch.tensor``, ``torch.from_numpy``, ...) is on the host, and so is
whatever is computed from host tensors alone, until ``.to(device)``. An operation that takes a host
tensor of one or more dimensions together with a device tensor is reported at the project line that
called it. Indexing a device tensor with host indices is allowed, as on CUDA, and so are 0-d host
tensors.
"""
import collections
import traceback
import weakref

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from mmdet_lite.core.fp16 import enable_autocast
from mmdet_lite.datasets.pipelines import Compose
from mmdet_lite.datasets.utils import device_preprocess_settings
from mmdet_lite.models.detectors import DetDataPreprocessor

from .test_data_preprocessor import _batch as _pipeline_batch, _pipeline_cfg
from .test_on_device import _batch, _model

FACTORIES = {torch.arange, torch.zeros, torch.ones, torch.full, torch.empty, torch.tensor, torch.as_tensor,
             torch.rand, torch.randn, torch.randint, torch.randperm, torch.eye, torch.linspace,
             torch.scalar_tensor}
SAME_DEVICE_AS_FIRST = {torch.zeros_like, torch.ones_like, torch.full_like, torch.empty_like, torch.rand_like,
                        torch.randn_like, torch.randint_like, torch.Tensor.new_tensor, torch.Tensor.new_zeros,
                        torch.Tensor.new_ones, torch.Tensor.new_full, torch.Tensor.new_empty}
MOVES = (torch.Tensor.to, torch.Tensor.type_as, torch.Tensor.cuda, torch.Tensor.cpu, torch.Tensor.pin_memory)


def _tensors(value, found):
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _tensors(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _tensors(item, found)
    return found


def _project_line() -> str:
    for frame in reversed(traceback.extract_stack()):
        if '/mmdet_lite/' in frame.filename:
            return f'{frame.filename.rsplit("/mmdet_lite/", 1)[1]}:{frame.lineno} {frame.name}'
    return '(outside mmdet_lite)'


class HostTensorCheck(TorchFunctionMode):
    """Within ``with HostTensorCheck() as check:``, ``check.mixed`` counts (function, line) pairs
    where a host tensor met a device tensor."""

    def __init__(self):
        super().__init__()
        self.mixed = collections.Counter()
        self._host = {}  # id -> weakref of each host tensor

    def __enter__(self):
        self._from_numpy = torch.from_numpy  # takes no tensor, so the mode does not see it

        def from_numpy(array):
            return self._mark(self._from_numpy(array), host=True)

        torch.from_numpy = from_numpy
        return super().__enter__()

    def __exit__(self, *exc_info):
        torch.from_numpy = self._from_numpy
        return super().__exit__(*exc_info)

    def _is_host(self, tensor) -> bool:
        ref = self._host.get(id(tensor))
        return ref is not None and ref() is tensor

    def _mark(self, result, host: bool):
        for tensor in _tensors(result, []):
            if host:
                self._host[id(tensor)] = weakref.ref(tensor)
            else:
                self._host.pop(id(tensor), None)
        return result

    def _moved_to_host(self, func, args, kwargs) -> bool:
        """Where ``Tensor.to`` / ``type_as`` / ``cuda`` / ``cpu`` puts its result: with another tensor, where that
        one is; a string 'cpu' is the host, any other device (on the CPU, ``x.device`` of a device tensor) and
        ``cuda()`` the device; no device, the same."""
        if func is torch.Tensor.cuda:
            return False
        if func in (torch.Tensor.cpu, torch.Tensor.pin_memory):
            return True
        for target in list(args[1:]) + list(kwargs.values()):
            if isinstance(target, torch.Tensor):
                return self._is_host(target)
            if isinstance(target, str):
                return target == 'cpu'
            if isinstance(target, torch.device) or (isinstance(target, int) and not isinstance(target, bool)):
                return False
        return self._is_host(args[0])

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if func in FACTORIES:
            return self._mark(result, host=kwargs.get('device') is None)
        if func in SAME_DEVICE_AS_FIRST:
            return self._mark(result, host=kwargs.get('device') is None and self._is_host(args[0]))
        if func in MOVES:
            return self._mark(result, host=self._moved_to_host(func, args, kwargs))
        if func is torch.Tensor.__getitem__:
            inputs = [args[0]]  # host indices into a device tensor are allowed
        elif func is torch.Tensor.__setitem__:
            inputs = [args[0]] + _tensors(args[2:], [])
        else:
            inputs = _tensors((args, kwargs), [])
        host = [t for t in inputs if self._is_host(t)]
        if any(t.dim() > 0 for t in host) and len(host) < len(inputs):
            self.mixed[(getattr(func, '__name__', str(func)), _project_line())] += 1
        return self._mark(result, host=bool(inputs) and len(host) == len(inputs))


def test_the_check_reports_what_a_gpu_would_refuse_and_nothing_else():
    on_device = torch.ones(3)

    def mixed(step) -> int:
        with HostTensorCheck() as check:
            step()
        return sum(check.mixed.values())

    assert mixed(lambda: on_device + torch.arange(3)) == 1
    assert mixed(lambda: on_device + torch.from_numpy(np.ones(3, dtype=np.float32))) == 1
    assert mixed(lambda: torch.arange(3).float() * 2 + on_device) == 1  # host, still, after host arithmetic
    assert mixed(lambda: on_device + torch.zeros(3).to('cpu')) == 1  # .to('cpu') is the host
    assert mixed(lambda: on_device + torch.arange(3, device=on_device.device)) == 0
    assert mixed(lambda: on_device + torch.arange(3).to(on_device.device)) == 0
    assert mixed(lambda: on_device + torch.arange(3).to(on_device)) == 0
    assert mixed(lambda: on_device + torch.arange(3).type_as(on_device)) == 0  # type_as moves to the other's device
    assert mixed(lambda: on_device + on_device.new_tensor([1., 2., 3.])) == 0
    assert mixed(lambda: on_device + torch.tensor(2.0)) == 0  # 0-d
    assert mixed(lambda: on_device[torch.tensor([0, 2])]) == 0  # host indices


def test_training_step_and_its_amp_form_keep_their_tensors_on_the_device():
    model = _model('cpu')
    data = _batch('cpu')
    with HostTensorCheck() as check:
        loss = model.train_step(data, None)['loss']
    loss.backward()  # outside: torch 2.14 can crash in a backward run under a TorchFunctionMode
    enable_autocast(model, torch.bfloat16)
    with HostTensorCheck() as amp_check:
        loss = model.train_step(data, None)['loss']
    loss.backward()
    assert not check.mixed and not amp_check.mixed, (check.mixed, amp_check.mixed)


def test_device_preprocessor_step_keeps_its_tensors_on_the_device():
    model = _model('cpu')
    pipeline_cfg = _pipeline_cfg()
    model.data_preprocessor = DetDataPreprocessor(**device_preprocess_settings([Compose(pipeline_cfg)]))
    data = _pipeline_batch(pipeline_cfg, device=True)
    with HostTensorCheck() as check:
        model.train_step(data, None)
    assert not check.mixed, check.mixed


def test_inference_keeps_its_tensors_on_the_device():
    model = _model('cpu').eval()
    data = _batch('cpu')
    with HostTensorCheck() as check, torch.no_grad():
        results = model.simple_test(data['img'], data['img_metas'], rescale=True)
    assert len(results) == 2 and not check.mixed, check.mixed
