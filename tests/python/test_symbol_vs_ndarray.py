"""Run every registered operator through mx.nd + autograd and through the symbolic executor
(bind, forward, backward) and check that outputs, gradients and updated inputs agree.

Inputs come from the MXNet 1.9.1 operator fixtures (ops_index.json) and, for operators
without a fixture case, from GENERATED_CASES below. Every operator in the registry has a case
or an entry in UNCOVERED with the reason.
"""
import zlib
from dataclasses import dataclass, field

import numpy as np
import pytest

import mxnet as mx
from mxnet import _native, autograd
from mxnet.base import MXNetError
from fixtures import load_op_case, op_case_names


@dataclass
class Case:
    """One operator call: ``inputs`` in call order, the inputs to differentiate, head
    gradients per output index, and whether the op's values are random."""

    name: str
    op: str
    inputs: list
    kwargs: dict = field(default_factory=dict)
    grads: list = field(default_factory=list)
    head_grads: dict = field(default_factory=dict)
    recorded: bool = True
    train_mode: bool = True
    random: bool = False


def canonical_names():
    """Return {name or alias: canonical operator name} for the registry."""
    table = {}
    for name, aliases, _, _, _ in _native.list_ops():
        for n in [name] + list(aliases):
            table[n] = name
    return table


CANONICAL = canonical_names()
VARIADIC = {name for name, _, arguments, _, _ in _native.list_ops()
            if arguments and arguments[0].startswith("*")}

# Operators without a case, with the reason.
UNCOVERED = {
    "_backward_FullyConnected": "internal backward operator that autograd inserts",
    "_backward_Convolution": "internal backward operator that autograd inserts",
    "_backward_Pooling": "internal backward operator that autograd inserts",
    "_backward_Activation": "internal backward operator that autograd inserts",
    "_backward_LeakyReLU": "internal backward operator that autograd inserts",
    "_backward_softmax": "internal backward operator that autograd inserts",
    "_backward_SoftmaxOutput": "internal backward operator that autograd inserts",
    "_backward_Embedding": "internal backward operator that autograd inserts",
    "_backward_take": "internal backward operator that autograd inserts",
    "_backward_pick": "internal backward operator that autograd inserts",
    "_backward_topk": "internal backward operator that autograd inserts",
    "_slice_backward": "internal backward operator that autograd inserts",
    "_backward_diag": "internal backward operator that autograd inserts",
    "_backward_Pad": "internal backward operator that autograd inserts",
    "_copyto": "copies between devices; tests/python/test_gpu.py covers it with a GPU",
}

# Fixture cases that call a Python function rather than an operator: mx.nd.modulo and
# mx.nd.power have no mx.sym counterpart. The scalar operators they call have generated cases.
FIXTURE_FUNCTIONS_WITHOUT_SYMBOL = {"modulo", "power"}


def fixture_cases():
    cases = []
    for name in op_case_names():
        fixture = load_op_case(name)
        if fixture.op in FIXTURE_FUNCTIONS_WITHOUT_SYMBOL:
            continue
        outputs = sorted(fixture.outputs)
        heads = {outputs.index(o): g for o, g in zip(fixture.head_grad_outputs, fixture.head_grads)}
        cases.append(Case(name=name, op=fixture.op, inputs=list(fixture.inputs.items()),
                          kwargs=fixture.kwargs, grads=list(fixture.grads), head_grads=heads,
                          recorded=fixture.recorded, train_mode=fixture.train_mode))
    return cases


# ---- generated cases -----------------------------------------------------------------------------
def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode("utf-8")))


def uniform(rng, shape, low=0.2, high=0.8, dtype="float32"):
    return rng.uniform(low, high, size=shape).astype(dtype)


