"""``mx.executor``: run a bound symbolic graph (``Symbol.bind`` / ``Symbol.simple_bind``).

An ``Executor`` owns the argument, gradient and auxiliary-state arrays of one bound symbol and
runs the graph through ``mxnet._native.Graph``. Gradients come from autograd: a training forward
records the graph with the argument arrays marked as variables whose gradient buffers are the
executor's gradient arrays, and ``backward`` runs autograd backward on the recorded outputs.

``MultiThreadExecutor`` queues inference requests for several symbols and collects their
results in request order.
"""
import threading
import warnings
from collections import deque

import numpy as np

from . import _native
from . import autograd
from .base import MXNetError
from .context import Context, current_context
from .ndarray.ndarray import NDArray

__all__ = ["Executor", "MultiThreadExecutor"]

_GRAD_REQS = ("null", "write", "add")

# Head operators whose gradient does not read the head gradient, so backward() needs no
# out_grads for them (MXNet 1.9.1 raises for any other head without one).
_LOSS_OPS = {
    "SoftmaxOutput", "Softmax", "MakeLoss", "make_loss", "BlockGrad", "stop_gradient",
    "LinearRegressionOutput", "LogisticRegressionOutput", "MAERegressionOutput", "SVMOutput",
}


def _symbol_module():
    from .symbol import symbol
    return symbol


def _operator_attrs(attrs):
    """Return an operator's attributes without user attributes such as ``__lr_mult__``."""
    return sorted((k, v) for k, v in attrs.items() if not (k.startswith("__") and k.endswith("__")))


def _build_graph(sym, extra_heads=()):
    """Build a native Graph for ``sym`` (and optionally more head entries).

    Returns ``(graph, inputs)`` where ``inputs[k]`` is ``("arg", i)`` or ``("aux", j)``: the
    k-th variable node in graph order reads argument i or auxiliary state j.
    """
    symmod = _symbol_module()
    order = symmod._topo_order(list(sym._outputs) + list(extra_heads))
    aux_ids = symmod._aux_node_ids(order)
    index = {id(node): k for k, node in enumerate(order)}
    nodes, inputs = [], []
    num_args = num_aux = 0
    for node in order:
        if node.op is None:
            nodes.append((None, [], []))
            if id(node) in aux_ids:
                inputs.append(("aux", num_aux))
                num_aux += 1
            else:
                inputs.append(("arg", num_args))
                num_args += 1
            continue
        edges = [(index[id(n)], i) for n, i in node.inputs]
        nodes.append((node.op, _operator_attrs(node.attrs), edges))
    heads = [(index[id(n)], i) for n, i in list(sym._outputs) + list(extra_heads)]
    return _native.Graph(nodes, heads), inputs


def _check_context(ctx, caller):
    if ctx is None:
        return current_context()
    if not isinstance(ctx, Context):
        raise TypeError(f"{caller}: ctx must be a Context such as mx.cpu(), got {ctx!r}")
    return ctx


def _normalize_grad_req(grad_req, arg_names, caller):
    """Return one grad_req string per argument from a string, list or dict."""
    if isinstance(grad_req, str):
        reqs = [grad_req] * len(arg_names)
    elif isinstance(grad_req, (list, tuple)):
        if len(grad_req) != len(arg_names):
            raise ValueError(f"{caller}: grad_req has {len(grad_req)} entries but the symbol has "
                             f"{len(arg_names)} arguments {arg_names}")
        reqs = list(grad_req)
    elif isinstance(grad_req, dict):
        unknown = sorted(set(grad_req) - set(arg_names))
        if unknown:
            raise ValueError(f"{caller}: grad_req names {unknown} are not arguments of the "
                             f"symbol; arguments are {arg_names}")
        # Like MXNet 1.9.1, arguments missing from the dict get no gradient.
        reqs = [grad_req.get(name, "null") for name in arg_names]
    else:
        raise TypeError(f"{caller}: grad_req must be a str, list or dict, got {grad_req!r}")
    for name, req in zip(arg_names, reqs):
        if req not in _GRAD_REQS:
            raise ValueError(f"{caller}: invalid grad_req {req!r} for argument '{name}'; use one "
                             f"of {list(_GRAD_REQS)}")
    return reqs


