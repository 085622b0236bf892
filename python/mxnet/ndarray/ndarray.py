"""The NDArray class: a handle to a native array plus MXNet's Python surface."""
import numpy as np

from .. import _native
from ..base import MXNetError, attr_string, dtype_name, numeric_types, integer_types
from ..context import Context, current_context, from_native

# Filled in by ndarray/__init__.py once the operator functions exist (avoids an import cycle).
op = None


def _wrap(handle):
    arr = NDArray.__new__(NDArray)
    arr._h = handle
    return arr


def _invoke(name, inputs, attrs=(), out=None, share_views=False):
    """Call operator ``name`` on NDArray ``inputs``; returns an NDArray or a list of them.

    The result of a view operator (``transpose``, ``slice``, ``expand_dims``) gets its own
    buffer, as in MXNet, unless ``share_views``: writing into it never changes the input.
    """
    handles = [x._h for x in inputs]
    if not isinstance(attrs, (list, tuple)):
        attrs = list(attrs)
    if out is None:
        # The common case first: this function is on the path of every eager call.
        results = _native.invoke(name, handles, attrs, None, share_views)
        if len(results) == 1:
            return _wrap(results[0])
        return [_wrap(h) for h in results]
    out_list = list(out) if isinstance(out, (list, tuple)) else [out]
    results = _native.invoke(name, handles, attrs, [o._h for o in out_list])
    # The returned handles share storage with `out` and carry any new autograd entry.
    for o, h in zip(out_list, results):
        o._h = h
    return out


def _binary_method(array_op, scalar_op, rscalar_op=None, reflected=False):
    """An arithmetic or comparison method (``__add__``, ``__rsub__``, ...).

    Two plain NDArrays take a path with no further Python call: this is the eager hot path
    (``a + b``), where each interpreted call costs a measurable share of the dispatch time.
    The native call returns the new NDArray.
    """
    invoke, op = _native.invoke_binary, _native.operator(array_op)

    if reflected:
        def method(self, other):
            if type(other) is NDArray and type(self) is NDArray:
                return invoke(op, other._h, self._h)
            return self._binary(other, array_op, scalar_op, rscalar_op, reflected)
    else:
        def method(self, other):
            if type(other) is NDArray and type(self) is NDArray:
                return invoke(op, self._h, other._h)
            return self._binary(other, array_op, scalar_op, rscalar_op, reflected)
    return method


def _attrs(**kwargs):
    return [(k, attr_string(v)) for k, v in kwargs.items() if v is not None]


