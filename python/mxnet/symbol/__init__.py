"""Symbolic graph API (``mx.sym``): build, inspect, save and load MXNet 1.x computation graphs.

``Symbol.bind``, ``simple_bind`` and ``eval`` run a graph through ``mx.executor``.
"""
from . import symbol
from .symbol import Symbol, Variable, var, Group, load, load_json
from .creation import zeros, ones, full, arange
from . import register as _register

_register.populate(globals())
symbol._add_fluent_methods(globals())


def _binary_function(array_op, scalar_op, reverse_scalar_op):
    def fn(left, right):
        if isinstance(left, Symbol):
            return left._binary(right, array_op, scalar_op)
        if isinstance(right, Symbol):
            return right._binary(left, array_op, scalar_op, reverse_scalar_op, reverse=True)
        raise TypeError(f"{array_op}: at least one operand must be a Symbol, got "
                        f"{type(left).__name__} and {type(right).__name__}")
    fn.__name__ = array_op.replace("broadcast_", "")
    fn.__doc__ = f"Apply ``{array_op}`` (or ``{scalar_op}`` with a number), broadcasting."
    return fn


# NumPy-style helpers that take a Symbol and a Symbol or number, as mx.nd's do.
maximum = _binary_function("broadcast_maximum", "_maximum_scalar", "_maximum_scalar")
minimum = _binary_function("broadcast_minimum", "_minimum_scalar", "_minimum_scalar")
power = _binary_function("broadcast_power", "_power_scalar", "_rpower_scalar")
pow = power
hypot = _binary_function("broadcast_hypot", "_hypot_scalar", "_hypot_scalar")
