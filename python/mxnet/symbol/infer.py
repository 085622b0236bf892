"""Forward shape and dtype inference over a symbol graph.

Each operator node is inferred by the native registry (``_native.infer``) once all its input
shapes are known. Parameter variables without a shape (the weight of FullyConnected given
only the data shape) are filled in from ``_PARAM_SHAPE_RULES`` first.
"""
import warnings

import numpy as np

from ..base import MXNetError
from .symbol import _FLAG_DTYPES, _aux_node_ids, _topo_order


def _tuple_attr(attrs, key, default=None):
    text = attrs.get(key)
    if text is None:
        return default
    values = [v for v in text.strip("()[] ").split(",") if v.strip()]
    return tuple(int(v) for v in values)


def _fully_connected(data, attrs):
    hidden = int(attrs["num_hidden"])
    if attrs.get("flatten", "True").lower() in ("true", "1"):
        in_units = int(np.prod(data[1:]))
    else:
        in_units = data[-1]
    return {"weight": (hidden, in_units), "bias": (hidden,)}


def _convolution(data, attrs):
    kernel = _tuple_attr(attrs, "kernel")
    filters = int(attrs["num_filter"])
    groups = int(attrs.get("num_group", 1))
    layout = attrs.get("layout", "None")
    channels = data[-1] if layout in ("NWC", "NHWC", "NDHWC") else data[1]
    return {"weight": (filters, channels // groups) + kernel, "bias": (filters,)}


def _batch_norm(data, attrs):
    axis = int(attrs.get("axis", 1))
    c = (data[axis],)
    return {"gamma": c, "beta": c, "moving_mean": c, "moving_var": c}


def _embedding(data, attrs):
    return {"weight": (int(attrs["input_dim"]), int(attrs["output_dim"]))}


def _layer_norm(data, attrs):
    axis = int(attrs.get("axis", -1))
    return {"gamma": (data[axis],), "beta": (data[axis],)}


# Shapes of an operator's parameter inputs given its data shape: op -> rule(data, attrs).
_PARAM_SHAPE_RULES = {
    "FullyConnected": _fully_connected,
    "Convolution": _convolution,
    "BatchNorm": _batch_norm,
    "Embedding": _embedding,
    "LayerNorm": _layer_norm,
}

# Input names in registry order, used to map parameter rules onto input positions.
_INPUT_NAMES = {
    "FullyConnected": ("data", "weight", "bias"),
    "Convolution": ("data", "weight", "bias"),
    "BatchNorm": ("data", "gamma", "beta", "moving_mean", "moving_var"),
    "Embedding": ("data", "weight"),
    "LayerNorm": ("data", "gamma", "beta"),
}

# Binary operators where a variable operand of unknown shape takes the other operand's shape.
_SAME_SHAPE_BINARY_OPS = {
    "elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div",
    "broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_div", "broadcast_power",
    "broadcast_maximum", "broadcast_minimum", "broadcast_mod",
}

# Labels whose shape follows the data (``SoftmaxOutput``'s label is the data shape minus the
# class axis).
_LABEL_RULES = {
    "SoftmaxOutput": lambda data, attrs: data[:1] if len(data) == 2 else data[:1] + data[2:],
    "LinearRegressionOutput": lambda data, attrs: data,
    "LogisticRegressionOutput": lambda data, attrs: data,
    "MAERegressionOutput": lambda data, attrs: data,
}


def _input_values(sym, args, kwargs, caller):
    arg_names = sym.list_arguments()
    given = {}
    if args:
        if len(args) > len(arg_names):
            raise MXNetError(f"{caller}: {len(args)} positional values for {len(arg_names)} "
                             f"arguments {arg_names}")
        given.update({n: v for n, v in zip(arg_names, args) if v is not None})
    inputs = set(sym.list_inputs())
    for key, value in kwargs.items():
        if key not in inputs:
            raise MXNetError(f"{caller}: '{key}' is not an input of the symbol; inputs are "
                             f"{sorted(inputs)}")
        if value is not None:
            given[key] = value
    return given


def _known(shape):
    return shape is not None and len(shape) > 0 and all(d > 0 for d in shape)


def _infer_shapes(sym, shapes):
    """Fill ``shapes`` (entry -> shape) for every node output it can infer."""
    from .. import _native
    for node in _topo_order(sym._outputs):
        if node.op is None:
            key = (id(node), 0)
            if key not in shapes and "__shape__" in node.attrs:
                declared = tuple(int(d) for d in node.attrs["__shape__"].strip("()[] ").split(",")
                                 if d.strip())
                if _known(declared):
                    shapes[key] = declared
            continue
        entries = [(id(n), i) for n, i in node.inputs]
        _fill_params(node, entries, shapes)
        if not all(e in shapes for e in entries):
            continue
        attrs = [(k, v) for k, v in node.attrs.items() if not k.startswith("__")]
        # NOTE: shapes are inferred as if every input were float32, because some native
        # operators reject other dtypes while MXNet's shape inference ignores dtypes.
        descs = [(list(shapes[e]), "float32") for e in entries]
        try:
            outs, _ = _native.infer(node.op, attrs, descs)
        except Exception as e:
            raise MXNetError(f"infer_shape: operator {node.op} (node '{node.name}') failed on input "
                             f"shapes {[tuple(d[0]) for d in descs]}: {e}") from None
        for i, (shape, _) in enumerate(outs):
            shapes[(id(node), i)] = tuple(shape)


def _fill_params(node, entries, shapes):
    if node.op in _SAME_SHAPE_BINARY_OPS and len(entries) == 2:
        # NOTE: MXNet 1.9.1 infers the missing operand of elemwise_add (what its ``+`` records)
        # from the other one. Symbol arithmetic here records broadcast_add, so the same rule is
        # applied to the broadcast ops too, to keep ``(a + b).infer_shape(a=...)`` working.
        for known, missing, (missing_node, _) in ((0, 1, node.inputs[1]), (1, 0, node.inputs[0])):
            if entries[known] in shapes and entries[missing] not in shapes \
                    and missing_node.op is None:
                shapes[entries[missing]] = shapes[entries[known]]
    if not entries or entries[0] not in shapes:
        return
    data = shapes[entries[0]]
    rule = _PARAM_SHAPE_RULES.get(node.op)
    if rule is not None:
        params = rule(data, node.attrs)
        for name, entry, (input_node, _) in zip(_INPUT_NAMES[node.op], entries, node.inputs):
            if name in params and entry not in shapes and input_node.op is None:
                shapes[entry] = params[name]
    label_rule = _LABEL_RULES.get(node.op)
    if label_rule is not None and len(entries) > 1 and entries[1] not in shapes \
            and node.inputs[1][0].op is None:
        shapes[entries[1]] = tuple(label_rule(data, node.attrs))


# Dtype of an operator's parameter inputs given its data dtype, where it is not the data dtype
# (MXNet 1.9.1 keeps BatchNorm statistics of float16 data in float32, and Embedding's weight
# has the dtype attribute).
_PARAM_DTYPE_RULES = {
    "BatchNorm": lambda data, attrs: "float32" if data == "float16" else data,
    "Embedding": lambda data, attrs: attrs.get("dtype", "float32"),
}

# Output dtype of operators whose output does not take the first input's dtype.
def _topk_dtype(attrs, data, i):
    # Outputs: values then indices for "value" and "both", the indices alone for "indices",
    # and a mask of the data's dtype for "mask". The hidden indices of "value" are int64.
    returns = attrs.get("ret_typ", "indices")
    if returns == "mask" or (returns in ("value", "both") and i == 0):
        return data
    return "int64" if returns == "value" else attrs.get("dtype", "float32")


# Output dtypes that differ from the first input's: op -> f(attrs, input dtype, output index).
_OUTPUT_DTYPE_RULES = {
    "Embedding": lambda attrs, data, i: attrs.get("dtype", "float32"),
    "Cast": lambda attrs, data, i: attrs["dtype"],
    "amp_cast": lambda attrs, data, i: attrs["dtype"],
    "argsort": lambda attrs, data, i: attrs.get("dtype", "float32"),
    "sort": lambda attrs, data, i: data if i == 0 else "int64",
    "topk": _topk_dtype,
}


def _fill_dtypes(node, entries, dtypes):
    # Parameters and labels without a declared dtype take the data's dtype, as MXNet's default
    # type inference does, unless _PARAM_DTYPE_RULES gives another dtype.
    if not entries or entries[0] not in dtypes:
        return
    data = dtypes[entries[0]]
    rule = _PARAM_DTYPE_RULES.get(node.op)
    param_dtype = rule(data, node.attrs) if rule is not None else data
    for entry, (input_node, _) in zip(entries[1:], node.inputs[1:]):
        if entry not in dtypes and input_node.op is None:
            dtypes[entry] = param_dtype


def _collect(sym, table, missing):
    order = _topo_order(sym._outputs)
    aux = _aux_node_ids(order)
    args = [table.get((id(n), 0), missing) for n in order if n.op is None and id(n) not in aux]
    auxs = [table.get((id(n), 0), missing) for n in order if n.op is None and id(n) in aux]
    outs = [table.get((id(n), i), missing) for n, i in sym._outputs]
    names = [n.name for n in order if n.op is None and id(n) not in aux] + \
            [n.name for n in order if n.op is None and id(n) in aux]
    return args, outs, auxs, names


def infer_shape(sym, args, kwargs, partial):
    given = _input_values(sym, args, kwargs, "infer_shape")
    shapes = {}
    for node in _topo_order(sym._outputs):
        if node.op is None and node.name in given:
            shapes[(id(node), 0)] = tuple(int(d) for d in given[node.name])
    _infer_shapes(sym, shapes)
    arg_shapes, out_shapes, aux_shapes, names = _collect(sym, shapes, None)
    if partial:
        return _empty_if_none(arg_shapes), _empty_if_none(out_shapes), _empty_if_none(aux_shapes)
    unknown = [n for n, s in zip(names, arg_shapes + aux_shapes) if s is None]
    if unknown or any(s is None for s in out_shapes):
        warnings.warn("infer_shape: cannot decide the shape of the arguments "
                      f"{unknown}; pass them as keyword arguments, e.g. infer_shape(data=(2, 3))")
        return None, None, None
    return arg_shapes, out_shapes, aux_shapes


def _empty_if_none(shapes):
    return [() if s is None else s for s in shapes]


def infer_type(sym, args, kwargs):
    """Propagate dtypes forward: an operator's output takes its first input's dtype unless
    ``_OUTPUT_DTYPE_RULES`` names it."""
    given = _input_values(sym, args, kwargs, "infer_type")
    dtypes = {}
    for node in _topo_order(sym._outputs):
        if node.op is None:
            key = (id(node), 0)
            if node.name in given:
                dtypes[key] = np.dtype(given[node.name]).name
            elif "__dtype__" in node.attrs:
                dtypes[key] = _FLAG_DTYPES.get(node.attrs["__dtype__"], "float32")
            continue
        entries = [(id(n), i) for n, i in node.inputs]
        if not entries:
            # Operators without inputs (_zeros, _arange ...) take their dtype attribute.
            dtypes[(id(node), 0)] = node.attrs.get("dtype", "float32")
            continue
        _fill_dtypes(node, entries, dtypes)
        if not all(e in dtypes for e in entries):
            continue
        _check_same_dtypes(node, entries, dtypes)
        for i in range(node.num_outputs):
            if node.op in _OUTPUT_DTYPE_RULES:
                dtypes[(id(node), i)] = _OUTPUT_DTYPE_RULES[node.op](node.attrs, dtypes[entries[0]], i)
            else:
                dtypes[(id(node), i)] = dtypes[entries[0]]
    arg_types, out_types, aux_types, names = _collect(sym, dtypes, None)
    unknown = [n for n, t in zip(names, arg_types + aux_types) if t is None]
    if unknown or any(t is None for t in out_types):
        warnings.warn(f"infer_type: cannot decide the dtype of the arguments {unknown}; pass them "
                      "as keyword arguments, e.g. infer_type(data='float32')")
        return None, None, None
    return _numpy_types(arg_types), _numpy_types(out_types), _numpy_types(aux_types)


# Operators whose inputs must all have one dtype (MXNet's elementwise type rule). Others, such as
# take or one_hot, mix index and data dtypes, so they are not checked.
_SAME_DTYPE_OPS = {"FullyConnected", "Convolution", "elemwise_add", "elemwise_sub",
                   "elemwise_mul", "elemwise_div", "broadcast_add", "broadcast_sub",
                   "broadcast_mul", "broadcast_div"}


def _check_same_dtypes(node, entries, dtypes):
    if node.op not in _SAME_DTYPE_OPS:
        return
    found = [dtypes[e] for e in entries]
    if len(set(found)) > 1:
        names = [n.name for n, _ in node.inputs]
        raise MXNetError(f"infer_type: operator {node.op} (node '{node.name}') needs inputs of one "
                         f"dtype, got {dict(zip(names, found))}; cast them or pass matching dtypes")


def _numpy_types(names):
    return [np.dtype(t).type for t in names]
