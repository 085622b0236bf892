"""`diag` against numpy's `diagonal` and `diag`, and `split_v2` against numpy's `split`, with
gradients against central finite differences in float64. The error cases follow MXNet 1.9.1,
which raises for split indices past the axis and for a repeated diag axis."""
import numpy as np
import pytest

import mxnet as mx
from op_grad_check import check_grad

RNG = np.random.default_rng(11)


def rand(*shape):
    return RNG.standard_normal(shape)


@pytest.mark.parametrize("shape, k, axis1, axis2", [
    ((3, 4), 0, 0, 1), ((3, 4), 1, 0, 1), ((3, 4), -2, 0, 1), ((3, 4), 3, 0, 1), ((3, 4), 7, 0, 1),
    ((2, 3, 4), 0, 0, 1), ((2, 3, 4), 1, 1, 2), ((2, 3, 4), -1, 2, 0), ((2, 3, 4), 2, -1, -3),
])
def test_diag_of_an_array_matches_numpy_diagonal(shape, k, axis1, axis2):
    a = rand(*shape).astype(np.float32)
    got = mx.nd.diag(mx.nd.array(a), k=k, axis1=axis1, axis2=axis2)
    np.testing.assert_array_equal(got.asnumpy(), np.diagonal(a, k, axis1, axis2))


@pytest.mark.parametrize("k", [0, 2, -1])
def test_diag_of_a_vector_matches_numpy_diag(k):
    v = rand(3).astype(np.float32)
    np.testing.assert_array_equal(mx.nd.diag(mx.nd.array(v), k=k).asnumpy(), np.diag(v, k))
    ints = mx.nd.array([1, 2], dtype="int32")
    assert mx.nd.diag(ints).dtype == np.int32


def test_diag_result_is_a_new_array():
    x = mx.nd.array(np.arange(9, dtype=np.float32).reshape(3, 3))
    d = x.diag()
    d[:] = -1
    np.testing.assert_array_equal(x.asnumpy(), np.arange(9).reshape(3, 3))


def test_diag_into_out_overwrites_old_values():
    out = mx.nd.ones((3, 3))
    mx.nd.diag(mx.nd.array([1.0, 2.0]), k=1, out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.diag([1.0, 2.0], 1))


@pytest.mark.parametrize("shape, k, axis1, axis2", [((3, 4), 1, 0, 1), ((2, 3, 4), -1, 2, 0), ((3,), 1, 0, 1)])
def test_diag_grads(shape, k, axis1, axis2):
    check_grad(lambda x: mx.nd.diag(x, k=k, axis1=axis1, axis2=axis2), rand(*shape))


def test_diag_second_order_gradient():
    x = mx.nd.array(rand(3, 3))
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.diag(x) ** 2
        (g,) = mx.autograd.grad(y, [x], head_grads=mx.nd.ones((3,)), create_graph=True)
        z = g.sum()
    z.backward()
    # d/dx sum(2 * diag(x) on the diagonal) = 2 on the diagonal.
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * np.eye(3), atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda: mx.nd.diag(mx.nd.ones((3, 3)), axis1=1, axis2=1), "axis1 and axis2"),
    (lambda: mx.nd.diag(mx.nd.array(5.0).reshape(())), "0-d"),
    (lambda: mx.nd.diag(mx.nd.ones((3, 3)), axis1=2), "axis"),
])
def test_diag_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("spec, axis", [(3, 1), ((1, 4), 1), ((0, 3), -1), ((3, 3), 1), (2, 0), (1, 1)])
def test_split_v2_matches_numpy(spec, axis):
    a = np.arange(12, dtype=np.float32).reshape(2, 6)
    got = mx.nd.split_v2(mx.nd.array(a), spec, axis=axis)
    got = got if isinstance(got, list) else [got]
    expected = np.split(a, list(spec) if isinstance(spec, tuple) else spec, axis=axis)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.asnumpy(), e)


def test_split_v2_single_part_squeeze_and_method():
    x = mx.nd.array(np.arange(12, dtype=np.float32).reshape(2, 6))
    whole = mx.nd.split_v2(x, 1, axis=1)
    assert isinstance(whole, mx.nd.NDArray) and whole.shape == (2, 6)
    rows = x.split_v2(2, axis=0, squeeze_axis=True)
    assert [r.shape for r in rows] == [(6,), (6,)]
    np.testing.assert_array_equal(rows[1].asnumpy(), np.arange(6, 12))


def test_split_v2_grads():
    def fn(x):
        first, second = mx.nd.split_v2(x, (2,), axis=1)
        return first * 2 + second[:, :2] * 3
    check_grad(fn, rand(3, 4))


@pytest.mark.parametrize("spec, match", [
    (4, "do not divide"), ((4, 2), "sorted"), ((1, 9), "sorted"), ([1, 2], "int or a tuple"),
])
def test_split_v2_bad_arguments_raise(spec, match):
    with pytest.raises(ValueError, match=match):
        mx.nd.split_v2(mx.nd.ones((2, 6)), spec, axis=1)
