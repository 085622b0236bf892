"""take, pick and one_hot: values against numpy, gradients against finite differences, and
the cases recorded from MXNet 1.9.1."""
import numpy as np
import pytest

import mxnet as mx
from mxnet.base import MXNetError
from fixtures import load_op_case, op_case_names
from op_grad_check import check_grad, run_fixture_case

RNG = np.random.default_rng(11)


def rand(*shape):
    return RNG.standard_normal(shape)


INDEX_DTYPES = ["float32", "float64", "int32", "int64", "uint8"]


# ---- take ---------------------------------------------------------------------------------

@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_take_index_dtypes(index_dtype):
    a = rand(4, 3)
    idx = np.array([[0, 3], [2, 2]])
    got = mx.nd.take(mx.nd.array(a), mx.nd.array(idx, dtype=index_dtype))
    np.testing.assert_allclose(got.asnumpy(), np.take(a, idx, axis=0).astype(np.float32))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_take_axis_matches_numpy(axis):
    a = rand(3, 4, 5)
    idx = np.array([1, 0, 2])
    got = mx.nd.take(mx.nd.array(a), mx.nd.array(idx), axis=axis)
    np.testing.assert_allclose(got.asnumpy(), np.take(a, idx, axis=axis).astype(np.float32))


def test_take_clip_and_wrap_modes():
    a = rand(4, 2)
    idx = np.array([-5, -1, 4, 9])
    clip = mx.nd.take(mx.nd.array(a), mx.nd.array(idx), mode="clip").asnumpy()
    wrap = mx.nd.take(mx.nd.array(a), mx.nd.array(idx), mode="wrap").asnumpy()
    np.testing.assert_allclose(clip, np.take(a, idx, axis=0, mode="clip").astype(np.float32))
    np.testing.assert_allclose(wrap, np.take(a, idx, axis=0, mode="wrap").astype(np.float32))


def test_take_raise_mode_out_of_range():
    out = mx.nd.take(mx.nd.array(rand(3, 2)), mx.nd.array([3]), mode="raise")
    with pytest.raises((IndexError, MXNetError), match="take"):
        out.asnumpy()


def test_take_float_indices_truncate():
    a = rand(4)
    got = mx.nd.take(mx.nd.array(a), mx.nd.array([1.7, 2.2]))
    np.testing.assert_allclose(got.asnumpy(), a[[1, 2]].astype(np.float32))


def test_take_keeps_integer_data_dtype():
    a = mx.nd.array([[1, 2], [3, 4]], dtype="int32")
    got = mx.nd.take(a, mx.nd.array([1]))
    assert got.dtype == np.int32
    assert got.asnumpy().tolist() == [[3, 4]]


def test_take_bad_mode_errors():
    with pytest.raises(ValueError, match="take"):
        mx.nd.take(mx.nd.array(rand(3)), mx.nd.array([0]), mode="nearest")


def test_take_bad_axis_errors():
    with pytest.raises(ValueError, match="take"):
        mx.nd.take(mx.nd.array(rand(3)), mx.nd.array([0]), axis=2)


def test_take_grad_accumulates_repeats():
    idx = mx.nd.array([[0, 2], [2, 2]], dtype="int64")
    check_grad(lambda a: mx.nd.take(a, idx, axis=1), rand(2, 3))
    check_grad(lambda a: mx.nd.take(a, idx, axis=0, mode="wrap"), rand(2, 3))


# ---- pick ---------------------------------------------------------------------------------

