"""float16 and bfloat16 arrays on the CPU: operators compute in float32 and round each result
once, as MXNet's CPU kernels do. The references are numpy in float32, rounded to float16."""
import numpy as np
import pytest

import mxnet as mx
from mxnet import nd

RNG = np.random.default_rng(17)


def half(*shape):
    return RNG.standard_normal(shape).astype(np.float16)


def f32(a):
    return a.astype(np.float32)


@pytest.mark.parametrize("fn, reference", [
    (lambda a, b: a + b, lambda a, b: a + b),
    # Two operators, so two roundings.
    (lambda a, b: a * b - 1.5, lambda a, b: (a * b).astype(np.float16).astype(np.float32) - 1.5),
    (lambda a, b: nd.relu(a) / 3, lambda a, b: np.maximum(a, 0) / 3),
    (lambda a, b: nd.exp(a), lambda a, b: np.exp(a)),
    (lambda a, b: a + 70000, lambda a, b: a + 70000),
], ids=["add", "mul_sub", "relu_div", "exp", "overflow"])
def test_elementwise_matches_float32_rounded(fn, reference):
    a, b = half(3, 4), half(3, 4)
    got = fn(nd.array(a, dtype="float16"), nd.array(b, dtype="float16"))
    assert got.dtype == np.float16
    with np.errstate(over="ignore"):
        expected = reference(f32(a), f32(b)).astype(np.float16)
    np.testing.assert_array_equal(got.asnumpy(), expected)


def test_fully_connected_and_dot():
    x, w, b = half(4, 5), half(3, 5), half(3)
    got = nd.FullyConnected(nd.array(x, dtype="float16"), nd.array(w, dtype="float16"),
                            nd.array(b, dtype="float16"), num_hidden=3)
    assert got.dtype == np.float16
    expected = (f32(x) @ f32(w).T + f32(b)).astype(np.float16)
    np.testing.assert_allclose(f32(got.asnumpy()), f32(expected), rtol=1e-3, atol=1e-3)
    bf = nd.dot(nd.array(x).astype("bfloat16"), nd.array(w).astype("bfloat16"), transpose_b=True)
    assert bf.dtype.names == ("bfloat16",)
    np.testing.assert_allclose(bf.astype("float32").asnumpy(), f32(x) @ f32(w).T, rtol=2e-2, atol=2e-2)


def test_gradient_of_float16_dot():
    a = np.array([[1, 2], [3, 4]], dtype=np.float16)
    x = nd.array(a, dtype="float16")
    x.attach_grad()
    with mx.autograd.record():
        y = (nd.dot(x, x) * 2).sum()
    y.backward()
    assert x.grad.dtype == np.float16
    # d/dX sum(2 X X) = 2 (1 X^T + X^T 1), with 1 the matrix of ones.
    ones = np.ones((2, 2), np.float32)
    np.testing.assert_array_equal(x.grad.asnumpy(), 2 * (ones @ f32(a).T + f32(a).T @ ones))


def test_optimizer_updates_float16_state_in_place():
    w, g, mom = half(5), half(5), half(5)
    weight, state = nd.array(w, dtype="float16"), nd.array(mom, dtype="float16")
    nd.sgd_mom_update(weight, nd.array(g, dtype="float16"), state, lr=0.1, momentum=0.9, out=weight)
    expected_mom = (0.9 * f32(mom) - 0.1 * f32(g)).astype(np.float16)
    np.testing.assert_array_equal(state.asnumpy(), expected_mom)
    np.testing.assert_allclose(f32(weight.asnumpy()), f32(w) + 0.9 * f32(mom) - 0.1 * f32(g), rtol=2e-3, atol=2e-3)


def test_batchnorm_float16_data_updates_float32_statistics():
    data = half(4, 2, 3)
    mean, var = nd.zeros((2,)), nd.ones((2,))
    with mx.autograd.train_mode():
        out = nd.BatchNorm(nd.array(data, dtype="float16"), nd.ones((2,)), nd.zeros((2,)), mean, var,
                           momentum=0.5, fix_gamma=False)
    assert out.dtype == np.float16
    batch_mean = f32(data).mean(axis=(0, 2))
    np.testing.assert_allclose(mean.asnumpy(), 0.5 * batch_mean, rtol=1e-5, atol=1e-6)