UNARY_OPS = (
    "abs", "sign", "round", "rint", "ceil", "floor", "trunc", "fix", "square", "sqrt", "rsqrt",
    "cbrt", "rcbrt", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "negative",
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
    "arctanh", "degrees", "radians", "erf", "erfinv", "gamma", "gammaln", "relu",
    "sigmoid", "softsign", "zeros_like", "ones_like", "_copy", "BlockGrad", "make_loss",
    "MakeLoss", "Flatten", "softmin", "SoftmaxActivation", "transpose",
)
# Unary operators whose output is not differentiable (integer or boolean results), and
# operators whose backward raises on both paths (see test_missing_gradient_raises_on_both_paths).
NO_GRADIENT_OPS = {"_digamma": "the second derivative of gamma is not implemented",
                   "nanprod": "the gradient of nanprod is not implemented"}
UNARY_NO_GRAD_OPS = ("logical_not", "shape_array", "size_array", "argmax_channel", "_digamma")

BINARY_OPS = (
    "add", "sub", "mul", "div", "mod", "power", "maximum", "minimum", "hypot",
)
COMPARISON_OPS = (
    "equal", "not_equal", "greater", "greater_equal", "lesser", "lesser_equal", "logical_and",
    "logical_or", "logical_xor",
)
SCALAR_OPS = (
    "_plus_scalar", "_minus_scalar", "_rminus_scalar", "_mul_scalar", "_div_scalar",
    "_rdiv_scalar", "_mod_scalar", "_rmod_scalar", "_power_scalar", "_rpower_scalar",
    "_maximum_scalar", "_minimum_scalar", "_hypot_scalar",
)
SCALAR_COMPARISON_OPS = (
    "_equal_scalar", "_not_equal_scalar", "_greater_scalar", "_greater_equal_scalar",
    "_lesser_scalar", "_lesser_equal_scalar", "_logical_and_scalar", "_logical_or_scalar",
    "_logical_xor_scalar",
)
REDUCE_OPS = ("sum", "mean", "max", "min", "prod", "nansum", "nanprod")


def elementwise_cases():
    cases = []
    for op in UNARY_OPS + UNARY_NO_GRAD_OPS:
        rng = rng_for(op)
        grads = [] if op in UNARY_NO_GRAD_OPS else ["data"]
        cases.append(Case(f"gen_{op}", op, [("data", uniform(rng, (2, 3)))], grads=grads,
                          head_grads={0: uniform(rng, (3, 2) if op == "transpose" else (2, 3))}
                          if grads else {}))
    rng = rng_for("arccosh")
    cases.append(Case("gen_arccosh", "arccosh", [("data", uniform(rng, (2, 3), 1.2, 2.0))],
                      grads=["data"], head_grads={0: uniform(rng, (2, 3))}))
    for name in BINARY_OPS + COMPARISON_OPS:
        differentiable = name in BINARY_OPS
        for prefix, rhs_shape in (("elemwise_" if name in ("add", "sub", "mul", "div") else "_",
                                   (2, 3)), ("broadcast_", (1, 3))):
            op = prefix + name
            rng = rng_for(op)
            cases.append(Case(f"gen_{op}", op,
                              [("lhs", uniform(rng, (2, 3), 0.5, 1.5)),
                               ("rhs", uniform(rng, rhs_shape, 0.5, 1.5))],
                              grads=["lhs", "rhs"] if differentiable else [],
                              head_grads={0: uniform(rng, (2, 3))} if differentiable else {}))
    for op in SCALAR_OPS + SCALAR_COMPARISON_OPS:
        rng = rng_for(op)
        differentiable = op in SCALAR_OPS
        cases.append(Case(f"gen_{op}", op, [("data", uniform(rng, (2, 3), 0.5, 1.5))],
                          kwargs={"scalar": 0.7}, grads=["data"] if differentiable else [],
                          head_grads={0: uniform(rng, (2, 3))} if differentiable else {}))
    return cases


