"""Tracing of HybridBlocks into Symbols and running the traced graphs with ``_native.Graph``.

A hybridized block is traced by calling its ``hybrid_forward`` with ``F = mx.sym``, variables
named ``data`` (or ``data0``, ``data1``, ...) for the inputs and one variable per Parameter.
:class:`CachedGraph` turns the resulting Symbol into a ``_native.Graph`` whose variables are fed
from the call's input arrays and the parameters' current data.
"""

import os
import re
import threading
import traceback

import numpy as np

from .. import _native
from ..base import MXNetError
from ..ndarray import NDArray
from ..ndarray.ndarray import _wrap
from .. import symbol as sym_module
from ..symbol import symbol as symbol_impl
from ..symbol.symbol import Symbol, _topo_order

# ---- nested inputs and outputs ------------------------------------------------------------------


def flatten(args, kind):
    """Flatten nested lists and tuples of NDArrays or Symbols into a list plus a format.

    The format of one value is 0 for an array and -1 for None, which stays None and adds no
    array. A Symbol with n > 1 outputs has format n and becomes a list of n arrays when
    regrouped. A nested list has the list of its items' formats. ``kind`` ('inputs' or
    'outputs') names the values in the error message.
    """
    if args is None:
        return [], -1
    if isinstance(args, NDArray):
        return [args], 0
    if isinstance(args, Symbol):
        count = len(args)
        return [args], count if count > 1 else 0
    if isinstance(args, (list, tuple)):
        flat, formats = [], []
        for item in args:
            items, fmt = flatten(item, kind)
            flat.extend(items)
            formats.append(fmt)
        return flat, formats
    raise TypeError("HybridBlock %s must be NDArrays, Symbols or None, or (nested) lists of "
                    "them, but got %r of type %s" % (kind, args, type(args).__name__))


def regroup(values, fmt):
    """Rebuild the nesting described by ``fmt`` from the flat list ``values``.

    Returns ``(result, rest)`` where ``rest`` contains the values that ``fmt`` did not use.
    """
    if isinstance(fmt, int):
        if fmt == -1:
            return None, values
        if fmt == 0:
            return values[0], values[1:]
        return list(values[:fmt]), values[fmt:]
    result = []
    for item in fmt:
        value, values = regroup(values, item)
        result.append(value)
    return result, values


def count_arrays(fmt):
    """Return the number of flat values a format describes."""
    if isinstance(fmt, int):
        return {-1: 0, 0: 1}.get(fmt, fmt)
    return sum(count_arrays(item) for item in fmt)


def input_names(num_inputs):
    """Return MXNet's variable names for the inputs of a traced block."""
    if num_inputs == 1:
        return ['data']
    return ['data%d' % i for i in range(num_inputs)]


# ---- parameter variables ------------------------------------------------------------------------


def parameter_variable(param):
    """Return the ``mx.sym`` variable of a Parameter, with the attributes MXNet 1.9.1 writes.

    The variable is cached on the Parameter (``param._var``, as in MXNet) so every block that
    shares the Parameter uses the same graph node. A cached variable whose attributes no longer
    match (after ``cast``, or once a deferred shape became known) is replaced.
    """
    fresh = sym_module.var(param.name, shape=param.shape, dtype=param.dtype,
                           lr_mult=param.lr_mult, wd_mult=param.wd_mult, init=param.init,
                           stype=param.stype)
    cached = getattr(param, '_var', None)
    if cached is not None and cached._outputs[0][0].attrs == fresh._outputs[0][0].attrs:
        return cached
    param._var = fresh
    return fresh


# ---- per-block node names -----------------------------------------------------------------------


class _TraceState(threading.local):
    """Thread-local state of symbolic calls in progress.

    ``named`` contains the ids of the nodes that already carry a block prefix, and ``nodes`` keeps
    those nodes alive so that their ids stay unique while the outermost call runs.
    ``imperative_depth`` is positive while a block runs imperatively to infer parameter shapes;
    hybridized children then run imperatively too.
    """

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.named = set()
        self.nodes = []
        self.imperative_depth = 0


STATE = _TraceState()


