"""``mx.nd``: the NDArray class and one function per registered operator."""
import types as _types

from . import ndarray as _ndarray_module
from . import register as _register
from .ndarray import NDArray
from .creation import array, empty, zeros, ones, full, arange, from_numpy, waitall
from .utils_shape import concatenate, moveaxis, split_v2
from .dlpack import from_dlpack, to_dlpack_for_read, to_dlpack_for_write

_internal = _types.ModuleType("mxnet.ndarray._internal", "Internal operators (names starting with _).")
op = _types.ModuleType("mxnet.ndarray.op", "All registered operators.")

_register.populate((globals(), op.__dict__), _internal.__dict__)
_ndarray_module.op = op

from . import random  # noqa: E402  (needs the operator functions above)

try:  # save/load live in utils.py
    from .utils import save, load, load_frombuffer  # noqa: E402,F401
except ImportError:  # pragma: no cover - only while utils.py is being written
    pass


def _binary_wrapper(array_op, scalar_op, rscalar_op=None):
    def fn(lhs, rhs):
        if isinstance(lhs, NDArray):
            return lhs._binary(rhs, array_op, scalar_op, rscalar_op)
        if isinstance(rhs, NDArray):
            return rhs._binary(lhs, array_op, scalar_op, rscalar_op, reflected=True)
        raise TypeError(f"{array_op}: at least one operand must be an NDArray")
    return fn


add = _binary_wrapper("broadcast_add", "_plus_scalar", "_plus_scalar")
subtract = _binary_wrapper("broadcast_sub", "_minus_scalar", "_rminus_scalar")
multiply = _binary_wrapper("broadcast_mul", "_mul_scalar", "_mul_scalar")
divide = _binary_wrapper("broadcast_div", "_div_scalar", "_rdiv_scalar")
true_divide = divide
modulo = _binary_wrapper("broadcast_mod", "_mod_scalar", "_rmod_scalar")
power = _binary_wrapper("broadcast_power", "_power_scalar", "_rpower_scalar")
maximum = _binary_wrapper("broadcast_maximum", "_maximum_scalar", "_maximum_scalar")
minimum = _binary_wrapper("broadcast_minimum", "_minimum_scalar", "_minimum_scalar")
equal = _binary_wrapper("broadcast_equal", "_equal_scalar", "_equal_scalar")
not_equal = _binary_wrapper("broadcast_not_equal", "_not_equal_scalar", "_not_equal_scalar")
greater = _binary_wrapper("broadcast_greater", "_greater_scalar", "_lesser_scalar")
greater_equal = _binary_wrapper("broadcast_greater_equal", "_greater_equal_scalar", "_lesser_equal_scalar")
lesser = _binary_wrapper("broadcast_lesser", "_lesser_scalar", "_greater_scalar")
lesser_equal = _binary_wrapper("broadcast_lesser_equal", "_lesser_equal_scalar", "_greater_equal_scalar")

from .ndjson import save_ndjson, load_ndjson, iter_ndjson  # noqa: E402,F401
