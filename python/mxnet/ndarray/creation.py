"""Array creation: ``array``, ``zeros``, ``ones``, ``full``, ``empty``, ``arange``, numpy and
DLPack exchange."""
import numpy as np

from .. import _native
from ..base import attr_string, dtype_name
from ..context import current_context
from .ndarray import NDArray, _invoke, _wrap


def _check_ctx(ctx):
    return ctx or current_context()


def _on(arr, ctx):
    """Move a new CPU array to ``ctx``: a copy for a GPU, a tag for ``cpu(i)`` (CPU contexts
    share host memory)."""
    if ctx is None:
        return arr
    if ctx.device_type == "gpu":
        arr._h = _native.to_context(arr._h, 2, ctx.device_id)
    elif ctx.device_id != 0:
        arr._h = _native.with_cpu_context(arr._h, ctx.device_id)
    return arr


def _shape_tuple(shape):
    dims = tuple(shape) if hasattr(shape, "__iter__") else (shape,)
    for d in dims:
        # bool is an int subclass, but (True, 3) is a mistake, and MXNet rejects it too.
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"invalid shape {shape!r}: dimensions must be integers, got {d!r} "
                            f"({type(d).__name__}); convert them with int() first")
    return tuple(int(d) for d in dims)


def _numpy_to_handle(src, dtype, zero_copy=False):
    name = dtype_name(dtype)
    if name == "bfloat16":
        bits = np.ascontiguousarray(np.asarray(src, dtype=np.float32)).view(np.uint32)
        # Round to nearest even when dropping the low 16 bits of the float32 pattern.
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
        return _native.from_numpy(rounded, "bfloat16")
    if zero_copy:
        return _native.from_numpy(src, name, True)
    return _native.from_numpy(np.ascontiguousarray(src, dtype=name), name)


def array(source_array, ctx=None, dtype=None):
    """Create an array by copying ``source_array`` (an NDArray, numpy array or nested list).

    The dtype defaults to the source's dtype for NDArray sources and to float32 otherwise,
    as in MXNet 1.x (``nd.array(np.int64 array)`` is float32 unless ``dtype`` is given).
    """
    ctx = _check_ctx(ctx)
    if isinstance(source_array, NDArray):
        copied = source_array.astype(dtype if dtype is not None else source_array.dtype, copy=True)
        return _on(copied, ctx)
    if dtype is None:
        dtype = np.float32
        if isinstance(source_array, np.ndarray) and source_array.dtype == np.dtype([("bfloat16", np.uint16)]):
            dtype = "bfloat16"
    src = np.asarray(source_array)
    if src.dtype == object:
        raise TypeError("array: the source cannot be converted to a numeric array (ragged or non-numeric values)")
    return _on(_wrap(_numpy_to_handle(src, dtype)), ctx)


def from_numpy(ndarray, zero_copy=True):
    """Wrap a numpy array. With ``zero_copy=True`` the NDArray shares the numpy memory, which
    must be C-contiguous; writes through either side are seen by the other."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(ndarray).__name__}")
    if not zero_copy:
        return _wrap(_numpy_to_handle(ndarray, ndarray.dtype))
    return _wrap(_native.from_numpy(ndarray, dtype_name(ndarray.dtype), True))


def empty(shape, ctx=None, dtype=None):
    """Create an array without initialising its values (ours are zero-filled)."""
    return zeros(shape, ctx, dtype)


def zeros(shape, ctx=None, dtype=None, **kwargs):
    ctx = _check_ctx(ctx)
    out = kwargs.get("out")
    result = _invoke("_zeros", [], [("shape", attr_string(_shape_tuple(shape))),
                                    ("dtype", dtype_name(dtype or np.float32))], out=out)
    return result if out is not None else _on(result, ctx)


def ones(shape, ctx=None, dtype=None, **kwargs):
    ctx = _check_ctx(ctx)
    out = kwargs.get("out")
    result = _invoke("_ones", [], [("shape", attr_string(_shape_tuple(shape))),
                                   ("dtype", dtype_name(dtype or np.float32))], out=out)
    return result if out is not None else _on(result, ctx)


def full(shape, val, ctx=None, dtype=np.float32, out=None):
    """An array of ``shape`` filled with ``val``: a number, or an array-like that broadcasts to
    ``shape`` (each row a copy of ``[1, 2, 3]``), as in MXNet."""
    ctx = _check_ctx(ctx)
    if isinstance(val, (list, tuple, np.ndarray, NDArray)):
        values = val.asnumpy() if isinstance(val, NDArray) else np.asarray(val)
        try:
            filled = np.broadcast_to(values, _shape_tuple(shape))
        except ValueError:
            raise ValueError(f"full: a value of shape {values.shape} does not broadcast to shape "
                             f"{_shape_tuple(shape)}; pass a number or an array of a broadcastable shape") from None
        result = array(filled, ctx=ctx, dtype=dtype or np.float32)
        if out is None:
            return result
        out[:] = result
        return out
    result = _invoke("_full", [], [("shape", attr_string(_shape_tuple(shape))), ("value", attr_string(float(val))),
                                   ("dtype", dtype_name(dtype or np.float32))], out=out)
    return result if out is not None else _on(result, ctx)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None, dtype=np.float32):
    ctx = _check_ctx(ctx)
    attrs = [("start", attr_string(float(start))), ("step", attr_string(float(step))),
             ("repeat", attr_string(int(repeat))),
             ("dtype", dtype_name(np.float32 if dtype is None else dtype))]
    if stop is not None:
        attrs.append(("stop", attr_string(float(stop))))
    return _on(_invoke("_arange", [], attrs), ctx)


def waitall():
    """Wait for every pushed operation; raise the oldest pending error (once)."""
    _native.waitall()