class SymbolicCall:
    """Context manager around one block's symbolic ``hybrid_forward``.

    On exit it renames the operator nodes the block created the way MXNet 1.9.1's name scopes
    do: ``name='fwd'`` becomes ``<block prefix>fwd`` and an automatic name such as
    ``relu17`` becomes ``<block prefix>relu0``, counted per block call.
    """

    def __init__(self, block, inputs):
        self._block = block
        self._input_nodes = {id(node) for s in inputs for node, _ in s._outputs}
        self._counters_before = None

    def __enter__(self):
        if STATE.depth == 0:
            STATE.named = set()
            STATE.nodes = []
        STATE.depth += 1
        self._counters_before = dict(symbol_impl._name_counters)
        return self

    def __exit__(self, exc_type, exc_value, tb):
        STATE.depth -= 1
        if STATE.depth == 0:
            STATE.named = set()
            STATE.nodes = []

    def name_outputs(self, outputs):
        """Give the block's prefix to the operator nodes this call created."""
        prefix = self._block.prefix
        if self._block._empty_prefix:
            # A block with prefix '' opens no name scope in MXNet, so its caller names its nodes.
            return
        created = self._created_nodes(outputs)
        auto, explicit = [], []
        for node in created:
            number = self._auto_number(node.name)
            if number is None:
                explicit.append(node)
            else:
                auto.append((number, node))
        local_counts = {}
        for node in explicit:
            self._rename(node, prefix + node.name)
        # Number the automatic names per hint in creation order, as a fresh name scope would.
        for (hint, _), node in sorted(auto, key=lambda item: item[0][1]):
            count = local_counts.get(hint, 0)
            local_counts[hint] = count + 1
            self._rename(node, '%s%s%d' % (prefix, hint, count))

    def keep_names(self, outputs):
        """Mark the operator nodes this call created as named, leaving their names as they are
        (for SymbolBlock, whose nodes carry the names of a loaded graph)."""
        for node in self._created_nodes(outputs):
            STATE.named.add(id(node))
            STATE.nodes.append(node)

    def _created_nodes(self, outputs):
        """Return the operator nodes between this call's inputs and ``outputs`` that no inner
        block has named yet."""
        created, seen = [], set()
        stack = [node for s in outputs for node, _ in s._outputs]
        while stack:
            node = stack.pop()
            key = id(node)
            if key in seen or key in self._input_nodes or node.op is None:
                continue
            seen.add(key)
            # A node named by a child block can sit above nodes this block created before it
            # called the child, so the walk continues below it.
            if key not in STATE.named:
                created.append(node)
            stack.extend(child for child, _ in node.inputs)
        return created

    def _auto_number(self, name):
        """Return (hint, number) when ``name`` was generated by mx.sym during this call."""
        match = re.fullmatch(r'(.*?)(\d+)', name)
        if match is None:
            return None
        hint, number = match.group(1), int(match.group(2))
        start = self._counters_before.get(hint, 0)
        if start <= number < symbol_impl._name_counters.get(hint, 0):
            return hint, number
        return None

    @staticmethod
    def _rename(node, new_name):
        old_prefix = node.name + '_'
        # Variables the operator created for inputs it was not given are named after it.
        # Parameter variables always carry __storage_type__ and keep their names.
        for child, _ in node.inputs:
            if child.op is None and child.name.startswith(old_prefix) \
                    and '__storage_type__' not in child.attrs and id(child) not in STATE.named:
                child.name = new_name + '_' + child.name[len(old_prefix):]
                STATE.named.add(id(child))
                STATE.nodes.append(child)
        node.name = new_name
        STATE.named.add(id(node))
        STATE.nodes.append(node)


# ---- errors from using symbolic values ----------------------------------------------------------

_SYMBOL_PACKAGE_DIR = os.path.dirname(os.path.abspath(symbol_impl.__file__))

# NDArray members that a traced Symbol lacks; reading one means the code needs a value.
_VALUE_ATTRIBUTES = ('asnumpy', 'asscalar', 'shape', 'dtype', 'context', 'ctx', 'size', 'ndim',
                     'wait_to_read', 'item', 'tolist', 'grad', 'attach_grad', 'copyto')


class SymbolValueError(MXNetError):
    """Error raised when a traced ``hybrid_forward`` needs the value of a Symbol."""


def _user_frame(tb):
    """Return the innermost traceback entry outside the mx.sym package, or None."""
    frames = [entry for entry in traceback.extract_tb(tb)
              if not os.path.abspath(entry.filename).startswith(_SYMBOL_PACKAGE_DIR)]
    return frames[-1] if frames else None


