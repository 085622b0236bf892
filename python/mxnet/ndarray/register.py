"""Generate one Python function per registered operator (``mx.nd.FullyConnected`` ...)."""
import keyword

from .. import _native
from ..base import attr_string
from .ndarray import NDArray, _invoke, _wrap

# Keyword arguments that MXNet's generated functions accept and that carry no attribute.
_IGNORED_KWARGS = frozenset(("name", "ctx"))

# Attribute values whose str() is already MXNet's attribute string (bools give "True",
# None "None").
_STR_TYPES = frozenset((int, float, str, bool))


def _inputs_from_kwargs(name, arg_names, positional, kwargs):
    """Return the input list of a call that names inputs by keyword (``data=x``), taking them
    out of ``kwargs``."""
    slots = positional + [None] * (len(arg_names) - len(positional))
    for i, arg in enumerate(arg_names):
        if arg in kwargs and (kwargs[arg] is None or isinstance(kwargs[arg], NDArray)):
            value = kwargs.pop(arg)
            if value is not None:
                if slots[i] is not None:
                    raise TypeError(f"{name}: got multiple values for argument '{arg}'")
                slots[i] = value
    # Optional trailing inputs (a bias with no_bias=True) may be absent.
    while slots and slots[-1] is None:
        slots.pop()
    missing = [arg_names[i] for i, s in enumerate(slots) if s is None]
    if missing:
        raise TypeError(f"{name}: missing input array(s) {missing}")
    return slots


def _make_op_function(name, arguments, params, doc):
    variadic = bool(arguments) and arguments[0].startswith("*")
    arg_names = [a.lstrip("*") for a in arguments]
    arg_set = frozenset(arg_names)
    n_args = len(arg_names)

    def op_function(*args, out=None, **kwargs):
        if variadic:
            inputs = []
            rest = list(args)
            while rest and isinstance(rest[0], (NDArray, list, tuple)) and (
                    isinstance(rest[0], NDArray) or all(isinstance(x, NDArray) for x in rest[0])):
                first = rest.pop(0)
                inputs.extend(first if isinstance(first, (list, tuple)) else [first])
            extra = kwargs.pop(arg_names[0], None)
            if extra is not None:
                inputs.extend(extra if isinstance(extra, (list, tuple)) else [extra])
            kwargs.pop("num_args", None)
        else:
            # Leading NDArrays fill the inputs in order; None there stands for an absent
            # optional input (the bias of FullyConnected(x, w, None, no_bias=True)).
            count = 0
            absent = False
            for value in args:
                if count == n_args:
                    break
                if value is None:
                    absent = True
                elif not isinstance(value, NDArray):
                    break
                count += 1
            inputs = args[:count]
            rest = args[count:]
            if absent or kwargs and not arg_set.isdisjoint(kwargs):
                inputs = _inputs_from_kwargs(name, arg_names, list(inputs), kwargs)
        # Positional values after the inputs fill the attributes in MXNet's order.
        if rest:
            for pname, value in zip(params, rest):
                if pname in kwargs:
                    raise TypeError(f"{name}: got multiple values for argument '{pname}'")
                kwargs[pname] = value
            if len(rest) > len(params):
                raise TypeError(f"{name}: too many positional arguments ({len(rest)} given after the "
                                f"inputs; accepted attributes are {list(params)})")
        # Plain loops rather than comprehensions, which cost a function call each: this
        # function runs on every eager operator call. None goes through as "None", as in
        # MXNet: operators read it as the default, except where it has a meaning of its own
        # (`sort(axis=None)` sorts the flattened array).
        attrs = []
        for k, v in kwargs.items():
            if k not in _IGNORED_KWARGS:
                attrs.append((k, str(v) if type(v) in _STR_TYPES or v is None else attr_string(v)))
        handles = []
        for x in inputs:
            handles.append(x._h)
        if out is None:
            results = _native.invoke(name, handles, attrs, None)
            return _wrap(results[0]) if len(results) == 1 else [_wrap(h) for h in results]
        if type(out) is NDArray:
            # The returned handle shares storage with `out` and carries any new autograd entry.
            out._h = _native.invoke(name, handles, attrs, [out._h])[0]
            return out
        return _invoke(name, inputs, attrs, out=out)

    op_function.__name__ = name
    op_function.__qualname__ = name
    inputs_doc = ", ".join(arguments) if arguments else "none"
    params_doc = ", ".join(params) if params else "none"
    op_function.__doc__ = f"{doc}\n\nInputs: {inputs_doc}\nAttributes: {params_doc}\n"
    # The native function runs the common call (input arrays first, attributes by keyword)
    # without interpreting any of the above, and hands every other call to op_function.
    function = _native.OpFunction(name, arg_names, variadic, op_function, attr_string)
    function.__name__ = function.__qualname__ = name
    function.__module__ = "mxnet.ndarray"
    function.__doc__ = op_function.__doc__
    function.__wrapped__ = op_function
    return function


def populate(namespaces, internal_namespace):
    """Add every operator (and alias) to each of ``namespaces``; names starting with ``_`` also
    go to ``internal_namespace``. Every namespace gets the same function object, so
    ``mx.nd.op.relu is mx.nd.relu`` and pickling finds it under either name."""
    for name, aliases, arguments, params, doc in _native.list_ops():
        fn = _make_op_function(name, arguments, params, doc)
        for n in [name] + list(aliases):
            if keyword.iskeyword(n):
                continue
            if n.startswith("_"):
                internal_namespace[n] = fn
            for namespace in namespaces:
                if n.startswith("_"):
                    namespace.setdefault(n, fn)
                else:
                    namespace[n] = fn