def shape_cases():
    def case(name, op, inputs, kwargs=None, grads=None, out_shape=None, **extra):
        rng = rng_for(name)
        arrays = [(n, uniform(rng, s) if not isinstance(s, np.ndarray) else s) for n, s in inputs]
        grads = [n for n, _ in arrays] if grads is None else grads
        heads = {0: uniform(rng, out_shape)} if grads else {}
        return Case(name, op, arrays, kwargs or {}, grads, heads, **extra)

    cases = [case(f"gen_{op}_axis1", op, [("data", (2, 3, 2))], {"axis": 1},
                  grads=[] if op in NO_GRADIENT_OPS else None, out_shape=(2, 2))
             for op in REDUCE_OPS]
    cases += [
        case("gen_Reshape", "Reshape", [("data", (2, 3))], {"shape": (3, 2)}, out_shape=(3, 2)),
        case("gen_broadcast_to", "broadcast_to", [("data", (1, 3))], {"shape": (2, 3)},
             out_shape=(2, 3)),
        case("gen_broadcast_axis", "broadcast_axis", [("data", (1, 3))], {"axis": 0, "size": 2},
             out_shape=(2, 3)),
        case("gen_reshape_like", "reshape_like", [("lhs", (2, 3)), ("rhs", (3, 2))],
             grads=["lhs"], out_shape=(3, 2)),
        case("gen_broadcast_like", "broadcast_like", [("lhs", (1, 3)), ("rhs", (2, 3))],
             grads=["lhs"], out_shape=(2, 3)),
        case("gen_SwapAxis", "SwapAxis", [("data", (2, 3))], {"dim1": 0, "dim2": 1},
             out_shape=(3, 2)),
        case("gen_expand_dims", "expand_dims", [("data", (2, 3))], {"axis": 1},
             out_shape=(2, 1, 3)),
        case("gen_reverse", "reverse", [("data", (2, 3))], {"axis": 1}, out_shape=(2, 3)),
        case("gen_diag", "diag", [("data", (3, 4))], {"k": 1}, out_shape=(3,)),
        case("gen_Pad", "Pad", [("data", (1, 2, 3, 4))],
             {"mode": "reflect", "pad_width": (0, 0, 0, 0, 1, 2, 2, 1)}, out_shape=(1, 2, 6, 7)),
        case("gen_diag_vector", "diag", [("data", (3,))], {"k": -1}, out_shape=(4, 4)),
        case("gen_squeeze", "squeeze", [("data", (2, 1, 3))], out_shape=(2, 3)),
        case("gen_slice_like", "slice_like", [("data", (3, 4)), ("shape_like", (2, 3))],
             grads=["data"], out_shape=(2, 3)),
        case("gen_Concat", "Concat", [("a", (2, 3)), ("b", (2, 2))], {"dim": 1},
             out_shape=(2, 5)),
        case("gen_stack", "stack", [("a", (2, 3)), ("b", (2, 3))], {"axis": 1},
             out_shape=(2, 2, 3)),
        case("gen_add_n", "add_n", [("a", (2, 3)), ("b", (2, 3)), ("c", (2, 3))],
             out_shape=(2, 3)),
        case("gen_where", "where",
             [("condition", np.array([[1, 0, 1], [0, 0, 1]], dtype=np.float32)),
              ("x", (2, 3)), ("y", (2, 3))], grads=["x", "y"], out_shape=(2, 3)),
        case("gen_Cast", "Cast", [("data", (2, 3))], {"dtype": "float64"}, out_shape=(2, 3)),
        case("gen_smooth_l1", "smooth_l1",
             [("data", np.array([[-2.0, -0.3, 0.1], [0.4, 1.5, 3.0]], dtype=np.float32))],
             {"scalar": 1.5}, out_shape=(2, 3)),
        case("gen__sum_to", "_sum_to", [("data", (2, 3))], {"shape": (1, 3)}, out_shape=(1, 3)),
        case("gen_SoftmaxActivation_channel", "SoftmaxActivation", [("data", (2, 3, 2))],
             {"mode": "channel"}, out_shape=(2, 3, 2)),
    ]
    return cases