def _arrays_by_name(values, names, what, caller, required):
    """Return one NDArray (or None) per name from a list in name order or a dict by name."""
    if values is None:
        values = {}
    if isinstance(values, (list, tuple)):
        if len(values) != len(names):
            raise ValueError(f"{caller}: {what} has {len(values)} arrays but the symbol has "
                             f"{len(names)} {names}; pass one per name in that order, or a dict")
        arrays = list(values)
    elif isinstance(values, dict):
        # Like MXNet 1.9.1, names that are not in the symbol are ignored.
        arrays = [values.get(name) for name in names]
    else:
        raise TypeError(f"{caller}: {what} must be a list or a dict of NDArrays, got "
                        f"{type(values).__name__}")
    for name, array in zip(names, arrays):
        if array is None:
            if required:
                raise ValueError(f"{caller}: '{name}' is missing from {what}; pass an NDArray "
                                 f"for each of {names}")
            continue
        if not isinstance(array, NDArray):
            raise TypeError(f"{caller}: {what}['{name}'] must be an NDArray, got "
                            f"{type(array).__name__}; wrap it with mx.nd.array()")
    return arrays


def _prefix_view(array, shape):
    """Return an array of ``shape`` that shares the first elements of ``array``'s memory."""
    size = int(np.prod(shape, dtype=np.int64))
    if tuple(shape) == array.shape:
        return array
    return array.reshape((-1,))[:size].reshape(tuple(shape))


