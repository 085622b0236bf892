"""Symbolic graph API (``mx.sym``): build, inspect, save and load MXNet 1.x computation graphs.

``Symbol.bind``, ``simple_bind`` and ``eval`` run a graph through ``mx.executor``.
"""
from . import symbol
from .symbol import Symbol, Variable, var, Group, load, load_json
from .creation import zeros, ones, full, arange
from . import register as _register

_register.populate(globals())
symbol._add_fluent_methods(globals())
