"""Unary math operators against numpy, the MXNet 1.9.1 fixtures and finite differences."""
import math
import zlib

import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd, nd
from fixtures import load_op_case


def mxnet_round(x):
    # MXNet 1.9.1 rounds halves away from zero (C round); numpy rounds them to even.
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5))


def mxnet_rint(x):
    # MXNet 1.9.1's rint takes the floor at exact halves.
    f, c = np.floor(x), np.ceil(x)
    return np.where(x - f <= c - x, f, c)


def vectorize(fn):
    return lambda x: np.vectorize(fn, otypes=[x.dtype])(x)


# name -> (numpy reference, low, high) where [low, high] is a domain where the op is smooth.
FLOAT_OPS = {
    "abs": (np.abs, 0.2, 2.0),
    "sign": (np.sign, 0.2, 2.0),
    "round": (mxnet_round, -3.0, 3.0),
    "rint": (mxnet_rint, -3.0, 3.0),
    "ceil": (np.ceil, -3.0, 3.0),
    "floor": (np.floor, -3.0, 3.0),
    "trunc": (np.trunc, -3.0, 3.0),
    "fix": (np.fix, -3.0, 3.0),
    "square": (np.square, -2.0, 2.0),
    "sqrt": (np.sqrt, 0.3, 3.0),
    "rsqrt": (lambda x: 1 / np.sqrt(x), 0.3, 3.0),
    "cbrt": (np.cbrt, 0.3, 3.0),
    "rcbrt": (lambda x: 1 / np.cbrt(x), 0.3, 3.0),
    "exp": (np.exp, -2.0, 2.0),
    "expm1": (np.expm1, -2.0, 2.0),
    "log": (np.log, 0.3, 3.0),
    "log10": (np.log10, 0.3, 3.0),
    "log2": (np.log2, 0.3, 3.0),
    "log1p": (np.log1p, -0.5, 2.0),
    "reciprocal": (np.reciprocal, 0.3, 3.0),
    "negative": (np.negative, -2.0, 2.0),
    "sin": (np.sin, -2.0, 2.0),
    "cos": (np.cos, -2.0, 2.0),
    "tan": (np.tan, -1.2, 1.2),
    "arcsin": (np.arcsin, -0.9, 0.9),
    "arccos": (np.arccos, -0.9, 0.9),
    "arctan": (np.arctan, -2.0, 2.0),
    "sinh": (np.sinh, -2.0, 2.0),
    "cosh": (np.cosh, -2.0, 2.0),
    "tanh": (np.tanh, -2.0, 2.0),
    "arcsinh": (np.arcsinh, -2.0, 2.0),
    "arccosh": (np.arccosh, 1.2, 3.0),
    "arctanh": (np.arctanh, -0.9, 0.9),
    "degrees": (np.degrees, -2.0, 2.0),
    "radians": (np.radians, -90.0, 90.0),
    "erf": (vectorize(math.erf), -2.0, 2.0),
    "gamma": (vectorize(math.gamma), 0.3, 4.0),
    "gammaln": (vectorize(math.lgamma), 0.3, 4.0),
    "relu": (lambda x: np.maximum(x, 0), 0.2, 2.0),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), -3.0, 3.0),
    "softsign": (lambda x: x / (1 + np.abs(x)), 0.2, 2.0),
    "logical_not": (lambda x: (x == 0).astype(x.dtype), -2.0, 2.0),
}

# Ops whose gradient is zero everywhere it exists.
ZERO_GRAD = {"sign", "round", "rint", "ceil", "floor", "trunc", "fix"}


def sample(name, dtype, shape=(3, 4)):
    _, low, high = FLOAT_OPS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.uniform(low, high, size=shape)
    if name in ("abs", "sign", "relu", "softsign"):
        x *= rng.choice([-1.0, 1.0], size=shape)
    return x.astype(dtype)


