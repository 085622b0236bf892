"""The ``Symbol`` graph node and MXNet 1.x JSON save/load."""
import json
import logging
import operator

import numpy as np

from .. import _native
from ..base import MXNetError

# Version written into saved graphs: MXNet 1.9.1 encoded as 1*10000 + 9*100 + 1.
_MXNET_VERSION = 10901

# Inputs an operator writes to (MXNet's FMutateInputs): they become auxiliary states.
_MUTABLE_INPUTS = {"BatchNorm": (3, 4), "_contrib_SyncBatchNorm": (3, 4)}

# Hidden attributes MXNet 1.9.1 gives the implicit variables of some operators (the aux-state
# initializers of BatchNorm, PReLU's starting slope).
_IMPLICIT_VARIABLE_ATTRS = {
    ("BatchNorm", "moving_mean"): {"__init__": '["zero", {}]'},
    ("BatchNorm", "moving_var"): {"__init__": '["one", {}]'},
    ("LeakyReLU", "gamma"): {"__init__": '["Constant", {"value": 0.25}]'},
}

# Output names of operators with more than one output (MXNet's FListOutputNames).
_OUTPUT_NAMES = {
    "BatchNorm": ("output", "mean", "var"),
    "Dropout": ("output", "mask"),
    "LeakyReLU": ("output", "mask"),
    "Pooling": ("output", "workspace"),
    "LayerNorm": ("output", "mean", "std"),
}

# MXNet's dtype flags, as stored in the ``__dtype__`` variable attribute.
_DTYPE_FLAGS = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5,
                "int64": 6, "bool": 7}
_FLAG_DTYPES = {str(v): k for k, v in _DTYPE_FLAGS.items()}

# Counter per name hint for unnamed nodes (``fullyconnected0``, ``_mulscalar1`` ...).
_name_counters = {}


def _auto_name(hint):
    count = _name_counters.get(hint, 0)
    _name_counters[hint] = count + 1
    return f"{hint}{count}"


def _is_true(value):
    return str(value).lower() in ("true", "1")


def _num_outputs(op, attrs):
    """Return (all outputs, visible outputs) of ``op`` as MXNet 1.9.1 counts them."""
    if op is None:
        return 1, 1
    if op == "BatchNorm":
        return 3, 3 if _is_true(attrs.get("output_mean_var", "False")) else 1
    if op == "LayerNorm":
        return 3, 3 if _is_true(attrs.get("output_mean_var", "False")) else 1
    if op == "Dropout":
        return 2, 1
    if op == "LeakyReLU" and attrs.get("act_type", "leaky") == "rrelu":
        return 2, 2
    if op == "Pooling":
        # NOTE: the 1.9.1 wheel (built with oneDNN) gives Pooling a hidden workspace output;
        # builds without oneDNN count one output.
        return 2, 1
    if op == "sort":
        # The indices are kept, hidden, for the gradient.
        return 2, 1
    if op == "topk":
        returns = attrs.get("ret_typ", "indices")
        return {"both": (2, 2), "value": (2, 1)}.get(returns, (1, 1))
    if op == "SliceChannel":
        n = int(attrs.get("num_outputs", 1))
        return n, n
    return 1, 1


def _optional_arguments(op, attrs):
    """Return the input names that ``op`` does not take with these attributes."""
    skip = set()
    # Deconvolution is the one operator whose no_bias defaults to True (MXNet 1.9.1).
    no_bias_default = "True" if op == "Deconvolution" else "False"
    if _is_true(attrs.get("no_bias", no_bias_default)):
        skip.add("bias")
    if op == "LeakyReLU" and attrs.get("act_type", "leaky") != "prelu":
        skip.add("gamma")
    return skip


class _Node:
    """One graph node: an operator application, or a variable when ``op`` is None."""

    __slots__ = ("op", "name", "attrs", "inputs", "num_outputs", "num_visible", "input_versions")

    def __init__(self, op, name, attrs=None, inputs=()):
        self.op = op
        self.name = name
        self.attrs = dict(attrs or {})
        self.inputs = list(inputs)   # [(node, output index)]
        # Versions of the input entries read from a file; None means compute them on save.
        self.input_versions = None
        self.num_outputs, self.num_visible = _num_outputs(op, self.attrs)

    def output_name(self, index):
        if self.op is None:
            return self.name
        if self.num_outputs == 1:
            return f"{self.name}_output"
        names = _OUTPUT_NAMES.get(self.op)
        if names is not None:
            return f"{self.name}_{names[index]}"
        return f"{self.name}_output{index}"