def numpy_pick(data, index, axis, keepdims=False, mode="clip"):
    index = index.astype(np.int64)
    dim = data.shape[axis]
    index = np.clip(index, 0, dim - 1) if mode == "clip" else np.mod(index, dim)
    out = np.take_along_axis(data, np.expand_dims(index, axis), axis)
    return out if keepdims else np.squeeze(out, axis)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_pick_matches_numpy(axis, keepdims):
    data = rand(3, 4)
    shape = list(data.shape)
    del shape[axis]
    index = RNG.integers(0, data.shape[axis], size=shape)
    got = mx.nd.pick(mx.nd.array(data), mx.nd.array(index), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(got.asnumpy(), numpy_pick(data, index, axis, keepdims).astype(np.float32))


def test_pick_wrap_mode():
    data = rand(2, 3)
    index = np.array([-1, 4])
    got = mx.nd.pick(mx.nd.array(data), mx.nd.array(index, dtype="int32"), axis=1, mode="wrap")
    np.testing.assert_allclose(got.asnumpy(), numpy_pick(data, index, 1, mode="wrap").astype(np.float32))


def test_pick_wrong_index_shape_errors():
    with pytest.raises(ValueError, match="pick"):
        mx.nd.pick(mx.nd.array(rand(3, 4)), mx.nd.array([0, 1]), axis=1)


def test_pick_grad():
    index = mx.nd.array([0, 2, 1], dtype="float64")
    check_grad(lambda x: mx.nd.pick(x, index, axis=1), rand(3, 3))
    check_grad(lambda x: mx.nd.pick(x, index, axis=0, keepdims=True), rand(3, 3))


# ---- one_hot ------------------------------------------------------------------------------

@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_one_hot_matches_numpy(index_dtype):
    idx = np.array([[0, 2], [1, 3]])
    got = mx.nd.one_hot(mx.nd.array(idx, dtype=index_dtype), depth=4)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.asnumpy(), np.eye(4, dtype=np.float32)[idx])


def test_one_hot_out_of_range_rows_are_off():
    got = mx.nd.one_hot(mx.nd.array([-1, 5, 1]), depth=3, on_value=2, off_value=-1, dtype="int32")
    assert got.dtype == np.int32
    assert got.asnumpy().tolist() == [[-1, -1, -1], [-1, -1, -1], [-1, 2, -1]]


def test_one_hot_missing_depth_errors():
    with pytest.raises(ValueError, match="one_hot"):
        mx.nd.one_hot(mx.nd.array([0, 1]))


# ---- fixtures from MXNet 1.9.1 -----------------------------------------------------------

INDEX_CASES = [n for n in op_case_names() if n.startswith(("take_", "pick_", "one_hot_"))]


@pytest.mark.parametrize("name", INDEX_CASES)
def test_indexing_op_matches_mxnet_fixture(name):
    run_fixture_case(load_op_case(name))


def test_take_large_gather_matches_numpy():
    # 300 x 257 output elements exceed the size at which the gather runs in parallel.
    a = rand(50, 257)
    idx = RNG.integers(0, 50, size=300)
    got = mx.nd.take(mx.nd.array(a), mx.nd.array(idx, dtype="int64"))
    np.testing.assert_array_equal(got.asnumpy(), a[idx].astype(np.float32))
    many = RNG.integers(0, 50, size=70000)
    narrow = mx.nd.take(mx.nd.array(a[:, :1]), mx.nd.array(many, dtype="int64"))
    np.testing.assert_array_equal(narrow.asnumpy(), a[many, :1].astype(np.float32))


def second_order_grad(fn, x_np, w_np):
    """Return d/dx sum(w * d/dx sum(fn(x)^2)), built with autograd.grad(create_graph=True)."""
    x = mx.nd.array(x_np, dtype="float64")
    w = mx.nd.array(w_np, dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        y = fn(x)
        loss = (y * y).sum()
        g = mx.autograd.grad(loss, [x], create_graph=True)[0]
        z = (g * w).sum()
    z.backward()
    return x.grad.asnumpy()


def test_take_pick_slice_second_order_grads():
    x, w = rand(3, 4), rand(3, 4)
    idx = mx.nd.array([0, 2, 2], dtype="int64")
    # loss = sum(x[idx]^2): dx = 2 * count * x, so d/dx sum(w * dx) = 2 * count * w.
    count = np.zeros((3, 1))
    np.add.at(count, [0, 2, 2], 1)
    got = second_order_grad(lambda a: mx.nd.take(a, idx), x, w)
    np.testing.assert_allclose(got, 2 * count * w)

    pick_index = mx.nd.array([1, 3, 0], dtype="int64")
    mask = np.zeros((3, 4))
    mask[[0, 1, 2], [1, 3, 0]] = 1
    got = second_order_grad(lambda a: mx.nd.pick(a, pick_index, axis=1), x, w)
    np.testing.assert_allclose(got, 2 * mask * w)

    region = np.zeros((3, 4))
    region[::2, 1:3] = 1
    got = second_order_grad(lambda a: mx.nd.slice(a, begin=(None, 1), end=(None, 3), step=(2, 1)), x, w)
    np.testing.assert_allclose(got, 2 * region * w)