def numeric_grad(fn, x, head, eps=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = ((fn(plus) - fn(minus)) * head).sum() / (2 * eps)
    return grad


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(FLOAT_OPS))
def test_unary_matches_numpy(name, dtype):
    x = sample(name, dtype)
    out = getattr(nd, name)(nd.array(x, dtype=dtype))
    assert out.dtype == np.dtype(dtype)
    assert out.shape == x.shape
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.asnumpy(), FLOAT_OPS[name][0](x), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", ["sqrt", "rsqrt", "cbrt", "rcbrt", "exp", "log", "tanh", "erf"])
def test_unary_method_matches_the_function(name):
    x = nd.array(sample(name, "float32"))
    np.testing.assert_array_equal(getattr(x, name)().asnumpy(), getattr(nd, name)(x).asnumpy())


@pytest.mark.parametrize("name", sorted(set(FLOAT_OPS) - {"logical_not"}))
def test_unary_gradient_finite_difference(name):
    x = sample(name, "float64")
    head = np.random.default_rng(7).uniform(-1, 1, size=x.shape)
    fn = getattr(nd, name)
    xa = nd.array(x, dtype="float64")
    xa.attach_grad()
    with autograd.record():
        y = fn(xa)
    y.backward(nd.array(head, dtype="float64"))
    if name in ZERO_GRAD:
        expected = np.zeros_like(x)
    else:
        expected = numeric_grad(lambda v: fn(nd.array(v, dtype="float64")).asnumpy(), x, head)
    np.testing.assert_allclose(xa.grad.asnumpy(), expected, rtol=1e-5, atol=1e-7)


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 2.5, 1e-30, 700.0])

NUMPY_SPECIAL = {
    name: FLOAT_OPS[name][0]
    for name in FLOAT_OPS
    if name not in ("round", "rint", "erf", "gamma", "gammaln")
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(NUMPY_SPECIAL))
def test_unary_special_values_match_numpy(name, dtype):
    x = SPECIAL.astype(dtype)
    with np.errstate(all="ignore"):
        expected = NUMPY_SPECIAL[name](x)
    out = getattr(nd, name)(nd.array(x, dtype=dtype)).asnumpy()
    # NaN positions must agree exactly; finite values to rounding.
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected), err_msg=name)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=0, equal_nan=True, err_msg=name)


def test_round_halves_away_from_zero():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, np.nan, np.inf])
    out = nd.round(nd.array(x, dtype="float64")).asnumpy()
    np.testing.assert_array_equal(out, [-3, -2, -1, 1, 2, 3, np.nan, np.inf])


def test_rint_takes_floor_at_halves():
    x = np.array([-2.5, -1.5, 0.5, 1.5, 2.5, 1.6, -1.6])
    out = nd.rint(nd.array(x, dtype="float64")).asnumpy()
    np.testing.assert_array_equal(out, [-3, -2, 0, 1, 2, 2, -2])


def test_erf_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0])
    out = nd.erf(nd.array(x, dtype="float64")).asnumpy()
    np.testing.assert_array_equal(out, [np.nan, 1.0, -1.0, 0.0])


def test_erfinv_domain_edges():
    x = np.array([-1.0, 1.0, 1.5, -2.0, np.nan, 0.0])
    out = nd.erfinv(nd.array(x, dtype="float64")).asnumpy()
    np.testing.assert_array_equal(out, [-np.inf, np.inf, np.nan, np.nan, np.nan, 0.0])


def test_erfinv_inverts_math_erf():
    x = np.linspace(-0.999, 0.999, 101)
    out = nd.erfinv(nd.array(x, dtype="float64")).asnumpy()
    np.testing.assert_allclose([math.erf(v) for v in out], x, rtol=1e-12, atol=1e-14)


def test_gammaln_of_negative_is_log_abs_gamma():
    x = np.array([-0.5, -1.5, -2.25, 0.1, 10.0, 50.5])
    out = nd.gammaln(nd.array(x, dtype="float64")).asnumpy()
    np.testing.assert_allclose(out, [math.lgamma(v) for v in x], rtol=1e-12)


