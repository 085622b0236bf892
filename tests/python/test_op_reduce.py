"""Reductions against numpy, the MXNet 1.9.1 fixtures and finite differences."""
import numpy as np
import pytest

from mxnet import autograd, nd
from fixtures import load_behaviour, load_op_case, op_case_names

NUMPY = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
    "prod": np.prod,
    "nansum": np.nansum,
    "nanprod": np.nanprod,
}

AXES = [
    ({}, None),
    ({"axis": 1}, 1),
    ({"axis": -1}, -1),
    ({"axis": (0, 2)}, (0, 2)),
    ({"axis": 1, "exclude": True}, (0, 2)),
    ({"axis": (0, 1), "exclude": True}, 2),
]


def numeric_grad(fn, x, head, eps=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = ((fn(plus) - fn(minus)) * head).sum() / (2 * eps)
    return grad


def data(dtype, shape=(2, 3, 4), seed=0):
    rng = np.random.default_rng(seed)
    if dtype.startswith("int"):
        return rng.integers(-4, 5, size=shape).astype(dtype)
    return rng.uniform(0.5, 1.5, size=shape).astype(dtype) * rng.choice([-1, 1], size=shape)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("kwargs,np_axis", AXES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(NUMPY))
def test_reduce_matches_numpy(name, dtype, kwargs, np_axis, keepdims):
    x = data(dtype)
    out = getattr(nd, name)(nd.array(x, dtype=dtype), keepdims=keepdims, **kwargs)
    expected = np.asarray(NUMPY[name](x.astype(np.float64), axis=np_axis, keepdims=keepdims))
    if expected.ndim == 0:
        expected = expected.reshape(1)
    assert out.dtype == np.dtype(dtype)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("shape,axis", [((300, 2500), 0), ((4, 3, 5), (0, 1)), ((6, 70, 40), (0, 1)),
                                        ((50, 3000), 1)])
def test_contiguous_sum_mean_match_numpy(name, shape, axis):
    # Leading axes: column sums of a (reduced, kept) matrix, and 300 x 2500 splits the columns
    # across threads. Trailing axes: one contiguous run per output.
    x = data("float32", shape=shape)
    out = getattr(nd, name)(nd.array(x), axis=axis)
    expected = getattr(x.astype(np.float64), name)(axis=axis)
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-5, atol=1e-5)
    with_keepdims = getattr(nd, name)(nd.array(x), axis=axis, keepdims=True)
    assert with_keepdims.shape == x.sum(axis=axis, keepdims=True).shape


@pytest.mark.parametrize("name", ["mean", "max", "min", "prod", "nansum"])
def test_reduce_int32_keeps_dtype(name):
    x = data("int32")
    out = getattr(nd, name)(nd.array(x, dtype="int32"), axis=1)
    assert out.dtype == np.int32
    expected = NUMPY[name](x.astype(np.float64), axis=1)
    # MXNet 1.9.1 truncates the int32 mean toward zero.
    np.testing.assert_array_equal(out.asnumpy(), np.trunc(expected).astype(np.int32))


def test_reduction_dtypes_match_fixture():
    facts = load_behaviour()["dtypes"]["reduction"]
    x = nd.array([[1, 2, 3], [4, 5, 6]], dtype="int32")
    for key, fn in [("nd.mean(int32 2x3)", nd.mean), ("nd.sum(int32 2x3)", nd.sum)]:
        out = fn(x)
        assert out.dtype == np.dtype(facts[key]["dtype"])
        assert list(out.shape) == facts[key]["shape"]
        np.testing.assert_array_equal(out.asnumpy(), facts[key]["value"])
    out = nd.max(x.astype("float32"))
    assert list(out.shape) == facts["nd.max(float32 2x3)"]["shape"]
    np.testing.assert_array_equal(out.asnumpy(), facts["nd.max(float32 2x3)"]["value"])


def test_max_min_propagate_nan():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
    a = nd.array(x, dtype="float64")
    np.testing.assert_array_equal(nd.max(a, axis=1).asnumpy(), np.max(x, axis=1))
    np.testing.assert_array_equal(nd.min(a, axis=1).asnumpy(), np.min(x, axis=1))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_of_long_rows_match_numpy(name):
    # Rows longer than the kernel's 16 lanes, split into parallel tasks, one of them with a NaN.
    x = data("float32", shape=(300, 1001))
    x[17, 500] = np.nan
    out = getattr(nd, name)(nd.array(x), axis=1).asnumpy()
    np.testing.assert_array_equal(out, getattr(np, name)(x, axis=1))
    assert np.isnan(out[17])


