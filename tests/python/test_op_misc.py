"""clip, where, add_n, BlockGrad, make_loss, MakeLoss, smooth_l1, and integer arange and power."""
import numpy as np
import pytest

from mxnet import autograd, nd
from fixtures import load_op_case


def numeric_grad(fn, x, head, eps=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = ((fn(plus) - fn(minus)) * head).sum() / (2 * eps)
    return grad


def recorded_grad(fn, x, head):
    xa = nd.array(x, dtype=x.dtype)
    xa.attach_grad()
    with autograd.record():
        y = fn(xa)
    y.backward(nd.array(head, dtype=y.dtype))
    return y.asnumpy(), xa.grad.asnumpy()


@pytest.mark.parametrize("case", ["clip_boundaries", "clip_int32"])
def test_clip_matches_mxnet_fixture(case):
    c = load_op_case(case)
    data = c.inputs["data"]
    if not c.recorded:
        out = nd.clip(nd.array(data, dtype=data.dtype), **c.kwargs)
        assert out.dtype == data.dtype
        np.testing.assert_array_equal(out.asnumpy(), c.outputs["out"])
        return
    out, grad = recorded_grad(lambda a: nd.clip(a, **c.kwargs), data, c.head_grads[0])
    np.testing.assert_array_equal(out, c.outputs["out"])
    np.testing.assert_allclose(grad, c.grads["data"], rtol=1e-6)


def test_clip_matches_numpy_and_keeps_nan():
    x = np.array([-np.inf, -3.0, 0.2, 7.0, np.inf, np.nan])
    out = nd.clip(nd.array(x, dtype="float64"), a_min=-1.0, a_max=2.0).asnumpy()
    np.testing.assert_array_equal(out, np.clip(x, -1.0, 2.0))


def test_clip_rejects_reversed_bounds():
    with pytest.raises(ValueError, match="clip"):
        nd.clip(nd.ones((2,)), a_min=2, a_max=1)


def test_where_same_shape_and_gradient():
    rng = np.random.default_rng(0)
    cond = rng.integers(0, 2, size=(3, 4)).astype(np.float32)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    y = rng.normal(size=(3, 4)).astype(np.float32)
    c, xa, ya = nd.array(cond), nd.array(x), nd.array(y)
    xa.attach_grad()
    ya.attach_grad()
    with autograd.record():
        out = nd.where(c, xa, ya)
    head = rng.normal(size=(3, 4)).astype(np.float32)
    out.backward(nd.array(head))
    np.testing.assert_array_equal(out.asnumpy(), np.where(cond != 0, x, y))
    np.testing.assert_array_equal(xa.grad.asnumpy(), np.where(cond != 0, head, 0))
    np.testing.assert_array_equal(ya.grad.asnumpy(), np.where(cond != 0, 0, head))


def test_where_condition_per_row():
    cond = np.array([1, 0, 1], dtype=np.int32)
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    y = -x
    out = nd.where(nd.array(cond, dtype="int32"), nd.array(x), nd.array(y)).asnumpy()
    np.testing.assert_array_equal(out, np.where(cond[:, None] != 0, x, y))


def test_where_shape_mismatch_rejected():
    with pytest.raises(ValueError, match="where"):
        nd.where(nd.ones((2, 3)), nd.ones((2, 3)), nd.ones((3, 2)))
    with pytest.raises(ValueError, match="where"):
        nd.where(nd.ones((3,)), nd.ones((2, 3)), nd.ones((2, 3)))


def test_add_n_sum_and_gradient():
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(2, 3)) for _ in range(3)]
    inputs = [nd.array(a, dtype="float64") for a in arrays]
    for a in inputs:
        a.attach_grad()
    with autograd.record():
        out = nd.add_n(*inputs)
    head = rng.normal(size=(2, 3))
    out.backward(nd.array(head, dtype="float64"))
    np.testing.assert_allclose(out.asnumpy(), sum(arrays), rtol=1e-12)
    for a in inputs:
        np.testing.assert_array_equal(a.grad.asnumpy(), head)


def test_add_n_alias_and_list_argument():
    a, b = nd.ones((2,)), nd.full((2,), 2.0)
    np.testing.assert_array_equal(nd.ElementWiseSum(a, b).asnumpy(), [3, 3])
    np.testing.assert_array_equal(nd.add_n(*[a, b, a]).asnumpy(), [4, 4])


def test_add_n_into_first_input():
    a = nd.array([1.0, 2.0])
    b = nd.array([10.0, 20.0])
    nd.add_n(a, b, a, out=a)
    np.testing.assert_array_equal(a.asnumpy(), [12.0, 24.0])


def test_add_n_int32():
    out = nd.add_n(nd.array([1, 2], dtype="int32"), nd.array([3, 4], dtype="int32"))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out.asnumpy(), [4, 6])


def test_add_n_mismatch_rejected():
    with pytest.raises(ValueError, match="add_n"):
        nd.add_n(nd.ones((2,)), nd.ones((3,)))


@pytest.mark.parametrize("name", ["BlockGrad", "stop_gradient"])
def test_block_grad_stops_gradient(name):
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = getattr(nd, name)(x) * x
    y.backward()
    np.testing.assert_array_equal(y.asnumpy(), [1.0, 4.0, 9.0])
    # d(stop(x) * x)/dx = stop(x) = x
    np.testing.assert_array_equal(x.grad.asnumpy(), [1.0, 2.0, 3.0])


def test_make_loss_gradient_is_ones():
    x = np.array([[0.5, -1.0], [2.0, 3.0]], dtype=np.float32)
    out, grad = recorded_grad(nd.make_loss, x, np.full(x.shape, 7.0, dtype=np.float32))
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(grad, np.ones_like(x))