def _topo_order(heads):
    """Return the nodes reachable from ``heads`` in post-order DFS (inputs first)."""
    order, seen = [], set()
    for head, _ in heads:
        if id(head) in seen:
            continue
        seen.add(id(head))
        stack = [(head, iter(head.inputs))]
        while stack:
            node, it = stack[-1]
            child = next(it, None)
            if child is None:
                stack.pop()
                order.append(node)
                continue
            child_node = child[0]
            if id(child_node) not in seen:
                seen.add(id(child_node))
                stack.append((child_node, iter(child_node.inputs)))
    return order


def _aux_node_ids(order):
    aux = set()
    for node in order:
        for i in _MUTABLE_INPUTS.get(node.op, ()):
            if i < len(node.inputs) and node.inputs[i][0].op is None:
                aux.add(id(node.inputs[i][0]))
    return aux


class Symbol:
    """A symbolic graph given by its output entries ``[(node, output index)]``."""

    def __init__(self, outputs):
        self._outputs = list(outputs)

    # ---- inspection -------------------------------------------------------------------------
    @property
    def name(self):
        """Node name of a single-output symbol, None for a group."""
        if len(self._outputs) != 1:
            return None
        return self._outputs[0][0].name

    def attr(self, key):
        """Return the attribute ``key`` of a single-node symbol as a string, or None."""
        if len(self._outputs) != 1:
            return None
        return self._outputs[0][0].attrs.get(key)

    def list_attr(self):
        """Return the attributes of a single-node symbol. Like MXNet 1.9.1, ``__lr_mult__`` and
        ``__wd_mult__`` are also listed under their legacy names ``lr_mult`` and ``wd_mult``."""
        if len(self._outputs) != 1:
            return {}
        attrs = dict(self._outputs[0][0].attrs)
        for key in ("lr_mult", "wd_mult"):
            if f"__{key}__" in attrs:
                attrs[key] = attrs[f"__{key}__"]
        return attrs

    def attr_dict(self):
        """Return ``{node name: {key: value}}`` for every node with attributes."""
        return {n.name: dict(n.attrs) for n in _topo_order(self._outputs) if n.attrs}

    def _set_attr(self, **kwargs):
        for node, _ in self._outputs:
            node.attrs.update({k: str(v) for k, v in kwargs.items()})

    def list_outputs(self):
        return [node.output_name(i) for node, i in self._outputs]

    def _variables(self):
        order = _topo_order(self._outputs)
        aux = _aux_node_ids(order)
        return order, aux

    def list_arguments(self):
        order, aux = self._variables()
        return [n.name for n in order if n.op is None and id(n) not in aux]

    def list_auxiliary_states(self):
        order, aux = self._variables()
        return [n.name for n in order if n.op is None and id(n) in aux]

    def list_inputs(self):
        return [n.name for n in _topo_order(self._outputs) if n.op is None]

    def get_internals(self):
        """Return a group of every visible output of every node, in graph order."""
        entries = []
        for node in _topo_order(self._outputs):
            entries.extend((node, i) for i in range(node.num_visible))
        return Symbol(entries)

    def get_children(self):
        """Return the inputs of a single-node symbol as a group, or None for a variable."""
        inputs = [e for node, _ in self._outputs for e in node.inputs]
        return Symbol(inputs) if inputs else None

    def __len__(self):
        return len(self._outputs)

    def __iter__(self):
        return (Symbol([e]) for e in self._outputs)

    def __getitem__(self, index):
        if isinstance(index, str):
            names = self.list_outputs()
            matches = [i for i, n in enumerate(names) if n == index]
            if not matches:
                raise ValueError(f"Symbol.__getitem__: no output named '{index}'; outputs are {names}")
            if len(matches) > 1:
                raise ValueError(f"Symbol.__getitem__: more than one output named '{index}'")
            index = matches[0]
        if isinstance(index, slice):
            return Symbol(self._outputs[index])
        if not isinstance(index, int):
            raise TypeError(f"Symbol.__getitem__: expected an int or an output name, got {index!r}")
        if not -len(self._outputs) <= index < len(self._outputs):
            raise IndexError(f"Symbol.__getitem__: output index {index} out of range for "
                             f"{len(self._outputs)} output(s)")
        return Symbol([self._outputs[index]])

    def __repr__(self):
        if len(self._outputs) == 1:
            return f"<Symbol {self.name}>"
        return f"<Symbol group [{', '.join(self.list_outputs())}]>"

    # ---- composition ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        """Return a copy with variables replaced by symbols (``net(data=other)``)."""
        kwargs.pop("name", None)
        copy = self.__copy__()
        copy._compose(*args, **kwargs)
        return copy

    def __copy__(self):
        mapping = {}
        for node in _topo_order(self._outputs):
            new = _Node(node.op, node.name, node.attrs,
                        [(mapping[id(n)], i) for n, i in node.inputs])
            if node.input_versions is not None:
                new.input_versions = list(node.input_versions)
            mapping[id(node)] = new
        return Symbol([(mapping[id(n)], i) for n, i in self._outputs])

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __getstate__(self):
        return {"json": self.tojson()}

    def __setstate__(self, state):
        self._outputs = load_json(state["json"])._outputs

    def _compose(self, *args, **kwargs):
        arg_names = self.list_arguments()
        if args and kwargs:
            raise TypeError("Symbol.__call__: pass inputs either by position or by keyword, not both")
        replace = {}
        if args:
            if len(args) > len(arg_names):
                raise TypeError(f"Symbol.__call__: {len(args)} inputs given but the symbol has "
                                f"{len(arg_names)} arguments {arg_names}")
            replace = dict(zip(arg_names, args))
        else:
            replace = kwargs
        for key, value in replace.items():
            if key not in arg_names:
                raise MXNetError(f"Symbol.__call__: argument '{key}' not found; the symbol's "
                                 f"arguments are {arg_names}")
            if not isinstance(value, Symbol) or len(value) != 1:
                raise TypeError(f"Symbol.__call__: input '{key}' must be a single-output Symbol, "
                                f"got {value!r}")
        order = _topo_order(self._outputs)
        for node in order:
            node.inputs = [replace[n.name]._outputs[0] if n.op is None and n.name in replace
                           else (n, i) for n, i in node.inputs]
        self._outputs = [replace[n.name]._outputs[0] if n.op is None and n.name in replace
                         else (n, i) for n, i in self._outputs]

    # ---- arithmetic -------------------------------------------------------------------------
    def _binary(self, other, op, scalar_op, reverse_scalar_op=None, reverse=False):
        from .. import symbol as ops
        if isinstance(other, Symbol):
            lhs, rhs = (other, self) if reverse else (self, other)
            return getattr(ops, op)(lhs, rhs)
        if isinstance(other, (int, float, np.number, bool)):
            fn = reverse_scalar_op if reverse and reverse_scalar_op else scalar_op
            return getattr(ops, fn)(self, scalar=other)
        raise TypeError(f"Symbol {op}: unsupported operand type {type(other).__name__}")

    # NOTE: MXNet 1.9.1 records elemwise_add/_sub/_mul/_div for symbol-symbol arithmetic, which
    # rejects shapes such as (2,3)+(1,3). We record broadcast_* so NumPy broadcasting works. A
    # loaded graph that records elemwise_add keeps MXNet's same-shape rule.
    def __add__(self, other):
        return self._binary(other, "broadcast_add", "_PlusScalar")

    __radd__ = __add__

    def __sub__(self, other):
        return self._binary(other, "broadcast_sub", "_MinusScalar")

    def __rsub__(self, other):
        return self._binary(other, "broadcast_sub", "_MinusScalar", "_RMinusScalar", reverse=True)

    def __mul__(self, other):
        return self._binary(other, "broadcast_mul", "_MulScalar")

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._binary(other, "broadcast_div", "_DivScalar")

    def __rtruediv__(self, other):
        return self._binary(other, "broadcast_div", "_DivScalar", "_RDivScalar", reverse=True)

    def __mod__(self, other):
        return self._binary(other, "broadcast_mod", "_ModScalar")

    def __rmod__(self, other):
        return self._binary(other, "broadcast_mod", "_ModScalar", "_RModScalar", reverse=True)

    def __pow__(self, other):
        return self._binary(other, "broadcast_power", "_PowerScalar")

    def __rpow__(self, other):
        return self._binary(other, "broadcast_power", "_PowerScalar", "_RPowerScalar", reverse=True)

    def __neg__(self):
        return self.__mul__(-1.0)

    def __eq__(self, other):
        return self._binary(other, "broadcast_equal", "_EqualScalar")

    def __ne__(self, other):
        return self._binary(other, "broadcast_not_equal", "_NotEqualScalar")

    def __gt__(self, other):
        return self._binary(other, "broadcast_greater", "_GreaterScalar")

    def __ge__(self, other):
        return self._binary(other, "broadcast_greater_equal", "_GreaterEqualScalar")

    def __lt__(self, other):
        return self._binary(other, "broadcast_lesser", "_LesserScalar")

    def __le__(self, other):
        return self._binary(other, "broadcast_lesser_equal", "_LesserEqualScalar")

    __hash__ = object.__hash__

    def __bool__(self):
        # Without this, Python would fall back to __len__ (the number of outputs) and every
        # Symbol would count as True, so `if x > 0:` would pick a branch silently.
        raise MXNetError("Symbol has no truth value: bool() needs a computed value, which only "
                         "an NDArray has. Use NDArray inputs, or select values inside the graph "
                         "with an operator such as where()")

    # ---- common methods ---------------------------------------------------------------------
    def reshape(self, *shape, **kwargs):
        from .. import symbol as ops
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        if shape:
            kwargs["shape"] = tuple(shape)
        return ops.reshape(self, **kwargs)

    def transpose(self, *axes, **kwargs):
        from .. import symbol as ops
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = axes[0]
        if axes:
            kwargs["axes"] = tuple(axes)
        return ops.transpose(self, **kwargs)

    def flatten(self, **kwargs):
        from .. import symbol as ops
        return ops.flatten(self, **kwargs)

    def slice(self, begin, end, step=None, **kwargs):
        from .. import symbol as ops
        return ops.slice(self, begin=begin, end=end, step=step, **kwargs)

    def slice_axis(self, axis, begin, end, **kwargs):
        from .. import symbol as ops
        return ops.slice_axis(self, axis=axis, begin=begin, end=end, **kwargs)

    def expand_dims(self, axis, **kwargs):
        from .. import symbol as ops
        return ops.expand_dims(self, axis=axis, **kwargs)

    def astype(self, dtype, **kwargs):
        from .. import symbol as ops
        return ops.Cast(self, dtype=dtype, **kwargs)

    # ---- serialization ----------------------------------------------------------------------
    def tojson(self):
        """Return the graph as MXNet 1.x JSON (the layout ``mx.sym.load_json`` reads)."""
        order = _topo_order(self._outputs)
        ids = {id(n): i for i, n in enumerate(order)}
        aux = _aux_node_ids(order)
        nodes, row_ptr = [], [0]
        for node in order:
            mutable = _MUTABLE_INPUTS.get(node.op, ())
            entry = {"op": "null" if node.op is None else node.op, "name": node.name}
            if node.attrs:
                entry["attrs"] = dict(sorted(node.attrs.items()))
            if node.input_versions is not None:
                versions = node.input_versions
            else:
                versions = [1 if (k in mutable and id(n) in aux) else 0
                            for k, (n, _) in enumerate(node.inputs)]
            entry["inputs"] = [[ids[id(n)], i, v] for (n, i), v in zip(node.inputs, versions)]
            nodes.append(entry)
            row_ptr.append(row_ptr[-1] + node.num_outputs)
        graph = {
            "nodes": nodes,
            "arg_nodes": [i for i, n in enumerate(order) if n.op is None],
            "node_row_ptr": row_ptr,
            "heads": [[ids[id(n)], i, 0] for n, i in self._outputs],
            "attrs": {"mxnet_version": ["int", _MXNET_VERSION]},
        }
        return json.dumps(graph, indent=2)

    def save(self, fname, remove_amp_cast=True):
        """Write the graph to ``fname`` as MXNet 1.x JSON."""
        with open(fname, "w") as f:
            f.write(self.tojson())

    # ---- inference --------------------------------------------------------------------------
    def infer_shape(self, *args, **kwargs):
        """Return ``(arg_shapes, out_shapes, aux_shapes)``, or three Nones (with a warning) when
        some shape cannot be inferred."""
        from .infer import infer_shape
        return infer_shape(self, args, kwargs, partial=False)

    def infer_shape_partial(self, *args, **kwargs):
        """Return ``(arg_shapes, out_shapes, aux_shapes)`` with ``()`` for unknown shapes."""
        from .infer import infer_shape
        return infer_shape(self, args, kwargs, partial=True)

    def infer_type(self, *args, **kwargs):
        """Return ``(arg_types, out_types, aux_types)`` as numpy types, or three Nones."""
        from .infer import infer_type
        return infer_type(self, args, kwargs)


