"""Generate one graph-building function per registered operator (``mx.sym.FullyConnected`` ...)."""
import keyword

from .. import _native
from ..base import attr_string
from .symbol import Symbol, _create_op_node


def _make_symbol_function(op_name, call_name, arguments, params, doc):
    variadic = bool(arguments) and arguments[0].startswith("*")
    arg_names = [a.lstrip("*") for a in arguments]
    # MXNet names an unnamed node after the function that was called, lower-cased.
    hint = call_name.lower()

    def symbol_function(*args, name=None, attr=None, **kwargs):
        rest = list(args)
        if variadic:
            inputs = []
            while rest and (isinstance(rest[0], Symbol) or (
                    isinstance(rest[0], (list, tuple)) and rest[0]
                    and all(isinstance(x, Symbol) for x in rest[0]))):
                first = rest.pop(0)
                inputs.extend(first if isinstance(first, (list, tuple)) else [first])
            extra = kwargs.pop(arg_names[0], None)
            if extra is not None:
                inputs.extend(extra if isinstance(extra, (list, tuple)) else [extra])
            # MXNet 1.9.1 records num_args on every variadic operator (add_n included).
            kwargs.setdefault("num_args", len(inputs))
            named = None
        else:
            named = {}
            pos = 0
            # None in an input position stands for an absent optional input, as in mx.nd.
            while rest and (rest[0] is None or isinstance(rest[0], Symbol)) and pos < len(arg_names):
                value = rest.pop(0)
                if value is not None:
                    named[arg_names[pos]] = value
                pos += 1
            for a in arg_names:
                if a in kwargs and (kwargs[a] is None or isinstance(kwargs[a], Symbol)):
                    value = kwargs.pop(a)
                    if value is not None:
                        if a in named:
                            raise TypeError(f"{call_name}: got multiple values for input '{a}'")
                        named[a] = value
            inputs = None
        for pname, value in zip(params, rest):
            if pname in kwargs:
                raise TypeError(f"{call_name}: got multiple values for argument '{pname}'")
            kwargs[pname] = value
        if len(rest) > len(params):
            raise TypeError(f"{call_name}: too many positional arguments ({len(rest)} given after the "
                            f"inputs; accepted attributes are {list(params)})")
        symbols = sorted(k for k, v in kwargs.items() if isinstance(v, Symbol))
        if symbols:
            raise TypeError(f"{call_name}: unknown input(s) {symbols}; inputs are {arg_names}")
        attrs = {k: attr_string(v) for k, v in kwargs.items()}
        return _create_op_node(op_name, hint, name, attrs, arg_names, inputs, named, attr)

    symbol_function.__name__ = call_name
    symbol_function.__qualname__ = call_name
    inputs_doc = ", ".join(arguments) if arguments else "none"
    params_doc = ", ".join(params) if params else "none"
    symbol_function.__doc__ = f"{doc}\n\nInputs: {inputs_doc}\nAttributes: {params_doc}\n"
    return symbol_function


def populate(namespace):
    """Add a symbol function for every operator and alias to ``namespace``."""
    for op_name, aliases, arguments, params, doc in _native.list_ops():
        for n in [op_name] + list(aliases):
            if keyword.iskeyword(n):
                continue
            namespace.setdefault(n, _make_symbol_function(op_name, n, arguments, params, doc))