def test_make_loss_scale_and_normalization():
    x = np.array([[0.5, -1.0], [2.0, 3.0], [0.0, 4.0]], dtype=np.float32)
    head = np.zeros_like(x)
    _, grad = recorded_grad(lambda a: nd.MakeLoss(a, grad_scale=3.0), x, head)
    np.testing.assert_allclose(grad, np.full(x.shape, 3.0))
    _, grad = recorded_grad(lambda a: nd.MakeLoss(a, grad_scale=3.0, normalization="batch"), x, head)
    np.testing.assert_allclose(grad, np.full(x.shape, 1.0))
    _, grad = recorded_grad(lambda a: nd.MakeLoss(a, normalization="valid", valid_thresh=0.1), x, head)
    np.testing.assert_allclose(grad, np.full(x.shape, 1.0 / 4))


def test_make_loss_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="MakeLoss"):
        nd.MakeLoss(nd.ones((2,)), normalization="mean")


def smooth_l1_reference(x, sigma):
    s2 = sigma * sigma
    return np.where(np.abs(x) < 1 / s2, 0.5 * s2 * x * x, np.abs(x) - 0.5 / s2)


@pytest.mark.parametrize("sigma", [1.0, 2.0, 0.5])
def test_smooth_l1_value_and_gradient(sigma):
    x = np.array([-3.0, -0.7, -0.1, 0.05, 0.3, 0.9, 2.5])
    head = np.linspace(-1, 1, x.size)
    fn = lambda a: nd.smooth_l1(a, scalar=sigma)
    out, grad = recorded_grad(fn, x, head)
    np.testing.assert_allclose(out, smooth_l1_reference(x, sigma), rtol=1e-12)
    expected = numeric_grad(lambda v: fn(nd.array(v, dtype="float64")).asnumpy(), x, head)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


def test_add_n_of_float16_rounds_once():
    # Computed in float32 and rounded to float16 once, as MXNet's CPU kernels do: the float16
    # sums 2048 + 1 + 1 would lose both ones one at a time.
    parts = [nd.array([2048.0], dtype="float16"), nd.ones((1,), dtype="float16"), nd.ones((1,), dtype="float16")]
    total = nd.add_n(*parts)
    assert total.dtype == np.float16
    assert total.asscalar() == 2050


@pytest.mark.parametrize("cond_shape,x_shape", [((3,), (3, 0)), ((0,), (0, 4)), ((2, 0), (2, 0))])
def test_where_empty_input(cond_shape, x_shape):
    out = nd.where(nd.ones(cond_shape), nd.zeros(x_shape), nd.zeros(x_shape))
    assert out.asnumpy().shape == x_shape


@pytest.mark.parametrize("src,dst", [("int32", "int8"), ("int64", "int32"), ("uint8", "int8"), ("int8", "uint8"),
                                     ("int64", "uint8")])
def test_integer_narrowing_cast_wraps(src, dst):
    # numpy keeps the low bits, and MXNet 1.9.1 returns the same values for these cases.
    values = np.array([300, -129, 255, 128, -1, 2**31 - 1, 2**40 + 7], dtype=np.int64).astype(src)
    out = nd.array(values, dtype=src).astype(dst).asnumpy()
    np.testing.assert_array_equal(out, values.astype(dst))


def test_int64_cast_keeps_low_bits():
    values = np.array([2**62 + 1, -(2**62) - 3], dtype=np.int64)
    np.testing.assert_array_equal(nd.array(values, dtype="int64").astype("int32").asnumpy(), values.astype(np.int32))


def test_copyto_transposed_view_of_itself():
    z = nd.array(np.arange(9, dtype=np.float32).reshape(3, 3))
    expected = z.asnumpy().T.copy()
    z.T.copyto(z)
    np.testing.assert_array_equal(z.asnumpy(), expected)


@pytest.mark.parametrize("op", [lambda v: v + 1, lambda v: v + v, nd.exp, nd.relu, lambda v: v.copy(),
                                lambda v: v.astype("float64")])
def test_empty_view_past_the_end(op):
    # A view with no elements whose offset lies beyond the end of its storage.
    view = nd.zeros((1, 31))[1:, 6:]
    assert op(view).asnumpy().shape == (0, 25)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int8"])
def test_square_by_power_scalar_matches_numpy(dtype):
    if dtype.startswith("float"):
        values = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3e38, -2.5, 1.1], dtype=dtype)
    else:
        values = np.array([-3, 5, 46341, -128, 127], dtype=np.int64).astype(dtype)  # 46341**2 wraps in int32
    out = (nd.array(values, dtype=dtype) ** 2).asnumpy()
    with np.errstate(over="ignore"):
        expected = values * values
    np.testing.assert_array_equal(out, expected)


def test_integer_arange_wraps_and_truncates_like_mxnet():
    # Values from MXNet 1.9.1: start and step are truncated to the dtype's integers.
    np.testing.assert_array_equal(nd.arange(120, 130, dtype="int8").asnumpy(),
                                  [120, 121, 122, 123, 124, 125, 126, 127, -128, -127])
    np.testing.assert_array_equal(nd.arange(0, 10, 2.5, dtype="int32").asnumpy(), [0, 2, 4, 6])
    np.testing.assert_array_equal(nd.arange(5, dtype="int64", repeat=2).asnumpy(),
                                  [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])


def test_integer_power_with_negative_exponents():
    # MXNet 1.9.1: -1 keeps its sign for odd exponents, other bases above 1 give 0.
    base = nd.array([-1, 2, 1, -1], dtype="int32")
    np.testing.assert_array_equal((base ** -1).asnumpy(), [-1, 0, 1, -1])
    np.testing.assert_array_equal((base ** -2).asnumpy(), [1, 0, 1, 1])