def _create_op_node(op, hint, name, attrs, arg_names, inputs, named, user_attr=None):
    """Create an operator node. ``inputs`` is the list for variadic operators; otherwise
    ``named`` maps input names to symbols and missing ones become variables ``<name>_<input>``."""
    if name is None:
        name = _auto_name(hint)
    entries = []
    if inputs is not None:
        for s in inputs:
            if len(s) != 1:
                raise TypeError(f"{hint}: each input must be a single-output Symbol, got a group "
                                f"of {len(s)} outputs")
            entries.append(s._outputs[0])
    else:
        unknown = set(named) - set(arg_names)
        if unknown:
            raise TypeError(f"{op}: unknown input(s) {sorted(unknown)}; inputs are {arg_names}")
        skip = _optional_arguments(op, attrs)
        for a in arg_names:
            if a in named:
                s = named[a]
                if len(s) != 1:
                    raise TypeError(f"{op}: input '{a}' must be a single-output Symbol, got a "
                                    f"group of {len(s)} outputs")
                entries.append(s._outputs[0])
            elif a not in skip:
                # MXNet 1.9.1 copies the operator's attributes onto implicit variables; the JSON
                # matches that.
                var_attrs = dict(attrs)
                var_attrs.update(_IMPLICIT_VARIABLE_ATTRS.get((op, a), {}))
                entries.append((_Node(None, f"{name}_{a}", var_attrs), 0))
    node_attrs = dict(attrs)
    if user_attr:
        node_attrs.update({k: str(v) for k, v in user_attr.items()})
    node = _Node(op, name, node_attrs, entries)
    return Symbol([(node, i) for i in range(node.num_visible)])