class Executor:
    """A symbol bound to arrays. Create it with ``Symbol.bind`` or ``Symbol.simple_bind``.

    ``arg_arrays``, ``grad_arrays`` and ``aux_arrays`` follow ``list_arguments()`` and
    ``list_auxiliary_states()``; ``grad_arrays`` is None at arguments without a gradient.
    ``outputs`` keeps the same NDArray objects across forward calls, so a reference taken
    before a forward sees the new values, as in MXNet 1.9.1.
    """

    def __init__(self, symbol, ctx, arg_arrays, grad_arrays, grad_reqs, aux_arrays):
        self._symbol = symbol
        self._ctx = ctx
        self.arg_arrays = list(arg_arrays)
        self.grad_arrays = list(grad_arrays)
        self.aux_arrays = list(aux_arrays)
        self._grad_reqs = list(grad_reqs)
        self._arg_names = symbol.list_arguments()
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._graph, self._inputs = _build_graph(symbol)
        self._monitor = None
        self._monitor_graph = None
        self._monitor_names = []
        # Set by a forward: whether it recorded for backward, and its training flag.
        self._recorded = False
        self._forward_done = False
        self._last_is_train = False
        self.outputs = self._allocate_outputs()

    # ---- construction -----------------------------------------------------------------------
    def _allocate_outputs(self):
        """Return zero arrays of the inferred output shapes, or [] when shape inference fails
        (the first forward then fills the list)."""
        from .ndarray import zeros
        shapes = {n: a.shape for n, a in zip(self._arg_names, self.arg_arrays)}
        shapes.update({n: a.shape for n, a in zip(self._aux_names, self.aux_arrays)})
        dtypes = {n: np.dtype(a.dtype) for n, a in zip(self._arg_names, self.arg_arrays)}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, out_shapes, _ = self._symbol.infer_shape(**shapes)
                _, out_types, _ = self._symbol.infer_type(**dtypes)
        except MXNetError:
            return []
        if out_shapes is None or out_types is None:
            return []
        return [zeros(s, ctx=self._ctx, dtype=t) for s, t in zip(out_shapes, out_types)]

    # ---- dictionaries -----------------------------------------------------------------------
    @staticmethod
    def _as_dict(names, arrays, what, list_name):
        result = {}
        for name, array in zip(names, arrays):
            if name in result:
                raise MXNetError(f"Executor.{what}: the symbol has two entries named '{name}'; "
                                 f"use the {list_name} list instead")
            result[name] = array
        return result

    @property
    def arg_dict(self):
        """Argument arrays by name."""
        return self._as_dict(self._arg_names, self.arg_arrays, "arg_dict", "arg_arrays")

    @property
    def grad_dict(self):
        """Gradient arrays by argument name (None where the argument has no gradient)."""
        return self._as_dict(self._arg_names, self.grad_arrays, "grad_dict", "grad_arrays")

    @property
    def aux_dict(self):
        """Auxiliary-state arrays by name."""
        return self._as_dict(self._aux_names, self.aux_arrays, "aux_dict", "aux_arrays")

    @property
    def output_dict(self):
        """Output arrays by output name (``fc1_output`` ...)."""
        return self._as_dict(self._output_names, self.outputs, "output_dict", "outputs")

    # ---- running ----------------------------------------------------------------------------
    def _input_handles(self):
        return [(self.arg_arrays if kind == "arg" else self.aux_arrays)[i]._h
                for kind, i in self._inputs]

    def _needs_grad(self):
        return any(g is not None and r != "null" for g, r in zip(self.grad_arrays, self._grad_reqs))

    def _copy_inputs(self, kwargs):
        from .ndarray import array as nd_array
        arg_dict = self.arg_dict
        for name, value in kwargs.items():
            if name not in arg_dict:
                raise TypeError(f"Executor.forward: unknown argument '{name}'; arguments are "
                                f"{self._arg_names}")
            target = arg_dict[name]
            if not isinstance(value, NDArray):
                value = nd_array(value, ctx=target.context, dtype=target.dtype)
            if value.shape != target.shape:
                raise ValueError(f"Executor.forward: argument '{name}' has shape {target.shape} "
                                 f"but the new value has shape {value.shape}; use "
                                 f"Executor.reshape to change input shapes")
            value.copyto(target)

    def _run_graph(self, record, is_train, report=True):
        graph = self._graph if self._monitor is None else self._monitor_graph
        handles = self._input_handles()
        if record:
            entries = zip(self.arg_arrays, self.grad_arrays, self._grad_reqs)
            trained = [(a, g, r) for a, g, r in entries if g is not None and r != "null"]
            variables, grads, reqs = (list(column) for column in zip(*trained))
            autograd.mark_variables(variables, grads, reqs)
            with autograd.record(train_mode=is_train):
                results = graph.forward(handles)
        else:
            with autograd.pause(train_mode=is_train):
                results = graph.forward(handles, static_alloc=True)
        num_heads = len(self._output_names)
        self._set_outputs(results[:num_heads])
        if self._monitor is not None and report:
            self._report_monitor(results[num_heads:])
        self._recorded = record
        self._forward_done = True
        self._last_is_train = is_train

    def _set_outputs(self, handles):
        from .ndarray.ndarray import _wrap
        if len(self.outputs) != len(handles):
            self.outputs = [_wrap(h) for h in handles]
            return
        # Swap the handles into the existing objects so earlier references see the new values.
        for output, handle in zip(self.outputs, handles):
            output._h = handle

    def forward(self, is_train=False, **kwargs):
        """Run the graph and return ``outputs``.

        Keyword arguments copy new values (NDArrays or array-likes of the same shape) into the
        argument arrays of those names first. ``is_train=True`` runs operators in training mode
        (Dropout masks, BatchNorm uses batch statistics and updates its moving statistics) and
        records the graph for ``backward`` when some argument has a gradient.
        """
        self._copy_inputs(kwargs)
        self._run_graph(record=bool(is_train) and self._needs_grad(), is_train=bool(is_train))
        return self.outputs

    def _head_gradients(self, out_grads):
        """Return one head gradient (NDArray or None) per output."""
        names = self._output_names
        if out_grads is None:
            grads = [None] * len(names)
        elif isinstance(out_grads, NDArray):
            grads = [out_grads]
        elif isinstance(out_grads, dict):
            unknown = sorted(set(out_grads) - set(names))
            if unknown:
                raise ValueError(f"Executor.backward: out_grads names {unknown} are not outputs; "
                                 f"outputs are {names}")
            grads = [out_grads.get(n) for n in names]
        elif isinstance(out_grads, (list, tuple)):
            grads = list(out_grads)
        else:
            raise TypeError(f"Executor.backward: out_grads must be an NDArray, a list or a dict "
                            f"of NDArrays, got {type(out_grads).__name__}")
        if len(grads) > len(names):
            raise ValueError(f"Executor.backward: {len(grads)} out_grads for {len(names)} "
                             f"outputs {names}")
        grads += [None] * (len(names) - len(grads))

        for name, (node, _), grad, output in zip(names, self._symbol._outputs, grads, self.outputs):
            if grad is None:
                if node.op not in _LOSS_OPS:
                    raise MXNetError(
                        f"Executor.backward: output '{name}' is not a loss output, so it needs a "
                        f"head gradient in out_grads; to minimize it, wrap it with "
                        f"mx.sym.MakeLoss")
                continue
            if not isinstance(grad, NDArray):
                raise TypeError(f"Executor.backward: the head gradient of '{name}' must be an "
                                f"NDArray, got {type(grad).__name__}")
            if grad.shape != output.shape:
                raise ValueError(f"Executor.backward: the head gradient of '{name}' has shape "
                                 f"{grad.shape} but the output has shape {output.shape}")
        return grads

    def backward(self, out_grads=None, is_train=True):
        """Compute the gradients of the outputs into ``grad_arrays``.

        ``out_grads`` gives the head gradient of each output (an NDArray, a list in output
        order or a dict by output name). It may be left out only for loss outputs such as
        ``SoftmaxOutput`` and ``MakeLoss``. ``grad_req='write'`` overwrites the gradient arrays
        and ``'add'`` accumulates into them; several backward calls after one forward are
        allowed.
        """
        if not self._forward_done:
            raise MXNetError("Executor.backward: call forward(is_train=True) before backward")
        grads = self._head_gradients(out_grads)
        if not self._needs_grad():
            return
        if not self._recorded:
            # MXNet 1.9.1 also allows backward after forward(is_train=False): run that forward
            # again, recorded and in the same mode, so the gradients see the same values.
            self._run_graph(record=True, is_train=self._last_is_train, report=False)
        autograd.backward(self.outputs, grads, retain_graph=True, train_mode=bool(is_train))

    # ---- parameters -------------------------------------------------------------------------
    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        """Copy values into the argument and auxiliary arrays of the same names.

        Names that are not arguments (or auxiliary states) raise ValueError unless
        ``allow_extra_params=True``. Values are cast to the executor's dtypes.
        """
        for params, targets, what in ((arg_params, self.arg_dict, "arguments"),
                                      (aux_params or {}, self.aux_dict, "auxiliary states")):
            for name, value in params.items():
                if name not in targets:
                    if allow_extra_params:
                        continue
                    raise ValueError(f"Executor.copy_params_from: '{name}' is not in the "
                                     f"{what} {sorted(targets)}; pass allow_extra_params=True "
                                     f"to skip extra names")
                target = targets[name]
                if not isinstance(value, NDArray):
                    from .ndarray import array as nd_array
                    value = nd_array(value, ctx=target.context, dtype=target.dtype)
                if value.shape != target.shape:
                    raise ValueError(f"Executor.copy_params_from: '{name}' has shape "
                                     f"{target.shape} but the value has shape {value.shape}")
                value.copyto(target)

    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs):
        """Return a new executor for new input shapes that shares this executor's memory.

        Arrays keep their memory when the new shape has no more elements (a smaller array is
        a view of the first elements). A larger array needs ``allow_up_sizing=True`` and is
        newly allocated with zeros. An argument not named in ``kwargs`` whose inferred shape
        changes (a weight) needs ``partial_shaping=True``.
        """
        from .ndarray import zeros
        inputs = set(self._arg_names) | set(self._aux_names)
        unknown = sorted(set(kwargs) - inputs)
        if unknown:
            raise MXNetError(f"Executor.reshape: {unknown} are not inputs of the symbol; inputs "
                             f"are {sorted(inputs)}")
        arg_shapes, _, aux_shapes = self._symbol.infer_shape_partial(**kwargs)

        def reshaped(name, old, shape, given):
            shape = tuple(shape) if shape else old.shape
            if shape == old.shape:
                return old
            if not given and not partial_shaping:
                raise MXNetError(f"Executor.reshape: the shape of '{name}' would change from "
                                 f"{old.shape} to {shape} although it was not given; pass "
                                 f"partial_shaping=True if that is intended")
            if int(np.prod(shape, dtype=np.int64)) > old.size:
                if not allow_up_sizing:
                    raise MXNetError(f"Executor.reshape: '{name}' would grow from {old.shape} to "
                                     f"{shape}; pass allow_up_sizing=True to allocate new arrays")
                return zeros(shape, ctx=old.context, dtype=old.dtype)
            return _prefix_view(old, shape)

        new_args, new_grads = [], []
        arguments = zip(self._arg_names, self.arg_arrays, self.grad_arrays, arg_shapes)
        for name, old, grad, shape in arguments:
            given = name in kwargs
            new_args.append(reshaped(name, old, shape, given))
            if grad is None:
                new_grads.append(None)
            else:
                new_grads.append(reshaped(name, grad, new_args[-1].shape, given))
        new_aux = [reshaped(name, old, shape, name in kwargs)
                   for name, old, shape in zip(self._aux_names, self.aux_arrays, aux_shapes)]
        return Executor(self._symbol, self._ctx, new_args, new_grads, self._grad_reqs, new_aux)

    # ---- monitoring -------------------------------------------------------------------------
    def set_monitor_callback(self, callback, monitor_all=False):
        """Call ``callback(name, array)`` for every operator output after each forward.

        With ``monitor_all=True`` the inputs of every operator are reported too, named
        ``<node>_<input name>``, before its outputs. Unlike MXNet 1.9.1, which passes the name
        as bytes and a raw array handle, ``name`` is a str and ``array`` an NDArray. Pass
        ``callback=None`` to stop monitoring.
        """
        if callback is None:
            self._monitor = None
            self._monitor_graph = None
            return
        if not callable(callback):
            raise TypeError(f"Executor.set_monitor_callback: callback must be callable, got "
                            f"{callback!r}")
        symmod = _symbol_module()
        entries = []
        for node in symmod._topo_order(self._symbol._outputs):
            if node.op is None:
                continue
            entries.extend(node.inputs if monitor_all else [])
            entries.extend((node, i) for i in range(node.num_visible))
        self._monitor_names = self._monitor_entry_names(monitor_all)
        self._monitor_graph, _ = _build_graph(self._symbol, entries)
        self._monitor = callback

    def _monitor_entry_names(self, monitor_all):
        symmod = _symbol_module()
        # Input names per operator; variadic operators (Concat) have none, so their inputs
        # are reported as input0, input1, ...
        arguments = {}
        for op, aliases, args, _, _ in _native.list_ops():
            named = [] if args and args[0].startswith("*") else list(args)
            for name in [op] + list(aliases):
                arguments[name] = named
        names = []
        for node in symmod._topo_order(self._symbol._outputs):
            if node.op is None:
                continue
            if monitor_all:
                known = arguments.get(node.op, [])
                for k in range(len(node.inputs)):
                    label = known[k] if k < len(known) else f"input{k}"
                    names.append(f"{node.name}_{label}")
            names.extend(node.output_name(i) for i in range(node.num_visible))
        return names

    def _report_monitor(self, handles):
        from .ndarray.ndarray import _wrap
        for name, handle in zip(self._monitor_names, handles):
            self._monitor(name, _wrap(handle))

    def debug_str(self):
        """Return a text listing of the graph's nodes, one per line."""
        symmod = _symbol_module()
        lines = []
        for node in symmod._topo_order(self._symbol._outputs):
            if node.op is None:
                lines.append(f"Variable:{node.name}")
            else:
                inputs = ", ".join(n.output_name(i) for n, i in node.inputs)
                lines.append(f"Op:{node.op}, Name={node.name}, Inputs=[{inputs}]")
        return "\n".join(lines)

    def get_optimized_symbol(self):
        """Return a copy of the bound symbol. No graph rewriting pass runs here, so it is the
        symbol as bound."""
        return self._symbol.__copy__()

    def __repr__(self):
        return (f"<Executor outputs={self._output_names} arguments={self._arg_names} "
                f"@{self._ctx}>")


