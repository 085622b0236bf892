"""``NDArray.__getitem__`` and ``__setitem__``: basic slicing as views, integer-array and
boolean-mask indexing through ``take``."""
import numpy as np

from .. import _native
from ..base import MXNetError, integer_types, numeric_types
from .ndarray import NDArray, _invoke, _wrap


def _expand_key(key, ndim):
    """Normalise ``key`` to a tuple without Ellipsis; returns (key, is_basic)."""
    if not isinstance(key, tuple):
        key = (key,)
    basic = all(isinstance(k, (integer_types, slice)) or k is None or k is Ellipsis for k in key)
    if not basic:
        return key, False
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > ndim:
        raise IndexError(f"too many indices for an array with {ndim} dimensions: {key}")
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (ndim - n_real))
        else:
            out.append(k)
    out.extend([slice(None)] * (ndim - sum(1 for k in out if k is not None)))
    return tuple(out), True


def _basic_plan(shape, key):
    """Return (begin, end, step, result_shape) for a normalised basic key."""
    begin, end, step, result = [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            result.append(1)
            continue
        dim = shape[axis]
        if isinstance(k, integer_types):
            i = int(k)
            if i < -dim or i >= dim:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {dim}")
            i = i + dim if i < 0 else i
            begin.append(i), end.append(i + 1), step.append(1)
        else:
            start, stop, stride = k.indices(dim)
            begin.append(start), end.append(stop), step.append(stride)
            result.append(len(range(start, stop, stride)))
        axis += 1
    return begin, end, step, result


def _reshape_exact(x, shape):
    """Reshape to ``shape`` read literally: the Reshape op would read a 0 as "copy this axis",
    so an empty result becomes an empty view instead."""
    if 0 in shape:
        return _wrap(_native.strided_view(x._h, list(shape), [0] * len(shape), x._h.offset))
    return x.reshape(shape)


def _basic_view(arr, key, record, share=True):
    """Return ``arr[key]`` for a basic key as a view of ``arr``, or, with ``record``, through
    the recorded ``slice`` operator, whose result is a view only with ``share``."""
    begin, end, step, result = _basic_plan(arr.shape, key)
    if record:
        # slice.indices() marks "run past index 0" of a negative step with stop -1, which the
        # slice op would read as the last element, so pass None, which has only one meaning.
        end_attr = tuple(None if s < 0 and e < 0 else e for e, s in zip(end, step))
        out = _invoke("slice", [arr], [("begin", str(tuple(begin))), ("end", str(end_attr)),
                                      ("step", str(tuple(step)))], share_views=share)
        if tuple(result) != out.shape:
            out = _reshape_exact(out, tuple(result) if result else (1,))
        return out
    strides = arr._h.strides
    offset = arr._h.offset
    shape, new_strides = [], []
    for (b, e, s), stride in zip(zip(begin, end, step), strides):
        offset += b * stride
        shape.append(len(range(b, e, s)))
        new_strides.append(stride * s)
    view = _wrap(_native.strided_view(arr._h, shape, new_strides, offset))
    if tuple(result) != tuple(shape):
        target = tuple(result) if result else (1,)
        if view._h.is_contiguous:
            view = _reshape_exact(view, target)
        else:
            kept = [(d, s) for d, s, k in zip(shape, new_strides, [k for k in key if k is not None])
                    if not isinstance(k, integer_types)]
            dims = iter(kept)
            full_shape, full_strides = [], []
            for k in key:
                if k is None:
                    full_shape.append(1), full_strides.append(0)
                elif not isinstance(k, integer_types):
                    d, s = next(dims)
                    full_shape.append(d), full_strides.append(s)
            if not full_shape:
                full_shape, full_strides = [1], [0]
            view = _wrap(_native.strided_view(arr._h, full_shape, full_strides, view._h.offset))
    return view


def _numpy_key(key):
    """Convert an advanced key to numpy form: NDArrays and lists become arrays, and float
    arrays with integral values (MXNet's default dtype) become int64 index arrays."""
    parts = key if isinstance(key, tuple) else (key,)
    converted = []
    for k in parts:
        if isinstance(k, NDArray):
            k = k.asnumpy()
        if isinstance(k, (list, np.ndarray)):
            k = np.asarray(k)
            if k.dtype != np.bool_ and not np.issubdtype(k.dtype, np.integer):
                if k.size and not np.all(np.mod(k, 1) == 0):
                    raise IndexError(f"array indices must be integers or booleans, got values {k.ravel()[:5]}")
                k = k.astype(np.int64)
        converted.append(k)
    return tuple(converted)


def _advanced_flat_indices(arr, key):
    """Return the flat row-major positions that ``key`` selects and the result shape.

    numpy resolves the key on an array of positions, so mixtures of slices, integers,
    integer arrays and boolean masks follow numpy's rules exactly.
    """
    positions = np.arange(arr.size, dtype=np.int64).reshape(arr.shape)
    try:
        selected = positions[_numpy_key(key)]
    except IndexError as e:
        raise IndexError(f"index {key!r} is invalid for an array of shape {arr.shape}: {e}") from e
    return selected.reshape(-1), selected.shape


def get_item(arr, key):
    norm, basic = _expand_key(key, arr.ndim)
    if basic:
        from .. import autograd
        # As in MXNet, a key that selects one contiguous block (x[1:3], x[0], x[0, 2:4])
        # returns a view, recorded or not. Any other key (x[:, 0], x[::2]) returns a copy, so
        # writing into that result leaves the array alone.
        view = _basic_view(arr, norm, record=False)
        contiguous = view._h.is_contiguous
        if autograd.is_recording():
            return _basic_view(arr, norm, record=True, share=contiguous)
        return view if contiguous else view.copy()
    flat, shape = _advanced_flat_indices(arr, key)
    from .creation import array
    # A GPU has no int64; positions there fit int32 (arrays are below 2^32 bytes).
    idx_dtype = np.int32 if arr.context.device_type == "gpu" else np.int64
    idx = array(flat, ctx=arr.context, dtype=idx_dtype)
    out = _invoke("take", [arr.reshape((-1,)), idx], [("axis", "0")])
    return _reshape_exact(out, shape if shape else (1,))


def set_item(arr, key, value):
    from .. import autograd
    if autograd.is_recording() and arr._h.in_graph:
        raise MXNetError(
            "assigning to NDArrays that are already in a computational graph will cause undefined "
            "behavior when evaluating gradients; assign under autograd.pause() or to a new array")
    if arr._h.has_overlap:
        raise ValueError(
            "cannot assign into a broadcast view: several of its elements share memory with each "
            "other and with the base array; call .copy() first")
    norm, basic = _expand_key(key, arr.ndim)
    if basic:
        view = _basic_view(arr, norm, record=False)
        _assign(view, value)
        return
    np_key = _numpy_key(key)
    values = value.asnumpy() if isinstance(value, NDArray) else np.asarray(value)
    if arr.context.device_type == "gpu":
        # Assign on a host copy, then write it back: GPU memory cannot be shared with numpy.
        host = arr.asnumpy()
        try:
            host[np_key] = values
        except (IndexError, ValueError) as e:
            raise type(e)(f"cannot assign a value of shape {values.shape} at index {key!r} of an array of "
                          f"shape {arr.shape}: {e}") from e
        from .creation import array
        array(host, dtype=arr.dtype).copyto(arr)
        return
    arr.wait_to_write()
    # The numpy array shares the NDArray's storage (with its strides), so this writes in place.
    target = np.asarray(arr)
    try:
        target[np_key] = values
    except (IndexError, ValueError) as e:
        raise type(e)(f"cannot assign a value of shape {values.shape} at index {key!r} of an array of "
                      f"shape {arr.shape}: {e}") from e


def _assign(view, value):
    if isinstance(value, numeric_types):
        _native.fill(view._h, float(value))
        return
    from .creation import array
    if not isinstance(value, NDArray):
        value = array(value, ctx=view.context, dtype=view.dtype)
    if value.shape != view.shape:
        try:
            value = value.reshape(view.shape) if value.size == view.size and value.ndim != view.ndim \
                else value.broadcast_to(view.shape)
        except (ValueError, MXNetError) as e:
            raise ValueError(
                f"cannot assign a value of shape {value.shape} to a slice of shape {view.shape}") from e
    _native.copyto(value._h, view._h)