def Variable(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None,
             stype=None, **kwargs):
    """Create a graph input named ``name``; the keyword arguments become hidden attributes."""
    if not isinstance(name, str):
        raise TypeError(f"Variable: name must be a str, got {name!r}")
    attrs = {}
    if attr:
        attrs.update({k: str(v) for k, v in attr.items()})
    if shape is not None:
        # operator.index takes numpy integers (whose repr would not parse back) and rejects floats.
        dims = (shape,) if not hasattr(shape, "__iter__") else shape
        try:
            attrs["__shape__"] = str(tuple(operator.index(d) for d in dims))
        except TypeError:
            raise TypeError(f"Variable: shape dimensions must be integers, got {shape!r}") from None
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(wd_mult)
    if dtype is not None:
        dtype_name = np.dtype(dtype).name
        if dtype_name not in _DTYPE_FLAGS:
            raise TypeError(f"Variable: unsupported dtype {dtype!r}; use one of {list(_DTYPE_FLAGS)}")
        attrs["__dtype__"] = str(_DTYPE_FLAGS[dtype_name])
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        flags = {"default": 0, "row_sparse": 1, "csr": 2}
        if stype not in flags:
            raise TypeError(f"Variable: unknown stype {stype!r}; use one of {list(flags)}")
        attrs["__storage_type__"] = str(flags[stype])
    for key, value in kwargs.items():
        if not (key.startswith("__") and key.endswith("__")):
            raise ValueError(f"Variable: attribute '{key}' must have the form __key__")
        attrs[key] = str(value)
    return Symbol([(_Node(None, name, attrs), 0)])


