"""``mx.autograd``: record imperative calls and compute gradients."""
from contextlib import contextmanager

from . import _native
from .ndarray.ndarray import NDArray, _wrap


def set_recording(is_recording):
    """Set the recording flag of this thread; returns the previous value."""
    return _native.set_recording(bool(is_recording))


def set_training(train_mode):
    """Set the training flag of this thread; returns the previous value."""
    return _native.set_training(bool(train_mode))


def is_recording():
    return _native.is_recording()


def is_training():
    return _native.is_training()


class _Scope:
    """Sets the recording and training flags on entry and restores them on exit."""

    def __init__(self, recording, training):
        self._enter = (recording, training)
        self._prev = None

    def __enter__(self):
        rec, train = self._enter
        prev_rec = set_recording(rec) if rec is not None else None
        prev_train = set_training(train) if train is not None else None
        self._prev = (prev_rec, prev_train)
        return self

    def __exit__(self, *exc):
        prev_rec, prev_train = self._prev
        if prev_rec is not None:
            set_recording(prev_rec)
        if prev_train is not None:
            set_training(prev_train)


def record(train_mode=True):
    """Record operations for autograd inside the block, in training mode unless ``train_mode=False``."""
    return _Scope(True, train_mode)


def pause(train_mode=False):
    """Stop recording inside the block."""
    return _Scope(False, train_mode)


def train_mode():
    """Training behaviour (Dropout, BatchNorm) inside the block, without changing recording."""
    return _Scope(None, True)


def predict_mode():
    """Inference behaviour inside the block, without changing recording."""
    return _Scope(None, False)


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def mark_variables(variables, gradients, grad_reqs="write"):
    """Mark arrays as variables whose gradients go into the given buffers."""
    variables, gradients = _as_list(variables), _as_list(gradients)
    reqs = grad_reqs if isinstance(grad_reqs, (list, tuple)) else [grad_reqs] * len(variables)
    for v, g, r in zip(variables, gradients, reqs):
        v._h.mark_variable(g._h, r)


def backward(heads, head_grads=None, retain_graph=False, train_mode=True):
    """Compute the gradients of ``heads`` with respect to variables marked with attach_grad.

    Missing head gradients default to ones, also for non-scalar heads (as in MXNet).
    """
    heads = _as_list(heads)
    grads = _as_list(head_grads) or [None] * len(heads)
    _native.backward([h._h for h in heads], [g._h if g is not None else None for g in grads],
                     retain_graph, train_mode)


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph=False, train_mode=True):
    """Return the gradients of ``heads`` with respect to ``variables`` as new arrays.

    ``.grad`` buffers are left unchanged. With ``create_graph=True`` the returned gradients
    are recorded, so they can be differentiated again.
    """
    # MXNet returns a list even for a single variable.
    heads, variables = _as_list(heads), _as_list(variables)
    grads = _as_list(head_grads) or [None] * len(heads)
    if retain_graph is None:
        retain_graph = create_graph
    result = _native.grad([h._h for h in heads], [v._h for v in variables],
                          [g._h if g is not None else None for g in grads],
                          retain_graph, create_graph, train_mode)
    return [_wrap(h) for h in result]


def get_symbol(x):
    raise NotImplementedError("autograd.get_symbol needs the symbolic API, which is not built yet")


class Function:
    """A differentiable function with a user-defined gradient.

    Subclass it and implement ``forward(*inputs)`` and ``backward(*output_grads)``;
    ``save_for_backward`` keeps arrays for the backward pass::

        class Sigmoid(autograd.Function):
            def forward(self, x):
                y = 1 / (1 + mx.nd.exp(-x))
                self.save_for_backward(y)
                return y
            def backward(self, dy):
                y, = self.saved_tensors
                return dy * y * (1 - y)
    """

    def __init__(self):
        self.saved_tensors = ()

    def save_for_backward(self, *args):
        self.saved_tensors = args

    def __call__(self, *inputs):
        with pause(train_mode=is_training()):
            outputs = self.forward(*inputs)
        single = isinstance(outputs, NDArray)
        outs = [outputs] if single else list(outputs)
        if is_recording():
            def run_backward(out_grads):
                with pause(train_mode=is_training()):
                    grads = self.backward(*[_wrap(g) for g in out_grads])
                grads = [grads] if isinstance(grads, NDArray) else list(grads)
                for x, g in zip(inputs, grads):
                    if g is None:
                        continue
                    if not isinstance(g, NDArray):
                        raise TypeError(f"{type(self).__name__}.backward (Function.backward) must return NDArrays "
                                        f"(or None), got {type(g).__name__}; wrap it with mx.nd.array()")
                    if g.shape != x.shape:
                        raise ValueError(f"{type(self).__name__}.backward (Function.backward) returned a gradient "
                                         f"of shape {g.shape} for an input of shape {x.shape}")
                return [g._h if g is not None else None for g in grads]

            handles = _native.record_function([x._h for x in inputs], [o._h for o in outs], run_backward)
            outs = [_wrap(h) for h in handles]
        return outs[0] if single else outs

    def forward(self, *inputs):
        raise NotImplementedError("Function.forward must be implemented by the subclass")

    def backward(self, *output_grads):
        raise NotImplementedError("Function.backward must be implemented by the subclass")