@pytest.mark.parametrize("name,kwargs", [("sum", {}), ("sum", {"axis": 0}), ("mean", {"axis": 1}),
                                         ("max", {"axis": 0}), ("min", {"axis": 1}), ("prod", {}),
                                         ("nansum", {"axis": 0}), ("norm", {})])
@pytest.mark.parametrize("shape", [(2, 0), (0, 3)])
def test_gradient_of_reduction_over_empty_array(name, kwargs, shape):
    if name in ("max", "min") and shape[kwargs["axis"]] == 0:
        pytest.skip("max and min over an empty axis have no identity and raise")
    x = nd.zeros(shape)
    x.attach_grad()
    with autograd.record():
        y = getattr(nd, name)(x, **kwargs)
    y.backward(nd.ones(y.shape))
    assert x.grad.shape == shape


def test_integer_sums_keep_every_bit_and_wrap():
    # Integers fold in int64: an int64 sum above 2**53 stays exact, an int32 sum wraps on
    # overflow (numpy and MXNet 1.9.1 agree), and an int32 mean truncates.
    big = np.array([[2**53 + 1, 2]], dtype=np.int64)
    for name in ("sum", "nansum"):
        out = getattr(nd, name)(nd.array(big, dtype="int64"), axis=1).asnumpy()
        assert out.tolist() == [2**53 + 3]
    assert nd.prod(nd.array(big, dtype="int64")).asnumpy().tolist() == [2 * (2**53 + 1)]
    wrap = np.array([[2147483647, 1]], dtype=np.int32)
    assert nd.sum(nd.array(wrap, dtype="int32"), axis=1).asnumpy().tolist() == wrap.sum(axis=1, dtype=np.int32).tolist()
    assert nd.mean(nd.array([[-7, 2]], dtype="int32"), axis=1).asnumpy().tolist() == [-2]


def test_empty_axis_reduces_everything():
    # MXNet 1.9.1: an empty axis tuple reduces all axes, with or without exclude.
    a = nd.ones((3, 4))
    for exclude in (False, True):
        out = nd.sum(a, axis=(), exclude=exclude)
        assert out.shape == (1,)
        assert out.asnumpy()[0] == 12.0
        assert nd.mean(a, axis=(), exclude=exclude, keepdims=True).shape == (1, 1)


def test_nan_reductions_skip_nan():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 2.0]])
    a = nd.array(x, dtype="float64")
    np.testing.assert_array_equal(nd.nansum(a, axis=1).asnumpy(), np.nansum(x, axis=1))
    np.testing.assert_array_equal(nd.nanprod(a, axis=1).asnumpy(), np.nanprod(x, axis=1))


@pytest.mark.parametrize("kwargs", [{}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"axis": 0, "exclude": True}])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "nansum"])
def test_reduce_gradient_finite_difference(name, kwargs):
    x = data("float64", seed=3)
    fn = getattr(nd, name)
    xa = nd.array(x, dtype="float64")
    xa.attach_grad()
    with autograd.record():
        y = fn(xa, **kwargs)
    head = np.random.default_rng(5).uniform(-1, 1, size=y.shape)
    y.backward(nd.array(head, dtype="float64"))
    expected = numeric_grad(lambda v: fn(nd.array(v, dtype="float64"), **kwargs).asnumpy(), x, head)
    np.testing.assert_allclose(xa.grad.asnumpy(), expected, rtol=1e-5, atol=1e-7)


def test_nansum_gradient_is_zero_at_nan():
    xa = nd.array([1.0, np.nan, 2.0], dtype="float64")
    xa.attach_grad()
    with autograd.record():
        y = nd.nansum(xa)
    y.backward()
    np.testing.assert_array_equal(xa.grad.asnumpy(), [1.0, 0.0, 1.0])


NORM_CASES = [name for name in op_case_names("math") if name.startswith("norm_")]


def test_norm_fixture_cases_exist():
    assert len(NORM_CASES) == 6


