"""Symbols with no inputs: ``zeros``, ``ones``, ``full`` and ``arange``.

They record the ``_zeros``/``_ones``/``_full``/``_arange`` operators with the attributes MXNet 1.9.1
stores (the dtype is always written, float32 by default).
"""


def _op(name):
    from .. import symbol
    return getattr(symbol, name)


def zeros(shape, dtype=None, **kwargs):
    """Create a symbol for an array of zeros of ``shape``."""
    return _op("_zeros")(shape=_as_tuple(shape), dtype=dtype or "float32", **kwargs)


def ones(shape, dtype=None, **kwargs):
    """Create a symbol for an array of ones of ``shape``."""
    return _op("_ones")(shape=_as_tuple(shape), dtype=dtype or "float32", **kwargs)


def full(shape, val, dtype=None, **kwargs):
    """Create a symbol for an array of ``shape`` filled with ``val``."""
    return _op("_full")(shape=_as_tuple(shape), value=val, dtype=dtype or "float32", **kwargs)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=False, name=None, dtype=None):
    """Create a symbol for evenly spaced values in ``[start, stop)``."""
    return _op("_arange")(start=start, stop=stop, step=step, repeat=repeat,
                          infer_range=infer_range, name=name, dtype=dtype or "float32")


def _as_tuple(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)
