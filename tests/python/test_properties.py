"""Property tests with hypothesis: broadcasting against numpy, reshape special codes against
their rules, basic slicing against numpy (views included), and MXNet 1.x dtype rules."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import mxnet as mx

SETTINGS = settings(max_examples=50, deadline=None)

BINARY_OPS = {
    "broadcast_add": np.add,
    "broadcast_sub": np.subtract,
    "broadcast_mul": np.multiply,
    "broadcast_maximum": np.maximum,
    "broadcast_minimum": np.minimum,
    "broadcast_greater": np.greater,
    "broadcast_equal": np.equal,
}


# ---- broadcasting -------------------------------------------------------------------------

@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       op=st.sampled_from(sorted(BINARY_OPS)),
       seed=st.integers(0, 2**16))
def test_broadcast_binary_matches_numpy(shapes, op, seed):
    rng = np.random.default_rng(seed)
    # MXNet 1.x has no 0-d arrays, so a 0-d operand is given as shape (1,).
    sa, sb = [s if s else (1,) for s in shapes.input_shapes]
    a = rng.integers(-3, 4, size=sa).astype(np.float32)
    b = rng.integers(-3, 4, size=sb).astype(np.float32)
    got = getattr(mx.nd, op)(mx.nd.array(a), mx.nd.array(b))
    expected = BINARY_OPS[op](a, b).astype(np.float32)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.asnumpy(), expected)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=3))
def test_broadcast_grad_sums_over_stretched_axes(shapes):
    sa, sb = shapes.input_shapes
    a = mx.nd.ones(sa, dtype="float64")
    b = mx.nd.ones(sb, dtype="float64")
    a.attach_grad()
    b.attach_grad()
    with mx.autograd.record():
        y = mx.nd.broadcast_add(a, b)
    y.backward()
    out_size = int(np.prod(shapes.result_shape))
    # Each input element feeds out_size / input_size outputs.
    np.testing.assert_allclose(a.grad.asnumpy(), np.full(sa, out_size / max(a.size, 1)))
    np.testing.assert_allclose(b.grad.asnumpy(), np.full(sb, out_size / max(b.size, 1)))


# ---- reshape codes ------------------------------------------------------------------------

def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def reshape_codes(draw):
    """Draw an input shape, a code list for it and the shape the codes stand for.

    Codes are built per input dim from the rules: 0 copies it, a positive value restates it,
    -1 infers it (at most once), -3 merges it with the next dim, -4 splits it into two
    factors (one may be -1), and a trailing -2 copies every remaining dim.
    """
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    codes, expected = [], []
    used_infer = False
    i = 0
    while i < len(shape):
        d = shape[i]
        choices = ["copy", "literal", "split", "rest"]
        if not used_infer:
            choices.append("infer")
        if i + 1 < len(shape):
            choices.append("merge")
        kind = draw(st.sampled_from(choices))
        if kind == "copy":
            codes.append(0)
            expected.append(d)
        elif kind == "literal":
            codes.append(d)
            expected.append(d)
        elif kind == "infer":
            codes.append(-1)
            expected.append(d)
            used_infer = True
        elif kind == "merge":
            codes.append(-3)
            expected.append(d * shape[i + 1])
            i += 1
        elif kind == "split":
            first = draw(st.sampled_from(divisors(d)))
            second = d // first
            form = draw(st.sampled_from(["both", "infer_first", "infer_second"]))
            if form == "infer_first":
                codes += [-4, -1, second]
            elif form == "infer_second":
                codes += [-4, first, -1]
            else:
                codes += [-4, first, second]
            expected += [first, second]
        else:
            codes.append(-2)
            expected += shape[i:]
            break
        i += 1
    return tuple(shape), tuple(codes), tuple(expected)


@SETTINGS
@given(case=reshape_codes())
def test_reshape_codes_follow_rules(case):
    shape, codes, expected = case
    x = mx.nd.array(np.arange(int(np.prod(shape))).reshape(shape))
    got = mx.nd.reshape(x, shape=codes)
    assert got.shape == expected
    np.testing.assert_array_equal(got.asnumpy().ravel(), x.asnumpy().ravel())


@SETTINGS
@given(case=reshape_codes())
def test_reshape_reverse_mirrors_codes(case):
    shape, codes, expected = case
    # Without -4 groups (whose factor order reverse keeps), reverse=True on the mirrored
    # shape and codes gives the mirrored result.
    if -4 in codes:
        return
    x = mx.nd.zeros(tuple(reversed(shape)))
    got = mx.nd.reshape(x, shape=tuple(reversed(codes)), reverse=True)
    assert got.shape == tuple(reversed(expected))


# ---- basic slicing ------------------------------------------------------------------------

@st.composite
def array_and_basic_key(draw):
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    key = draw(hnp.basic_indices(tuple(shape), min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    return tuple(shape), key


@SETTINGS
@given(case=array_and_basic_key())
def test_basic_slicing_matches_numpy(case):
    shape, key = case
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    got = mx.nd.array(a)[key]
    expected = a[key]
    # MXNet 1.x gives shape (1,) where numpy gives a 0-d array.
    assert got.shape == (expected.shape if expected.ndim else (1,))
    np.testing.assert_array_equal(got.asnumpy().reshape(expected.shape), expected)


@SETTINGS
@given(case=array_and_basic_key())
def test_write_through_slice_changes_base_only_when_contiguous(case):
    # MXNet 1.9.1 returns a view for a key that selects one contiguous block and a copy for
    # any other, so only the first kind of result writes through to the array.
    shape, key = case
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    x = mx.nd.array(a)
    result = x[key]
    if result.size == 0:
        return
    result[:] = -1
    if a[key].flags.c_contiguous:
        a[key] = -1
    np.testing.assert_array_equal(x.asnumpy(), a)
    assert (result.asnumpy() == -1).all()


@SETTINGS
@given(case=array_and_basic_key())
def test_slice_under_autograd_matches_numpy(case):
    shape, key = case
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    x = mx.nd.array(a, dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        y = x[key]
    expected = a[key]
    np.testing.assert_array_equal(y.asnumpy().reshape(expected.shape), expected)
    if y.size == 0:
        return
    y.backward()
    # Each element gets gradient 1 once per selection, which basic keys never repeat.
    counts = np.zeros(shape)
    counts[key] = 1
    np.testing.assert_array_equal(x.grad.asnumpy(), counts)


# ---- dtype rules --------------------------------------------------------------------------

COMPARISONS = ["__eq__", "__ne__", "__gt__", "__ge__", "__lt__", "__le__"]


@SETTINGS
@given(dtype=st.sampled_from(["float32", "float64", "int32", "int64", "uint8"]),
       op=st.sampled_from(COMPARISONS),
       scalar=st.booleans())
def test_comparison_keeps_input_dtype(dtype, op, scalar):
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]], dtype=dtype)
    b = 3 if scalar else mx.nd.array([3, 2, 6], dtype=dtype)
    got = getattr(a, op)(b)
    assert got.dtype == np.dtype(dtype)
    expected = getattr(a.asnumpy(), op)(b if scalar else b.asnumpy())
    np.testing.assert_array_equal(got.asnumpy(), expected.astype(dtype))


@SETTINGS
@given(values=st.lists(st.integers(-100, 100), min_size=1, max_size=6),
       source=st.sampled_from(["list", "int64", "float64", "bool"]))
def test_array_from_python_or_numpy_is_float32(values, source):
    data = values if source == "list" else np.array(values).astype(source)
    assert mx.nd.array(data).dtype == np.float32


@SETTINGS
@given(values=st.lists(st.integers(-50, 50), min_size=1, max_size=6),
       op=st.sampled_from(["__add__", "__sub__", "__mul__"]))
def test_int32_arithmetic_stays_int32(values, op):
    a = mx.nd.array(values, dtype="int32")
    b = mx.nd.array(list(reversed(values)), dtype="int32")
    got = getattr(a, op)(b)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got.asnumpy(), getattr(np.array(values, np.int32), op)(np.array(values[::-1], np.int32)))
    assert getattr(a, op)(2).dtype == np.int32


def test_array_of_ndarray_keeps_dtype():
    assert mx.nd.array(mx.nd.array([1, 2], dtype="int32")).dtype == np.int32


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_array_with_explicit_dtype(dtype):
    assert mx.nd.array([1, 2, 3], dtype=dtype).dtype == np.dtype(dtype)