var = Variable


def Group(symbols):
    """Return one symbol whose outputs are the outputs of ``symbols`` in order."""
    if not symbols or not all(isinstance(s, Symbol) for s in symbols):
        raise TypeError("Group: expected a non-empty list of Symbols")
    return Symbol([e for s in symbols for e in s._outputs])


# ---- loading ------------------------------------------------------------------------------------
# Attribute keys that files older than MXNet 1.9.1 store without the ``__key__`` underscores.
_LEGACY_HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage")


def _registry_arguments():
    table = {}
    for name, aliases, arguments, _, _ in _native.list_ops():
        for n in [name] + list(aliases):
            table[n] = [a.lstrip("*") for a in arguments]
    return table


def _parse_node(nid, entry, nodes, known_ops):
    try:
        op, name = entry["op"], entry["name"]
        raw_inputs = entry.get("inputs", [])
    except (KeyError, TypeError):
        raise MXNetError(f"load_json: node {nid} is invalid: it needs 'op' and 'name' keys") from None
    attrs = {}
    for key in ("param", "attr", "attrs"):
        attrs.update({k: str(v) for k, v in (entry.get(key) or {}).items()})
    if op != "null" and op not in known_ops:
        raise MXNetError(f"load_json: node '{name}' uses unknown operator '{op}'")
    inputs, versions = [], []
    for item in raw_inputs:
        if not isinstance(item, list) or len(item) not in (2, 3) or not 0 <= item[0] < nid:
            raise MXNetError(f"load_json: node '{name}' has an invalid input entry {item!r}; "
                             f"expected [node_id, output_index(, version)] of an earlier node")
        inputs.append((nodes[item[0]], item[1]))
        versions.append(item[2] if len(item) == 3 else 0)
    node = _Node(None if op == "null" else op, name, attrs, inputs)
    node.input_versions = versions
    return node