def creation_and_update_cases():
    rng = rng_for("updates")
    weight, grad, state = (uniform(rng, (2, 3), -1, 1) for _ in range(3))
    return [
        Case("gen__zeros", "_zeros", [], {"shape": (2, 3)}),
        Case("gen__ones", "_ones", [], {"shape": (2, 3), "dtype": "float64"}),
        Case("gen__full", "_full", [], {"shape": (2, 3), "value": 2.5}),
        Case("gen__arange", "_arange", [], {"start": 1.0, "stop": 7.0, "step": 1.5}),
        Case("gen_nag_mom_update", "nag_mom_update",
             [("weight", weight), ("grad", grad), ("mom", state)],
             {"lr": 0.1, "momentum": 0.9, "wd": 0.01}, recorded=False),
        Case("gen_rmsprop_update", "rmsprop_update",
             [("weight", weight), ("grad", grad), ("n", np.abs(state))],
             {"lr": 0.1, "gamma1": 0.9, "epsilon": 1e-8}, recorded=False),
    ]


def random_cases():
    rng = rng_for("random")
    data = uniform(rng, (6, 4))
    return [
        Case("gen__random_uniform", "_random_uniform", [], {"shape": (2, 3), "low": -1.0,
                                                           "high": 1.0}, random=True),
        Case("gen__random_normal", "_random_normal", [], {"shape": (2, 3)}, random=True),
        Case("gen__random_randint", "_random_randint", [], {"shape": (2, 3), "low": 0,
                                                           "high": 9}, random=True),
        Case("gen__shuffle", "_shuffle", [("data", data)], random=True),
        Case("gen_Dropout_train", "Dropout", [("data", data)], {"p": 0.5}, grads=["data"],
             head_grads={0: uniform(rng, (6, 4))}, random=True),
        Case("gen_Dropout_predict", "Dropout", [("data", data)], {"p": 0.5}, grads=["data"],
             head_grads={0: uniform(rng, (6, 4))}, train_mode=False),
    ]


ALL_CASES = fixture_cases() + elementwise_cases() + shape_cases() + creation_and_update_cases() \
    + random_cases()


# ---- the two paths -------------------------------------------------------------------------------
def as_list(result):
    return list(result) if isinstance(result, (list, tuple)) else [result]


def run_ndarray(case):
    arrays = {n: mx.nd.array(v, dtype=v.dtype) for n, v in case.inputs}
    for name in case.grads:
        arrays[name].attach_grad()
    op = getattr(mx.nd, case.op)
    if case.op in VARIADIC or CANONICAL.get(case.op) in VARIADIC:
        call = lambda: op(*arrays.values(), **case.kwargs)  # noqa: E731
    else:
        call = lambda: op(**arrays, **case.kwargs)  # noqa: E731
    if case.recorded:
        with autograd.record(train_mode=case.train_mode):
            outputs = as_list(call())
        if case.grads:
            heads = [outputs[i] for i in sorted(case.head_grads)]
            head_grads = [mx.nd.array(case.head_grads[i]) for i in sorted(case.head_grads)]
            autograd.backward(heads, head_grads, train_mode=case.train_mode)
    else:
        with autograd.train_mode() if case.train_mode else autograd.predict_mode():
            outputs = as_list(call())
    grads = {n: arrays[n].grad for n in case.grads}
    return outputs, grads, arrays