def test_gamma_grid_matches_math():
    x = np.concatenate([np.linspace(0.05, 20.0, 97), [-0.5, -1.5, -2.7]])
    out = nd.gamma(nd.array(x, dtype="float64")).asnumpy()
    np.testing.assert_allclose(out, [math.gamma(v) for v in x], rtol=1e-12)


@pytest.mark.parametrize("case", ["erf", "erfinv"])
def test_unary_matches_mxnet_fixture(case):
    c = load_op_case(case)
    data = c.inputs["data"]
    x = nd.array(data, dtype=data.dtype)
    x.attach_grad()
    with autograd.record():
        y = getattr(nd, c.op)(x, **c.kwargs)
    y.backward(nd.array(c.head_grads[0], dtype=data.dtype))
    np.testing.assert_allclose(y.asnumpy(), c.outputs["out"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), c.grads["data"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64"])
def test_integer_ops_keep_dtype(dtype):
    info = np.iinfo(dtype)
    x = np.array([info.min, -3, 0, 5, info.max], dtype=np.int64)
    x = x[(x >= info.min) & (x <= info.max)].astype(dtype)
    a = nd.array(x, dtype=dtype)
    with np.errstate(over="ignore"):
        expected = {
            "negative": np.negative(x),
            "abs": np.abs(x),
            "sign": np.sign(x),
            "square": np.square(x),
            "logical_not": (x == 0).astype(dtype),
        }
    for name, want in expected.items():
        out = getattr(nd, name)(a)
        assert out.dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(out.asnumpy(), want, err_msg=name)


def test_float_only_op_rejects_integers():
    with pytest.raises(TypeError, match="exp"):
        nd.exp(nd.array([1, 2], dtype="int32"))


def test_unary_on_strided_view():
    row = np.arange(4, dtype=np.float32) + 1
    view = nd.broadcast_to(nd.array(row.reshape(1, 4)), shape=(3, 4))
    np.testing.assert_allclose(nd.log(view).asnumpy(), np.log(np.broadcast_to(row, (3, 4))), rtol=1e-6)


def test_unary_unknown_argument_rejected():
    with pytest.raises(ValueError, match="sqrt"):
        nd.sqrt(nd.ones((2,)), bogus=1)


def test_logical_not_is_not_recorded():
    x = nd.array([0.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = nd.logical_not(x) * x
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [1.0, 0.0])


@pytest.mark.parametrize("name", ["exp", "negative", "sigmoid"])
def test_unary_large_array_matches_numpy(name):
    # Large enough to take the parallel path of the kernel.
    x = np.linspace(-3, 3, 300_001)
    out = getattr(nd, name)(nd.array(x, dtype="float64")).asnumpy()
    np.testing.assert_allclose(out, FLOAT_OPS[name][0](x), rtol=1e-12)


def float32_ulps_apart(got, expected):
    """Units in the last place between float32 arrays of equal signs (the int32 bit order)."""
    return np.abs(got.view(np.int32).astype(np.int64) - expected.view(np.int32).astype(np.int64))


# float32 operators with their own vectorised kernels, their float64 references and the
# largest error allowed, in ulp of the correctly rounded result.
VECTORISED_FLOAT32 = {
    "exp": (np.exp, 2),
    "log": (np.log, 2),
    "tanh": (np.tanh, 2),
    "erf": (np.vectorize(math.erf, otypes=[np.float64]), 3),
    "log1p": (np.log1p, 3),
    "expm1": (np.expm1, 3),
    "sigmoid": (lambda x: np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x))), 3),
}