def _fix_hidden_keys(nodes, arguments):
    """Rename legacy ``lr_mult``-style keys to ``__lr_mult__`` and move operator attributes such
    as ``weight_lr_mult`` onto the input variable they name, as MXNet 1.9.1's upgrader does."""
    for node in nodes:
        for key in _LEGACY_HIDDEN_KEYS:
            if key in node.attrs:
                node.attrs[f"__{key}__"] = node.attrs.pop(key)
        if node.op is None:
            continue
        names = arguments.get(node.op, [])
        for attr_key in list(node.attrs):
            for hidden in _LEGACY_HIDDEN_KEYS:
                prefix = attr_key[:-len(hidden) - 1]
                if not attr_key.endswith("_" + hidden) or prefix not in names:
                    continue
                position = names.index(prefix)
                if position < len(node.inputs) and node.inputs[position][0].op is None:
                    value = node.attrs.pop(attr_key)
                    node.inputs[position][0].attrs[f"__{hidden}__"] = value
                break


def _add_missing_inputs(nodes, arguments):
    """Create the auxiliary-state variables (BatchNorm's moving statistics) that files from
    MXNet 0.8 leave out, named ``<node>_<input>`` like implicit variables."""
    for node in nodes:
        if node.op not in _MUTABLE_INPUTS:
            continue
        for a in arguments[node.op][len(node.inputs):]:
            attrs = dict(node.attrs)
            attrs.update(_IMPLICIT_VARIABLE_ATTRS.get((node.op, a), {}))
            node.inputs.append((_Node(None, f"{node.name}_{a}", attrs), 0))
            node.input_versions.append(0)


def load_json(json_str):
    """Return the symbol stored in MXNet JSON ``json_str``: the 1.x layout, or older files with
    ``attr``/``param`` node keys, two-element input entries and no ``mxnet_version``."""
    if not isinstance(json_str, str):
        raise TypeError(f"load_json: expected a JSON str, got {type(json_str).__name__}")
    try:
        graph = json.loads(json_str)
    except json.JSONDecodeError as e:
        raise MXNetError(f"load_json: invalid JSON ({e})") from None
    if not isinstance(graph, dict) or "nodes" not in graph or "heads" not in graph:
        raise MXNetError("load_json: not a symbol graph: expected an object with 'nodes' and 'heads'")
    arguments = _registry_arguments()
    nodes = []
    for nid, entry in enumerate(graph["nodes"]):
        nodes.append(_parse_node(nid, entry, nodes, arguments))
    heads = []
    for item in graph["heads"]:
        if not isinstance(item, list) or len(item) not in (2, 3) or not 0 <= item[0] < len(nodes):
            raise MXNetError(f"load_json: invalid head entry {item!r}; expected [node_id, output_index]")
        heads.append((nodes[item[0]], item[1]))

    # A file without mxnet_version comes from MXNet 0.8.0.
    version = (graph.get("attrs") or {}).get("mxnet_version", ["int", 800])[1]
    if version < _MXNET_VERSION:
        _fix_hidden_keys(nodes, arguments)
    if version < 900:
        logging.warning("Loading symbol saved by previous version v0.8.0. Attempting to upgrade...")
        _add_missing_inputs(nodes, arguments)
    # NOTE: the 0.9.3 and 0.9.4 upgrades of the ``axis`` attribute are not applied.
    return Symbol(heads)


