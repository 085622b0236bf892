"""dot and batch_dot: MXNet's shape rules (1-D, 2-D, N-D, transpose flags), values against
numpy, gradients against finite differences, and the cases recorded from MXNet 1.9.1."""
import numpy as np
import pytest

import mxnet as mx
from fixtures import load_op_case, op_case_names
from op_grad_check import check_grad, run_fixture_case

RNG = np.random.default_rng(5)


def rand(*shape):
    return RNG.standard_normal(shape)


def numpy_dot(a, b, transpose_a=False, transpose_b=False):
    """MXNet's dot: the stored operands flattened to matrices around the contracted axis."""
    if transpose_a:
        a2 = a.reshape(a.shape[0], -1).T
        a_dims = a.shape[1:]
    else:
        a2 = a.reshape(-1, a.shape[-1])
        a_dims = a.shape[:-1]
    if transpose_b:
        b2 = b.reshape(-1, b.shape[-1]).T
        b_dims = b.shape[:-1]
    else:
        b2 = b.reshape(b.shape[0], -1)
        b_dims = b.shape[1:]
    out_shape = tuple(a_dims) + tuple(b_dims)
    return (a2 @ b2).reshape(out_shape if out_shape else (1,))


CASES = [
    ((3,), (3,), False, False),
    ((2, 3), (3,), False, False),
    ((3,), (3, 4), False, False),
    ((2, 3), (3, 4), False, False),
    ((3, 2), (3, 4), True, False),
    ((2, 3), (4, 3), False, True),
    ((3, 2), (4, 3), True, True),
    ((2, 3, 4), (4, 5), False, False),
    ((4, 2, 3), (4, 5), True, False),
    ((2, 3), (3, 4, 5), False, False),
    ((2, 3), (4, 5, 3), False, True),
]


@pytest.mark.parametrize("sa,sb,ta,tb", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_matches_numpy(sa, sb, ta, tb, dtype):
    a, b = rand(*sa), rand(*sb)
    got = mx.nd.dot(mx.nd.array(a, dtype=dtype), mx.nd.array(b, dtype=dtype), transpose_a=ta, transpose_b=tb)
    expected = numpy_dot(a, b, ta, tb)
    assert got.shape == expected.shape
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got.asnumpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sa,sb,ta,tb", CASES)
def test_dot_grad(sa, sb, ta, tb):
    check_grad(lambda a, b: mx.nd.dot(a, b, transpose_a=ta, transpose_b=tb), rand(*sa), rand(*sb))


def test_dot_of_strided_views():
    a, b = rand(3, 2), rand(4, 3)
    got = mx.nd.dot(mx.nd.array(a).T, mx.nd.array(b).T)
    np.testing.assert_allclose(got.asnumpy(), a.T @ b.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ta", [False, True])
def test_dot_of_sliced_flipped_and_vector_views(ta):
    a, b, v = rand(4, 6), rand(6, 5), rand(8)
    xa = mx.nd.array(a)[:, ::2]            # (4, 3), column stride 2
    xb = mx.nd.flip(mx.nd.array(b), axis=0)[::2]  # (3, 5), negative row stride
    xv = mx.nd.array(v)[1::2]              # (4,), stride 2
    a_np, b_np, v_np = a[:, ::2], b[::-1][::2], v[1::2]
    if ta:
        got = mx.nd.dot(xa, mx.nd.array(rand(4, 2)) * 0 + xv.reshape((4, 1)), transpose_a=True)
        expected = a_np.T @ np.tile(v_np.reshape(4, 1), (1, 2))
    else:
        got = mx.nd.dot(xa, xb)
        expected = a_np @ b_np
    np.testing.assert_allclose(got.asnumpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mx.nd.dot(xv, xa).asnumpy(), v_np @ a_np, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mx.nd.dot(xa, xb[:, 0]).asnumpy(), a_np @ b_np[:, 0], rtol=1e-5, atol=1e-5)


def test_dot_shape_mismatch_errors():
    with pytest.raises(ValueError, match="dot"):
        mx.nd.dot(mx.nd.array(rand(2, 3)), mx.nd.array(rand(4, 2)))


def test_dot_integer_dtype_errors():
    with pytest.raises(TypeError, match="dot"):
        mx.nd.dot(mx.nd.array([[1, 2]], dtype="int32"), mx.nd.array([[1], [2]], dtype="int32"))


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_batch_dot_matches_numpy(ta, tb):
    a = rand(3, 4, 2) if ta else rand(3, 2, 4)
    b = rand(3, 5, 4) if tb else rand(3, 4, 5)
    got = mx.nd.batch_dot(mx.nd.array(a), mx.nd.array(b), transpose_a=ta, transpose_b=tb)
    a_eff = a.transpose(0, 2, 1) if ta else a
    b_eff = b.transpose(0, 2, 1) if tb else b
    np.testing.assert_allclose(got.asnumpy(), a_eff @ b_eff, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_batch_dot_grad(ta, tb):
    a = rand(2, 3, 2)
    b = rand(2, 2, 3) if ta == tb else rand(2, 3, 2)
    check_grad(lambda x, y: mx.nd.batch_dot(x, y, transpose_a=ta, transpose_b=tb), a, b)


def test_batch_dot_bad_shapes_error():
    with pytest.raises(ValueError, match="batch_dot"):
        mx.nd.batch_dot(mx.nd.array(rand(2, 3, 4)), mx.nd.array(rand(3, 4, 5)))
    with pytest.raises(ValueError, match="batch_dot"):
        mx.nd.batch_dot(mx.nd.array(rand(3, 4)), mx.nd.array(rand(4, 5)))


LINALG_CASES = [n for n in op_case_names() if n.startswith(("dot_", "batch_dot_"))]


@pytest.mark.parametrize("name", LINALG_CASES)
def test_linalg_op_matches_mxnet_fixture(name):
    run_fixture_case(load_op_case(name))


def test_batch_dot_large_batch_matches_numpy():
    # 8 products of 32 x 32 x 32 reach the size at which the batch runs in parallel.
    a, b = rand(8, 32, 32), rand(8, 32, 32)
    got = mx.nd.batch_dot(mx.nd.array(a, dtype="float64"), mx.nd.array(b, dtype="float64"), transpose_b=True)
    np.testing.assert_allclose(got.asnumpy(), a @ b.transpose(0, 2, 1), rtol=1e-10, atol=1e-10)