class NDArray:
    """An n-dimensional array on a device, with MXNet 1.x's API.

    Arithmetic broadcasts like NumPy. As in MXNet, the ``reshape`` method and indexing that
    selects one contiguous block (``x[1:3]``, ``x[0]``) return views that share memory with
    the array; operators (``transpose``, ``slice``, ``expand_dims``, ``mx.nd.reshape``) and
    other indexing return new arrays.
    """

    __slots__ = ("_h", "__weakref__")
    # Make numpy defer to our reflected operators (np_array + nd_array -> NDArray).
    __array_priority__ = 1000.0

    def __init__(self, handle):
        self._h = handle

    # ---- properties -------------------------------------------------------------------
    @property
    def handle(self):
        return self._h

    @property
    def shape(self):
        return tuple(self._h.shape)

    @property
    def dtype(self):
        name = self._h.dtype
        if name == "bfloat16":
            return np.dtype([("bfloat16", np.uint16)])
        return np.dtype(name).type

    @property
    def size(self):
        return self._h.size

    @property
    def ndim(self):
        return self._h.ndim

    @property
    def context(self):
        return from_native(self._h.context)

    ctx = context

    @property
    def stype(self):
        return "default"

    @property
    def T(self):
        if self.ndim < 2:
            return self
        return self.transpose()

    @property
    def grad(self):
        g = self._h.grad
        return None if g is None else _wrap(g)

    @property
    def _fresh_grad(self):
        return self._h.fresh_grad

    @_fresh_grad.setter
    def _fresh_grad(self, value):
        self._h.fresh_grad = bool(value)

    @property
    def writable(self):
        return True

    @property
    def __array_interface__(self):
        if self._h.context[0] == 2:
            # GPU memory cannot be shared; numpy then falls back to __array__, which copies.
            raise AttributeError("__array_interface__ is only available for CPU arrays")
        return self._h.array_interface()

    def __array__(self, dtype=None, copy=None):
        """Copy to a numpy array (used for GPU arrays, whose memory numpy cannot share)."""
        data = self.asnumpy()
        return data if dtype is None else data.astype(dtype, copy=False)

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        """Export as a DLPack capsule that shares memory (waits for pending reads and writes).

        The capsule is versioned (DLPack 1.0) when ``max_version`` allows major version 1, as
        numpy >= 2 and recent PyTorch request, and unversioned (DLPack 0.8) otherwise.
        """
        if stream is not None and stream != -1:
            raise ValueError(f"__dlpack__: stream must be None for CPU arrays, got {stream!r}")
        if dl_device is not None and tuple(dl_device) != (1, 0):
            raise BufferError(f"__dlpack__: cannot export to device {dl_device}; only the CPU (1, 0) is available")
        versioned = max_version is not None and tuple(max_version)[0] >= 1
        source = self.copy() if copy else self
        return _native.to_dlpack(source._h, True, versioned)

    def __dlpack_device__(self):
        """DLPack device of this array: ``(1, 0)``, the CPU."""
        return (1, 0)

    def to_dlpack_for_read(self):
        from .dlpack import to_dlpack_for_read
        return to_dlpack_for_read(self)

    def to_dlpack_for_write(self):
        from .dlpack import to_dlpack_for_write
        return to_dlpack_for_write(self)

    # ---- synchronisation and copies ---------------------------------------------------
    def wait_to_read(self):
        self._h.wait_to_read()

    def wait_to_write(self):
        self._h.wait_to_write()

    def asnumpy(self):
        """Return a numpy copy (waits for pending writes; raises a pending error once)."""
        return self._h.asnumpy()

    def asscalar(self):
        if self.size != 1:
            raise ValueError(f"asscalar: the array has shape {self.shape}; only size-1 arrays convert to a scalar")
        return self.asnumpy().reshape(()).item() if self.dtype is not np.bool_ else bool(self.asnumpy().item())

    def item(self):
        return self.asscalar()

    def astype(self, dtype, copy=True):
        name = dtype_name(dtype)
        if not copy and name == self._h.dtype:
            return self
        return _invoke("Cast", [self], [("dtype", name)])

    def copy(self):
        return _invoke("_copy", [self])

    def copyto(self, other):
        """Copy into ``other`` (an NDArray of the same shape) or to a new array on a Context."""
        if isinstance(other, NDArray):
            same_view = other.shape == self.shape and other._h.offset == self._h.offset and other._h.strides == self._h.strides
            if same_view and other._h.shares_storage(self._h):
                return other
            _native.copyto(self._h, other._h)
            return other
        if isinstance(other, Context):
            if other.device_type == "gpu" or self._h.context[0] == 2:
                # A recorded operator, so gradients flow back to this array's context.
                return _invoke("_copyto", [self], [("ctx", str(other))])
            copied = self.copy()
            copied._h = _native.with_cpu_context(copied._h, other.device_id)
            return copied
        raise TypeError(f"copyto: expected an NDArray or a Context, got {type(other).__name__}")

    def as_in_context(self, context):
        if context == self.context:
            return self
        return self.copyto(context)

    as_in_ctx = as_in_context

    def tostype(self, stype):
        if stype != "default":
            raise MXNetError(f"tostype: sparse storage type '{stype}' is not supported; only 'default' exists")
        return self

    # ---- autograd ---------------------------------------------------------------------
    def attach_grad(self, grad_req="write", stype=None):
        if stype not in (None, "default"):
            raise MXNetError(f"attach_grad: sparse gradient storage '{stype}' is not supported")
        self._h.attach_grad(grad_req)

    def backward(self, out_grad=None, retain_graph=False, train_mode=True):
        from .. import autograd
        autograd.backward([self], [out_grad] if out_grad is not None else None,
                          retain_graph=retain_graph, train_mode=train_mode)

    def detach(self):
        return _wrap(self._h.detach())

    # ---- python protocol --------------------------------------------------------------
    def __repr__(self):
        shape = "x".join(str(d) for d in self.shape)
        return f"\n{self.asnumpy()}\n<NDArray {shape} @{self.context}>"

    def __str__(self):
        return self.__repr__()

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        if self.size == 1:
            return bool(self.asnumpy().item())
        if self.size == 0:
            return False
        raise ValueError(
            f"the truth value of an array with shape {self.shape} is ambiguous; use .asnumpy().any() or .all()")

    def __float__(self):
        return float(self.asscalar())

    def __int__(self):
        return int(self.asscalar())

    def __index__(self):
        if self.size == 1 and np.issubdtype(np.dtype(self._h.dtype), np.integer):
            return int(self.asscalar())
        raise TypeError("only integer arrays of size 1 can be used as an index")

    __hash__ = object.__hash__

    def __getstate__(self):
        return {"data": self.asnumpy(), "dtype": self._h.dtype, "ctx": str(self.context)}

    def __setstate__(self, state):
        # Arrays come back on the context they were saved from, as MXNet's NDArray::Load does
        # (states pickled before the context was stored load on the CPU).
        from .creation import array
        ctx = state.get("ctx", "cpu(0)")
        kind, index = ctx.rstrip(")").split("(")
        self._h = array(state["data"], ctx=Context(kind, int(index)), dtype=state["dtype"])._h

    # ---- arithmetic -------------------------------------------------------------------
    def _binary(self, other, array_op, scalar_op, rscalar_op=None, reflected=False):
        if isinstance(other, NDArray):
            a, b = (other, self) if reflected else (self, other)
            return _wrap(_native.invoke(array_op, [a._h, b._h], (), None)[0])
        if isinstance(other, numeric_types):
            name = rscalar_op if reflected and rscalar_op else scalar_op
            return _invoke(name, [self], [("scalar", attr_string(float(other) if not isinstance(other, integer_types) else int(other)))])
        if isinstance(other, (np.ndarray, list, tuple)):
            from .creation import array
            other = array(other, ctx=self.context, dtype=self.dtype)
            return self._binary(other, array_op, scalar_op, rscalar_op, reflected)
        return NotImplemented

    def _inplace(self, other, array_op, scalar_op):
        if isinstance(other, NDArray):
            return _invoke(array_op, [self, other], out=self)
        if isinstance(other, numeric_types):
            return _invoke(scalar_op, [self], [("scalar", attr_string(other))], out=self)
        return NotImplemented

    __add__ = _binary_method("broadcast_add", "_plus_scalar")
    __radd__ = _binary_method("broadcast_add", "_plus_scalar", "_plus_scalar", True)
    __sub__ = _binary_method("broadcast_sub", "_minus_scalar")
    __rsub__ = _binary_method("broadcast_sub", "_minus_scalar", "_rminus_scalar", True)
    __mul__ = _binary_method("broadcast_mul", "_mul_scalar")
    __rmul__ = _binary_method("broadcast_mul", "_mul_scalar", "_mul_scalar", True)
    __truediv__ = _binary_method("broadcast_div", "_div_scalar")
    __rtruediv__ = _binary_method("broadcast_div", "_div_scalar", "_rdiv_scalar", True)
    __div__ = __truediv__
    __rdiv__ = __rtruediv__
    __mod__ = _binary_method("broadcast_mod", "_mod_scalar")
    __rmod__ = _binary_method("broadcast_mod", "_mod_scalar", "_rmod_scalar", True)
    __pow__ = _binary_method("broadcast_power", "_power_scalar")
    __rpow__ = _binary_method("broadcast_power", "_power_scalar", "_rpower_scalar", True)
    __eq__ = _binary_method("broadcast_equal", "_equal_scalar")
    __ne__ = _binary_method("broadcast_not_equal", "_not_equal_scalar")
    __gt__ = _binary_method("broadcast_greater", "_greater_scalar")
    __ge__ = _binary_method("broadcast_greater_equal", "_greater_equal_scalar")
    __lt__ = _binary_method("broadcast_lesser", "_lesser_scalar")
    __le__ = _binary_method("broadcast_lesser_equal", "_lesser_equal_scalar")
    def __iadd__(self, o): return self._inplace(o, "broadcast_add", "_plus_scalar")
    def __isub__(self, o): return self._inplace(o, "broadcast_sub", "_minus_scalar")
    def __imul__(self, o): return self._inplace(o, "broadcast_mul", "_mul_scalar")
    def __itruediv__(self, o): return self._inplace(o, "broadcast_div", "_div_scalar")
    __idiv__ = __itruediv__
    def __imod__(self, o): return self._inplace(o, "broadcast_mod", "_mod_scalar")

    def __neg__(self):
        return _invoke("negative", [self])

    def __pos__(self):
        return self

    def __abs__(self):
        return _invoke("abs", [self])

    # ---- indexing ---------------------------------------------------------------------
    def __getitem__(self, key):
        from .indexing import get_item
        return get_item(self, key)

    def __setitem__(self, key, value):
        from .indexing import set_item
        set_item(self, key, value)

    # ---- shape methods ----------------------------------------------------------------
    def reshape(self, *shape, **kwargs):
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        if "shape" in kwargs:
            shape = kwargs.pop("shape")
        # The method shares memory with the array where it can, as in MXNet (the operator
        # mx.nd.reshape returns a copy).
        return _invoke("Reshape", [self], _attrs(shape=tuple(shape), **kwargs), share_views=True)

    def split_v2(self, indices_or_sections, axis=0, squeeze_axis=False):
        """Split this array along ``axis``: see ``mx.nd.split_v2``."""
        from .utils_shape import split_v2
        return split_v2(self, indices_or_sections, axis, squeeze_axis)

    def reshape_like(self, other, **kwargs):
        return _invoke("reshape_like", [self, other], _attrs(**kwargs))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = axes[0]
        return _invoke("transpose", [self], _attrs(axes=tuple(axes)) if axes else [])

    def broadcast_to(self, shape):
        return _invoke("broadcast_to", [self], _attrs(shape=tuple(shape)))

    def broadcast_like(self, other, **kwargs):
        return _invoke("broadcast_like", [self, other], _attrs(**kwargs))

    def broadcast_axes(self, axis, size):
        return _invoke("broadcast_axis", [self], _attrs(axis=axis, size=size))

    def flatten(self):
        return _invoke("Flatten", [self])

    def expand_dims(self, axis):
        return _invoke("expand_dims", [self], _attrs(axis=axis))

    def squeeze(self, axis=None):
        return _invoke("squeeze", [self], _attrs(axis=axis))

    def swapaxes(self, dim1, dim2):
        return _invoke("SwapAxis", [self], _attrs(dim1=dim1, dim2=dim2))

    def zeros_like(self):
        return _invoke("zeros_like", [self])

    def ones_like(self):
        return _invoke("ones_like", [self])