def _value_use(error):
    """Return a short description when ``error`` comes from using a Symbol as a value."""
    if isinstance(error, SymbolValueError):
        return None
    innermost = traceback.extract_tb(error.__traceback__)
    if isinstance(error, MXNetError) and innermost and innermost[-1].name == '__bool__' \
            and os.path.abspath(innermost[-1].filename).startswith(_SYMBOL_PACKAGE_DIR):
        return 'bool() of a Symbol (an if, while, and, or or not on a graph value)'
    if isinstance(error, AttributeError) and isinstance(getattr(error, 'obj', None), Symbol) \
            and error.name in _VALUE_ATTRIBUTES:
        return "the NDArray attribute '%s' of a Symbol" % error.name
    if isinstance(error, TypeError) and "'Symbol'" in str(error):
        return 'a Symbol where Python needs a number (%s)' % error
    return None


def raise_if_value_use(block, error):
    """Re-raise ``error`` as a SymbolValueError naming the block and the source line, when it
    comes from Python code that needs the value of a traced Symbol. Otherwise return."""
    description = _value_use(error)
    if description is None:
        return
    entry = _user_frame(error.__traceback__)
    where = 'an unknown line'
    if entry is not None:
        where = '%s, line %d' % (entry.filename, entry.lineno)
        if entry.line:
            where += ': %s' % entry.line.strip()
    # NOTE: MXNet 1.9.1 raises a bare NotImplementedForSymbol here without the location.
    raise SymbolValueError(
        "%s.hybrid_forward uses %s at %s. A hybridized block is traced once with mx.sym "
        "Symbols, which have no values or shapes, so Python code cannot branch on or read "
        "them. Express it with F operators (F.where for a choice, F.reshape_like or "
        "F.shape_array for shapes), or call hybridize(False) on this block to run it "
        "imperatively."
        % (type(block).__name__, description, where)) from error


# ---- running a traced graph ---------------------------------------------------------------------


def _operator_attrs(node):
    """Return the operator attributes without user attributes (``__shape__``, ``__lr_mult__``)."""
    return sorted((key, value) for key, value in node.attrs.items()
                  if not (key.startswith('__') and key.endswith('__')))


class CachedGraph:
    """A Symbol compiled into a ``_native.Graph``, with the source of every variable.

    Parameters
    ----------
    symbol : Symbol
        The graph; its outputs become the results.
    input_names : list of str
        Variables fed from the call's arrays, in call order.
    params : dict of str to Parameter
        Variables fed from parameters, by variable name.
    owner : str
        The block name used in error messages.
    """

    def __init__(self, symbol, input_names, params, owner):
        order = _topo_order(symbol._outputs)
        index = {id(node): i for i, node in enumerate(order)}
        input_index = {name: i for i, name in enumerate(input_names)}
        nodes, sources, unknown = [], [], []
        for node in order:
            if node.op is not None:
                inputs = [(index[id(child)], i) for child, i in node.inputs]
                nodes.append((node.op, _operator_attrs(node), inputs))
                continue
            nodes.append((None, [], []))
            if node.name in input_index:
                sources.append(input_index[node.name])
            elif node.name in params:
                sources.append(params[node.name])
            else:
                unknown.append(node.name)
        if unknown:
            raise MXNetError(
                "%s: the graph has variables %s that are neither inputs %s nor parameters. "
                "Pass every parameter to the operators explicitly (hybrid_forward receives "
                "them as keyword arguments), and create no mx.sym.var inside hybrid_forward."
                % (owner, unknown, list(input_names)))
        heads = [(index[id(node)], i) for node, i in symbol._outputs]
        self.symbol = symbol
        self.num_inputs = len(input_names)
        self._sources = sources
        self._graph = _native.Graph(nodes, heads)

    def __call__(self, inputs, ctx, static_alloc=False):
        """Run the graph on NDArray ``inputs`` and the parameters' data on ``ctx``; returns
        the output NDArrays. Autograd records the operators when recording is on."""
        handles = []
        for source in self._sources:
            if isinstance(source, int):
                handles.append(inputs[source]._h)
            else:
                handles.append(source.data(ctx)._h)
        return [_wrap(handle) for handle in self._graph.forward(handles,
                                                                static_alloc=static_alloc)]


def array_signature(arrays):
    """Return the shapes and dtypes of ``arrays`` as a hashable cache key."""
    return tuple((tuple(a.shape), np.dtype(a.dtype).name) for a in arrays)