# ---- binding ------------------------------------------------------------------------------------
def bind(symbol, ctx, args, args_grad=None, grad_req="write", aux_states=None):
    """Implement ``Symbol.bind``: the executor uses the given arrays without copying them."""
    caller = "Symbol.bind"
    ctx = _check_context(ctx, caller)
    arg_names = symbol.list_arguments()
    aux_names = symbol.list_auxiliary_states()
    arg_arrays = _arrays_by_name(args, arg_names, "args", caller, required=True)
    aux_arrays = _arrays_by_name(aux_states, aux_names, "aux_states", caller, required=True)
    grad_arrays = _arrays_by_name(args_grad, arg_names, "args_grad", caller, required=False)
    reqs = _normalize_grad_req(grad_req, arg_names, caller)
    for name, array, grad in zip(arg_names, arg_arrays, grad_arrays):
        if grad is not None and grad.shape != array.shape:
            raise ValueError(f"{caller}: args_grad['{name}'] has shape {grad.shape} but the "
                             f"argument has shape {array.shape}")

    # Raise shape errors (a weight that does not fit the data) now rather than at forward.
    shapes = {n: a.shape for n, a in zip(arg_names, arg_arrays)}
    shapes.update({n: a.shape for n, a in zip(aux_names, aux_arrays)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        symbol.infer_shape(**shapes)
    return Executor(symbol, ctx, arg_arrays, grad_arrays, reqs, aux_arrays)


def _shared_array(name, shape, dtype, ctx, shared_buffer):
    """Return an array for ``name`` from ``shared_buffer`` when one fits, else a new zero
    array that is also stored in ``shared_buffer``."""
    from .ndarray import zeros
    if shared_buffer is not None and name in shared_buffer:
        existing = shared_buffer[name]
        size = int(np.prod(shape, dtype=np.int64))
        if np.dtype(existing.dtype) == np.dtype(dtype) and size <= existing.size:
            return _prefix_view(existing, shape)
    array = zeros(shape, ctx=ctx, dtype=dtype)
    if shared_buffer is not None:
        shared_buffer[name] = array
    return array


def simple_bind(symbol, ctx, grad_req="write", type_dict=None, stype_dict=None,
                shared_arg_names=None, shared_exec=None, shared_buffer=None, **kwargs):
    """Implement ``Symbol.simple_bind``: infer shapes and dtypes and allocate zero arrays."""
    from .ndarray import zeros
    caller = "Symbol.simple_bind"
    ctx = _check_context(ctx, caller)
    arg_names = symbol.list_arguments()
    aux_names = symbol.list_auxiliary_states()
    if grad_req == "inplace":
        raise ValueError(f"{caller}: grad_req='inplace' is not supported; use 'write', 'add' "
                         f"or 'null'")
    reqs = _normalize_grad_req(grad_req, arg_names, caller)
    for name, stype in (stype_dict or {}).items():
        if stype != "default":
            raise MXNetError(f"{caller}: storage type {stype!r} for '{name}' is not supported; "
                             f"only 'default' (dense) arrays exist")

    # Like MXNet 1.9.1, shapes and dtypes of names that are not inputs (a label the data
    # iterator provides but the symbol does not use) are ignored.
    inputs = set(symbol.list_inputs())
    shapes = {k: tuple(v) for k, v in kwargs.items() if k in inputs}
    types = {k: v for k, v in (type_dict or {}).items() if k in inputs}
    arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**shapes)
    unknown = [n for n, s in zip(arg_names + aux_names, arg_shapes + aux_shapes)
               if not s or any(d <= 0 for d in s)]
    if unknown:
        raise MXNetError(f"{caller}: cannot infer the shapes of {unknown} from the given shapes "
                         f"{shapes}; pass them as keyword arguments, e.g. {unknown[0]}=(2, 3)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arg_types, _, aux_types = symbol.infer_type(**types)
    if arg_types is None:
        # Dtypes that inference cannot decide default to float32, as in MXNet.
        arg_types = [np.dtype(types.get(n, np.float32)).type for n in arg_names]
        aux_types = [np.dtype(types.get(n, np.float32)).type for n in aux_names]

    shared_names = set(shared_arg_names or ())
    shared_args = shared_exec.arg_dict if shared_exec is not None else {}
    shared_grads = shared_exec.grad_dict if shared_exec is not None else {}
    arg_arrays, grad_arrays = [], []
    for name, shape, dtype, req in zip(arg_names, arg_shapes, arg_types, reqs):
        reuse = name in shared_names and name in shared_args \
            and shared_args[name].shape == tuple(shape) \
            and np.dtype(shared_args[name].dtype) == np.dtype(dtype)
        if reuse:
            arg_arrays.append(shared_args[name])
        elif name in shared_names or shared_buffer is None:
            arg_arrays.append(zeros(shape, ctx=ctx, dtype=dtype))
        else:
            arg_arrays.append(_shared_array(name, shape, dtype, ctx, shared_buffer))

        if req == "null":
            grad_arrays.append(None)
        elif reuse and shared_grads.get(name) is not None:
            grad_arrays.append(shared_grads[name])
        else:
            grad_arrays.append(zeros(shape, ctx=ctx, dtype=dtype))
    aux_arrays = [zeros(s, ctx=ctx, dtype=t) for s, t in zip(aux_shapes, aux_types)]
    return Executor(symbol, ctx, arg_arrays, grad_arrays, reqs, aux_arrays)


# ---- queued inference ---------------------------------------------------------------------------
class _Request:
    __slots__ = ("outputs",)

    def __init__(self, outputs):
        self.outputs = outputs

    def wait(self):
        for output in self.outputs:
            output.wait_to_read()


class MultiThreadExecutor:
    """Queue inference requests for registered symbols and collect the results in order.

    ``fetch_async`` pushes the graph to the asynchronous engine and returns without waiting,
    so several requests can be computing on the engine's worker threads at once. At most
    ``max_request`` requests are in flight: a further ``fetch_async`` first waits for the
    oldest unfinished one. ``getall`` waits for everything queued and returns one list of
    output NDArrays per request. The methods may be called from several threads.

    Example::

        exe = mx.executor.MultiThreadExecutor(max_request=10)
        exe.add_fetch(net)
        exe.fetch_async(net, [data, weight, bias])   # arrays in net.list_arguments() order
        results = exe.getall()                       # [[output, ...]]
    """

    def __init__(self, max_request=10):
        if isinstance(max_request, bool) or not isinstance(max_request, int) or max_request < 1:
            raise ValueError(f"MultiThreadExecutor: max_request must be a positive int, got "
                             f"{max_request!r}")
        self.max_request = max_request
        self._lock = threading.Lock()
        self._symbols = {}
        self.reset()

    def reset(self):
        """Forget the registered symbols and the queued results."""
        with self._lock:
            self._symbols = {}
            self._results = []
            self._unfinished = deque()

    @property
    def num_in_flight(self):
        """Number of queued requests not yet known to be finished (at most ``max_request``)."""
        with self._lock:
            return len(self._unfinished)

    def add_fetch(self, symbol):
        """Register ``symbol`` so that ``fetch_async`` can run it."""
        symmod = _symbol_module()
        if not isinstance(symbol, symmod.Symbol):
            raise TypeError(f"MultiThreadExecutor.add_fetch: expected a Symbol, got "
                            f"{type(symbol).__name__}")
        graph, inputs = _build_graph(symbol)
        arg_names = symbol.list_arguments()
        aux_names = symbol.list_auxiliary_states()
        with self._lock:
            # Keyed by id: Symbol overloads == to build a comparison graph. The entry keeps the
            # symbol alive so its id stays unique.
            self._symbols[id(symbol)] = (symbol, graph, inputs, arg_names, aux_names)

    def fetch_async(self, symbol, args, aux_states=None):
        """Queue one inference run of ``symbol`` on ``args`` and return without waiting.

        ``args`` are NDArrays in ``symbol.list_arguments()`` order; a symbol with auxiliary
        states (BatchNorm) also needs ``aux_states`` in ``list_auxiliary_states()`` order.
        """
        with self._lock:
            entry = self._symbols.get(id(symbol))
        if entry is None:
            raise MXNetError("MultiThreadExecutor.fetch_async: the symbol was not registered; "
                             "call add_fetch(symbol) first")
        _, graph, inputs, arg_names, aux_names = entry
        args = list(args)
        aux_states = list(aux_states or [])
        if len(args) != len(arg_names):
            raise ValueError(f"MultiThreadExecutor.fetch_async: got {len(args)} arrays but the "
                             f"symbol has {len(arg_names)} arguments {arg_names}")
        if len(aux_states) != len(aux_names):
            raise ValueError(f"MultiThreadExecutor.fetch_async: got {len(aux_states)} auxiliary "
                             f"states but the symbol has {len(aux_names)} {aux_names}")
        for name, value in zip(arg_names + aux_names, args + aux_states):
            if not isinstance(value, NDArray):
                raise TypeError(f"MultiThreadExecutor.fetch_async: '{name}' must be an NDArray, "
                                f"got {type(value).__name__}")

        self._wait_for_slot()
        handles = [(args if kind == "arg" else aux_states)[i]._h for kind, i in inputs]
        # No static_alloc: requests in flight at once must not share output buffers.
        with autograd.pause(train_mode=False):
            results = graph.forward(handles)
        from .ndarray.ndarray import _wrap
        request = _Request([_wrap(h) for h in results])
        with self._lock:
            self._results.append(request)
            self._unfinished.append(request)

    def _wait_for_slot(self):
        while True:
            with self._lock:
                if len(self._unfinished) < self.max_request:
                    return
                oldest = self._unfinished[0]
            oldest.wait()
            with self._lock:
                if self._unfinished and self._unfinished[0] is oldest:
                    self._unfinished.popleft()

    def getall(self):
        """Wait for every queued request and return their outputs, one list per request in
        request order; the queue is then empty."""
        with self._lock:
            results, self._results = self._results, []
        for request in results:
            request.wait()
        with self._lock:
            finished = {id(r) for r in results}
            self._unfinished = deque(r for r in self._unfinished if id(r) not in finished)
        return [request.outputs for request in results]