def run_symbol(case):
    variables = [mx.sym.var(n) for n, _ in case.inputs]
    op = getattr(mx.sym, case.op)
    if case.op in VARIADIC or CANONICAL.get(case.op) in VARIADIC:
        sym = op(*variables, **case.kwargs)
    else:
        sym = op(**{n: v for (n, _), v in zip(case.inputs, variables)}, **case.kwargs)
    arrays = {n: mx.nd.array(v, dtype=v.dtype) for n, v in case.inputs}
    assert set(sym.list_inputs()) == set(arrays), "the symbol has inputs the case does not give"
    args = {n: arrays[n] for n in sym.list_arguments()}
    aux = {n: arrays[n] for n in sym.list_auxiliary_states()}
    grad_arrays = {n: mx.nd.zeros(arrays[n].shape, dtype=arrays[n].dtype) for n in case.grads}
    exe = sym.bind(mx.cpu(), args, args_grad=grad_arrays,
                   grad_req={n: "write" for n in case.grads}, aux_states=aux)
    outputs = exe.forward(is_train=case.train_mode)
    if case.recorded and case.grads:
        out_grads = [mx.nd.array(case.head_grads[i]) if i in case.head_grads
                     else mx.nd.zeros(o.shape, dtype=o.dtype) for i, o in enumerate(outputs)]
        exe.backward(out_grads, is_train=case.train_mode)
    return list(exe.outputs), grad_arrays, arrays


def assert_same(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-6, atol=1e-7,
                               equal_nan=True, err_msg=what)


# Cases where the symbol and the native operator disagree; none at present.
KNOWN_FAILURES = {}


def marked(case):
    if case.name in KNOWN_FAILURES:
        return pytest.param(case, id=case.name,
                            marks=pytest.mark.xfail(reason=KNOWN_FAILURES[case.name], strict=True))
    return pytest.param(case, id=case.name)


@pytest.mark.parametrize("case", [marked(c) for c in ALL_CASES])
def test_symbol_matches_ndarray(case):
    nd_outputs, nd_grads, nd_arrays = run_ndarray(case)
    sym_outputs, sym_grads, sym_arrays = run_symbol(case)

    assert len(sym_outputs) == len(nd_outputs)
    for i, (got, want) in enumerate(zip(sym_outputs, nd_outputs)):
        if case.random:
            assert got.shape == want.shape, f"output {i}"
            assert got.dtype == want.dtype, f"output {i}"
        else:
            assert_same(got, want, f"output {i}")
    for name in case.grads:
        if case.random:
            assert sym_grads[name].shape == nd_grads[name].shape, f"gradient of {name}"
        else:
            assert_same(sym_grads[name], nd_grads[name], f"gradient of {name}")
    if not case.random:
        for name in nd_arrays:
            assert_same(sym_arrays[name], nd_arrays[name], f"input {name} after the call")


def test_every_operator_has_a_case():
    covered = {CANONICAL.get(c.op, c.op) for c in ALL_CASES}
    missing = sorted(set(CANONICAL.values()) - covered - set(UNCOVERED))
    assert missing == [], f"operators without a case or a reason in UNCOVERED: {missing}"


def test_uncovered_operators_exist():
    stale = sorted(set(UNCOVERED) - set(CANONICAL))
    assert stale == [], f"UNCOVERED names operators that are not registered: {stale}"


def test_invalid_attribute_raises_on_both_paths():
    data = mx.nd.ones((2, 3))
    with pytest.raises(ValueError, match="Reshape: cannot reshape"):
        mx.nd.Reshape(data, shape=(4, 4))
    sym = mx.sym.Reshape(mx.sym.var("data"), shape=(4, 4))
    with pytest.raises(MXNetError, match="Reshape: cannot reshape"):
        sym.bind(mx.cpu(), {"data": data})


@pytest.mark.parametrize("op", sorted(NO_GRADIENT_OPS))
def test_missing_gradient_raises_on_both_paths(op):
    case = Case(f"no_grad_{op}", op, [("data", uniform(rng_for(op), (2, 3), 0.5, 1.5))],
                kwargs={"axis": 1} if op == "nanprod" else {}, grads=["data"],
                head_grads={0: np.ones((2,) if op == "nanprod" else (2, 3), dtype=np.float32)})
    with pytest.raises(MXNetError, match="not implemented"):
        run_ndarray(case)
    with pytest.raises(MXNetError, match="not implemented"):
        run_symbol(case)