@pytest.mark.parametrize("name", sorted(VECTORISED_FLOAT32))
def test_vectorised_float32_over_the_whole_range(name):
    # Random bit patterns cover every binade, subnormals and both signs, and the special values
    # are appended. 200,000 values take the kernel's parallel path, and the strided view the
    # per-element one.
    bits = np.random.default_rng(zlib.crc32(name.encode())).integers(0, 2**32, 200_000, dtype=np.uint64)
    x = bits.astype(np.uint32).view(np.float32)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, np.float32(1.4e-45), -np.float32(1.4e-45),
                np.finfo(np.float32).max, -np.finfo(np.float32).max, np.finfo(np.float32).tiny, 88.72, -103.9]
    x = np.concatenate([x, np.array(specials, dtype=np.float32)])
    reference, max_ulps = VECTORISED_FLOAT32[name]
    with np.errstate(all="ignore"):
        expected = reference(x.astype(np.float64)).astype(np.float32)
    for out in (getattr(nd, name)(nd.array(x)).asnumpy(), getattr(nd, name)(nd.array(x)[::2]).asnumpy()):
        want = expected[: len(out)] if len(out) == len(x) else expected[::2]
        np.testing.assert_array_equal(np.isnan(out), np.isnan(want), err_msg=name)
        np.testing.assert_array_equal(out[np.isinf(want)], want[np.isinf(want)], err_msg=name)
        normal = np.isfinite(want) & (np.abs(want) >= np.finfo(np.float32).tiny)
        worst = float32_ulps_apart(out[normal], want[normal]).max()
        assert worst <= max_ulps, f"{name}: {worst} ulp from the correctly rounded result"
        # Subnormal results (and zeros) carry few significant bits: a few of their steps.
        rest = np.isfinite(want) & ~normal
        np.testing.assert_allclose(out[rest], want[rest], rtol=0, atol=4 * np.finfo(np.float32).smallest_subnormal)
    if name in ("sigmoid", "tanh"):
        act = nd.Activation(nd.array(x), act_type=name).asnumpy()
        np.testing.assert_array_equal(act, getattr(nd, name)(nd.array(x)).asnumpy())


def test_softrelu_float32_matches_logaddexp():
    bits = np.random.default_rng(3).integers(0, 2**32, 200_000, dtype=np.uint64)
    x = np.concatenate([bits.astype(np.uint32).view(np.float32), np.float32([np.inf, -np.inf, 0.0, -0.0, 88.0, -88.0])])
    x = x[~np.isnan(x)]
    out = nd.Activation(nd.array(x), act_type="softrelu").asnumpy()
    expected = np.logaddexp(0.0, x.astype(np.float64)).astype(np.float32)
    # Results below the smallest normal float32 keep fewer bits: compare those absolutely.
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=4 * np.finfo(np.float32).smallest_subnormal)
    assert np.isnan(nd.Activation(nd.array([np.nan]), act_type="softrelu").asnumpy()[0])


def test_unary_in_place_large():
    x = np.linspace(-3, 3, 200_000).astype(np.float32)
    a = nd.array(x)
    nd.negative(a, out=a)
    np.testing.assert_array_equal(a.asnumpy(), -x)


SECOND_DERIVATIVES = {
    "sin": lambda x: -np.sin(x),
    "exp": np.exp,
    "tanh": lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
    "log": lambda x: -1 / x ** 2,
    "sqrt": lambda x: -0.25 * x ** -1.5,
    "sigmoid": lambda x: (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x))) * (1 - 2 / (1 + np.exp(-x))),
}


@pytest.mark.parametrize("name", sorted(SECOND_DERIVATIVES))
def test_unary_second_derivative(name):
    x = np.array([0.3, 0.8, 1.7])
    xa = nd.array(x, dtype="float64")
    xa.attach_grad()
    with autograd.record():
        y = getattr(nd, name)(xa)
        dy = autograd.grad(y, [xa], create_graph=True)[0]
    dy.backward()
    np.testing.assert_allclose(xa.grad.asnumpy(), SECOND_DERIVATIVES[name](x), rtol=1e-10)