def _method(opname, doc_name=None):
    def method(self, *args, **kwargs):
        function = getattr(op, opname, None)
        if function is None:
            raise NotImplementedError(
                f"NDArray.{doc_name or opname}: the operator {opname} is not implemented in mxnet-rs yet; "
                f"compute it with numpy on x.asnumpy() and wrap the result with mx.nd.array()")
        return function(self, *args, **kwargs)
    method.__name__ = doc_name or opname
    method.__doc__ = f"Call ``mx.nd.{opname}`` with this array as the first input."
    return method


_native.set_array_class(NDArray)

# Methods that wrap the operator of the same name.
for _name in ("sum", "mean", "max", "min", "prod", "nansum", "nanprod", "norm", "argmax", "argmin",
              "argmax_channel", "take", "pick", "one_hot", "clip", "slice", "slice_axis", "split",
              "tile", "repeat", "pad", "flip", "sort", "argsort", "topk", "softmax", "log_softmax",
              "relu", "sigmoid", "exp", "expm1", "log", "log10", "log2", "log1p", "sqrt", "rsqrt",
              "cbrt", "rcbrt", "square", "abs", "sign", "round", "rint", "ceil", "floor", "trunc", "fix",
              "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
              "arccosh", "arctanh", "degrees", "radians", "reciprocal", "erf", "erfinv", "gamma",
              "gammaln", "softmin", "dot", "batch_dot", "where", "diag", "shape_array", "size_array",
              "slice_like", "broadcast_axis",
              "depth_to_space", "space_to_depth", "nanprod"):
    if not hasattr(NDArray, _name):
        setattr(NDArray, _name, _method(_name))
