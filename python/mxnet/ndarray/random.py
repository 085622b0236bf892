"""``mx.nd.random``: sampling from distributions, seeded by ``mx.random.seed``."""
import numpy as np

from ..base import attr_string, dtype_name
from .ndarray import NDArray, _invoke


def _sample(op, params, shape, dtype, out, ctx=None):
    from .creation import _shape_tuple
    attrs = [(k, attr_string(float(v))) for k, v in params.items()]
    dims = () if shape is None else _shape_tuple(shape)  # rejects float and bool dimensions
    if dims:
        attrs.append(("shape", attr_string(dims)))
    elif out is not None:
        attrs.append(("shape", attr_string(out.shape)))
    else:
        attrs.append(("shape", "(1,)"))
    attrs.append(("dtype", dtype_name(dtype or (out.dtype if out is not None else np.float32))))
    result = _invoke(op, [], attrs, out=out)
    if out is None:
        from .creation import _check_ctx, _on
        result = _on(result, _check_ctx(ctx))
    return result


def uniform(low=0, high=1, shape=(), dtype=None, ctx=None, out=None, **kwargs):
    """Samples from U[low, high)."""
    if isinstance(low, NDArray) or isinstance(high, NDArray):
        raise NotImplementedError("random.uniform with array-valued low/high is not supported yet; pass floats")
    return _sample("_random_uniform", {"low": low, "high": high}, shape, dtype, out, ctx)


def normal(loc=0, scale=1, shape=(), dtype=None, ctx=None, out=None, **kwargs):
    """Samples from N(loc, scale**2)."""
    if isinstance(loc, NDArray) or isinstance(scale, NDArray):
        raise NotImplementedError("random.normal with array-valued loc/scale is not supported yet; pass floats")
    return _sample("_random_normal", {"loc": loc, "scale": scale}, shape, dtype, out, ctx)


def randn(*shape, loc=0, scale=1, dtype=None, ctx=None, out=None):
    return normal(loc, scale, shape, dtype, ctx, out)


def randint(low, high, shape=(), dtype="int32", ctx=None, out=None):
    """Samples integers uniformly from [low, high)."""
    return _sample("_random_randint", {"low": low, "high": high}, shape, dtype, out, ctx)


def shuffle(data, out=None):
    """Shuffles the array along its first axis."""
    return _invoke("_shuffle", [data], out=out)
