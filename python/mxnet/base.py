"""Shared definitions: the error type and type helpers."""
import numbers

import numpy as np

from ._native import MXNetError  # noqa: F401  (re-exported: mx.base.MXNetError)

numeric_types = (numbers.Number, np.generic)
integer_types = (numbers.Integral, np.integer)
string_types = (str,)

_DTYPE_ALIASES = {
    "float32": "float32", "float64": "float64", "float16": "float16", "uint8": "uint8",
    "int8": "int8", "int32": "int32", "int64": "int64", "bool": "bool", "bfloat16": "bfloat16",
}


def dtype_name(dtype):
    """Return the canonical dtype name of a numpy dtype, type or string (``None`` stays None)."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        if dtype in _DTYPE_ALIASES:
            return dtype
        return np.dtype(dtype).name
    return np.dtype(dtype).name


def attr_string(value):
    """Format a keyword argument the way MXNet stores operator attributes."""
    kind = type(value)
    if kind is int or kind is str or kind is float:  # the most common values, checked first for speed
        return str(value)
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return str(tuple(v.item() if isinstance(v, np.generic) else v for v in value))
    if isinstance(value, type) or isinstance(value, np.dtype):
        return np.dtype(value).name
    return str(value)