@pytest.mark.parametrize("case", NORM_CASES)
def test_norm_matches_mxnet_fixture(case):
    c = load_op_case(case)
    assert c.op == "norm"
    x = nd.array(c.inputs["data"], dtype=c.inputs["data"].dtype)
    x.attach_grad()
    with autograd.record():
        y = nd.norm(x, **c.kwargs)
    y.backward(nd.array(c.head_grads[0], dtype=y.dtype))
    assert y.shape == c.outputs["out"].shape
    np.testing.assert_allclose(y.asnumpy(), c.outputs["out"], rtol=1e-5)
    np.testing.assert_allclose(x.grad.asnumpy(), c.grads["data"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("ord_,np_ord", [(1, 1), (2, 2)])
def test_norm_matches_numpy(ord_, np_ord):
    x = data("float64")
    out = nd.norm(nd.array(x, dtype="float64"), ord=ord_, axis=2)
    np.testing.assert_allclose(out.asnumpy(), np.linalg.norm(x, ord=np_ord, axis=2), rtol=1e-12)


@pytest.mark.parametrize("axis", [None, -1, (1, 2)])
@pytest.mark.parametrize("ord_", [1, 2])
def test_norm_large_float32_does_not_overflow(ord_, axis):
    # Large enough for the parallel path. 3e20 squared overflows float32, but the norm does not.
    x = np.random.default_rng(5).standard_normal((4, 300, 200)).astype(np.float32)
    x[1, 2, 3] = 3e20
    out = nd.norm(nd.array(x), ord=ord_, axis=axis).asnumpy()
    x64 = x.astype(np.float64)
    if axis is None:
        expected = np.linalg.norm(x64.ravel(), ord=ord_)
    elif axis == -1:
        expected = np.linalg.norm(x64, ord=ord_, axis=-1)
    else:
        expected = np.linalg.norm(x64.reshape(4, -1), ord=ord_, axis=1)
    np.testing.assert_allclose(out, expected.astype(np.float32), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, -1])
def test_arg_reduce_large_matches_numpy(name, axis, dtype):
    # Ties (rounded values) and NaNs: numpy returns the first extreme, or the first NaN.
    x = np.round(np.random.default_rng(9).standard_normal((600, 300)) * 2).astype(dtype)
    x[7, [5, 50]] = np.nan
    out = getattr(nd, name)(nd.array(x, dtype=dtype), axis=axis).asnumpy()
    expected = getattr(np, name)(x, axis=axis)
    np.testing.assert_array_equal(out, np.asarray(expected, dtype=dtype))


def test_norm_rejects_ord_3():
    with pytest.raises(ValueError, match="norm"):
        nd.norm(nd.ones((2, 2)), ord=3)


def test_argmax_argmin_match_numpy():
    x = data("float32", shape=(3, 5), seed=9)
    a = nd.array(x)
    for axis in (0, 1, -1):
        for name, ref in (("argmax", np.argmax), ("argmin", np.argmin)):
            out = getattr(nd, name)(a, axis=axis)
            # MXNet 1.9.1 returns the indices as float32 for float32 input.
            assert out.dtype == np.float32
            np.testing.assert_array_equal(out.asnumpy(), ref(x, axis=axis))


def test_argmax_int32_gives_int32():
    facts = load_behaviour()["dtypes"]
    out = nd.argmax(nd.array([[1, 5, 2], [7, 0, 7]], dtype="int32"), axis=1)
    assert out.dtype == np.dtype(facts["argmax_dtype"])
    np.testing.assert_array_equal(out.asnumpy(), [1, 0])


def test_argmax_full_and_keepdims():
    x = np.array([[1.0, 9.0, 3.0], [9.0, 2.0, 0.0]], dtype=np.float32)
    out = nd.argmax(nd.array(x))
    assert out.shape == (1,)
    assert out.asnumpy()[0] == 1  # the first of two equal maxima wins
    kept = nd.argmin(nd.array(x), axis=1, keepdims=True)
    assert kept.shape == (2, 1)
    np.testing.assert_array_equal(kept.asnumpy(), [[0], [2]])


def test_argmax_nan_counts_as_extreme():
    x = np.array([[1.0, np.nan, 3.0, np.nan]], dtype=np.float32)
    assert nd.argmax(nd.array(x), axis=1).asnumpy()[0] == np.argmax(x, axis=1)[0]
    assert nd.argmin(nd.array(x), axis=1).asnumpy()[0] == np.argmin(x, axis=1)[0]


def test_argmax_channel_uses_last_axis():
    x = data("float32", shape=(2, 3, 4), seed=11)
    out = nd.argmax_channel(nd.array(x))
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out.asnumpy(), np.argmax(x, axis=-1))


@pytest.mark.parametrize("name", ["mean", "max", "min", "prod", "argmax"])
def test_reduce_axis_out_of_range(name):
    with pytest.raises(ValueError, match=name):
        getattr(nd, name)(nd.ones((2, 3)), axis=2)


def test_reduce_rejects_unknown_argument():
    with pytest.raises(ValueError, match="mean"):
        nd.mean(nd.ones((2, 3)), axes=1)


@pytest.mark.parametrize("name, reference", [
    ("mean", np.mean), ("max", np.max), ("argmax", lambda a: np.argmax(a).astype(np.float16)),
    ("norm", np.linalg.norm),
])
def test_reduce_of_float16_matches_numpy_in_float32(name, reference):
    a = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float16)
    got = getattr(nd, name)(nd.array(a, dtype="float16"))
    assert got.dtype == np.float16
    expected = np.float16(reference(a.astype(np.float32)))
    np.testing.assert_array_equal(got.asnumpy().reshape(()), expected)