def load(fname):
    """Return the symbol saved in file ``fname`` (MXNet JSON)."""
    with open(fname) as f:
        return load_json(f.read())


# Symbol methods that apply the operator of the same name with the symbol as its first input, as
# in MXNet 1.x (``x.sum(axis=1)``). Methods for operators missing from the registry are skipped.
_FLUENT_METHODS = (
    "abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "argmax", "argmin",
    "argsort", "batch_dot", "broadcast_axes", "broadcast_like", "broadcast_to", "cbrt", "ceil",
    "clip", "cos", "cosh", "degrees", "depth_to_space", "diag", "dot", "erf", "erfinv", "exp",
    "expm1", "fix", "flip", "floor", "gamma", "gammaln", "log", "log10", "log1p", "log2",
    "log_softmax", "max", "mean", "min", "nanprod", "nansum", "norm", "one_hot", "ones_like", "pad",
    "pick", "prod", "radians", "reciprocal", "relu", "repeat", "reshape_like", "rint", "round",
    "rsqrt", "shape_array", "sigmoid", "sign", "sin", "sinh", "size_array", "slice_like",
    "softmax", "softmin", "sort", "space_to_depth", "split", "sqrt", "square", "squeeze", "sum",
    "swapaxes", "take", "tan", "tanh", "tile", "topk", "trunc", "zeros_like",
)


def _add_fluent_methods(namespace):
    for method in _FLUENT_METHODS:
        op_function = namespace.get(method)
        if op_function is None or hasattr(Symbol, method):
            continue

        def fluent(self, *args, _op=op_function, **kwargs):
            return _op(self, *args, **kwargs)

        fluent.__name__ = method
        fluent.__doc__ = f"Apply ``{method}`` with this symbol as the first input."
        setattr(Symbol, method, fluent)


# ---- execution ----------------------------------------------------------------------------------
def _bind(self, ctx, args, args_grad=None, grad_req="write", aux_states=None, group2ctx=None,
          shared_exec=None):
    """Return an Executor that runs this symbol on the given arrays (used without copying).

    ``args``, ``args_grad`` and ``aux_states`` are lists in ``list_arguments()`` /
    ``list_auxiliary_states()`` order or dicts by name; ``args_grad`` may leave arguments out.
    ``grad_req`` is 'write', 'add' or 'null', for all arguments or per argument (list or dict;
    names missing from a dict get 'null').
    """
    # NOTE: group2ctx and shared_exec are accepted for MXNet 1.x compatibility and ignored:
    # there is one CPU device, and memory is not planned across executors.
    from ..executor import bind
    return bind(self, ctx, args, args_grad, grad_req, aux_states)


def _simple_bind(self, ctx, grad_req="write", type_dict=None, stype_dict=None, group2ctx=None,
                 shared_arg_names=None, shared_exec=None, shared_buffer=None, **kwargs):
    """Return an Executor with zero-filled arrays whose shapes are inferred from the input
    shapes in ``kwargs`` (``data=(32, 784)``) and dtypes from ``type_dict``.

    Gradient arrays are allocated for arguments whose grad_req is not 'null'. Arguments named
    in ``shared_arg_names`` reuse the arrays of ``shared_exec`` when shape and dtype match.
    Other arguments reuse arrays of ``shared_buffer`` (a dict by name) when they fit, and newly
    allocated ones are added to it.
    """
    from ..executor import simple_bind
    return simple_bind(self, ctx, grad_req, type_dict, stype_dict, shared_arg_names, shared_exec,
                       shared_buffer, **kwargs)


def _eval(self, ctx=None, **kwargs):
    """Bind to the arrays in ``kwargs`` (one per argument, by name), run forward and return the
    list of outputs."""
    from ..context import cpu
    return self.bind(ctx if ctx is not None else cpu(), kwargs).forward()


Symbol.bind = _bind
Symbol.simple_bind = _simple_bind
Symbol.eval = _eval
