"""Generate one Python function per registered operator (``mx.nd.FullyConnected`` ...)."""
import keyword

from .. import _native
from ..base import attr_string
from .ndarray import NDArray, _invoke

# Keyword arguments that MXNet's generated functions accept and that carry no attribute.
_IGNORED_KWARGS = ("name", "ctx")


def _make_op_function(name, arguments, params, doc):
    variadic = bool(arguments) and arguments[0].startswith("*")
    arg_names = [a.lstrip("*") for a in arguments]

    arg_set = frozenset(arg_names)

    def op_function(*args, out=None, **kwargs):
        if kwargs:
            for k in _IGNORED_KWARGS:
                kwargs.pop(k, None)
        inputs = []
        rest = list(args)
        if variadic:
            while rest and isinstance(rest[0], (NDArray, list, tuple)) and (
                    isinstance(rest[0], NDArray) or all(isinstance(x, NDArray) for x in rest[0])):
                first = rest.pop(0)
                inputs.extend(first if isinstance(first, (list, tuple)) else [first])
            extra = kwargs.pop(arg_names[0], None)
            if extra is not None:
                inputs.extend(extra if isinstance(extra, (list, tuple)) else [extra])
            kwargs.pop("num_args", None)
        else:
            slots = [None] * len(arg_names)
            pos = 0
            while rest and isinstance(rest[0], NDArray) and pos < len(slots):
                slots[pos] = rest.pop(0)
                pos += 1
            if not arg_set.isdisjoint(kwargs):
                for i, a in enumerate(arg_names):
                    if a in kwargs and (kwargs[a] is None or isinstance(kwargs[a], NDArray)):
                        value = kwargs.pop(a)
                        if value is not None:
                            slots[i] = value
            # Optional trailing inputs (a bias with no_bias=True) may be absent.
            while slots and slots[-1] is None:
                slots.pop()
            if any(s is None for s in slots):
                missing = [arg_names[i] for i, s in enumerate(slots) if s is None]
                raise TypeError(f"{name}: missing input array(s) {missing}")
            inputs = slots
        # Positional values after the inputs fill the attributes in MXNet's order.
        if rest:
            for pname, value in zip(params, rest):
                if pname in kwargs:
                    raise TypeError(f"{name}: got multiple values for argument '{pname}'")
                kwargs[pname] = value
            if len(rest) > len(params):
                raise TypeError(f"{name}: too many positional arguments ({len(rest)} given after the "
                                f"inputs; accepted attributes are {list(params)})")
        attrs = [(k, attr_string(v)) for k, v in kwargs.items() if v is not None]
        return _invoke(name, inputs, attrs, out=out)

    op_function.__name__ = name
    op_function.__qualname__ = name
    inputs_doc = ", ".join(arguments) if arguments else "none"
    params_doc = ", ".join(params) if params else "none"
    op_function.__doc__ = f"{doc}\n\nInputs: {inputs_doc}\nAttributes: {params_doc}\n"
    return op_function


def populate(namespace, internal_namespace):
    """Add every operator (and alias) to ``namespace``; names starting with ``_`` also go to
    ``internal_namespace``."""
    for name, aliases, arguments, params, doc in _native.list_ops():
        fn = _make_op_function(name, arguments, params, doc)
        for n in [name] + list(aliases):
            if keyword.iskeyword(n):
                continue
            target = internal_namespace if n.startswith("_") else namespace
            target[n] = fn
            if n.startswith("_"):
                namespace.setdefault(n, fn)
