"""Gluon layers against numpy implementations of their formulas."""

import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd, nd
from mxnet.gluon import nn


RNG = np.random.RandomState(7)


def _randn(*shape):
    return RNG.randn(*shape).astype(np.float32)


def _conv2d_numpy(x, w, b, stride, pad, dilation=(1, 1), groups=1):
    """Direct NCHW cross-correlation, the definition the Convolution operator implements."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    out_h = (h + 2 * pad[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (wd + 2 * pad[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, f, out_h, out_w), dtype=np.float64)
    per_group = f // groups
    for o in range(f):
        g = o // per_group
        for i in range(out_h):
            for j in range(out_w):
                patch = x[:, g * cg:(g + 1) * cg,
                          i * stride[0]:i * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                          j * stride[1]:j * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
        if b is not None:
            out[:, o] += b[o]
    return out


def test_dense_matches_numpy():
    layer = nn.Dense(4, activation='tanh')
    layer.initialize(mx.init.Normal(0.5))
    x = _randn(3, 2, 5)
    out = layer(nd.array(x)).asnumpy()
    weight = layer.weight.data().asnumpy()
    bias = layer.bias.data().asnumpy()
    expected = np.tanh(x.reshape(3, 10) @ weight.T + bias)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_dense_without_bias():
    layer = nn.Dense(2, use_bias=False, in_units=3)
    layer.initialize(mx.init.One())
    assert layer.bias is None
    assert list(layer.collect_params().keys()) == [layer.prefix + 'weight']
    np.testing.assert_allclose(layer(nd.ones((1, 3))).asnumpy(), [[3.0, 3.0]])


@pytest.mark.parametrize('stride,pad,groups', [((1, 1), (1, 1), 1), ((2, 1), (0, 1), 2)])
def test_conv2d_matches_numpy(stride, pad, groups):
    layer = nn.Conv2D(4, (3, 2), strides=stride, padding=pad, groups=groups)
    layer.initialize(mx.init.Normal(0.5))
    layer.bias.set_data(nd.array(_randn(4)))
    x = _randn(2, 4, 6, 5)
    out = layer(nd.array(x)).asnumpy()
    assert layer.weight.shape == (4, 4 // groups, 3, 2)
    expected = _conv2d_numpy(x, layer.weight.data().asnumpy(), layer.bias.data().asnumpy(),
                             stride, pad, groups=groups)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_conv1d_matches_numpy():
    layer = nn.Conv1D(3, 3, dilation=2, in_channels=2, activation='relu')
    layer.initialize(mx.init.Normal(0.5))
    x = _randn(2, 2, 9)
    out = layer(nd.array(x)).asnumpy()
    weight = layer.weight.data().asnumpy()[:, :, None, :]
    expected = _conv2d_numpy(x[:, :, None, :], weight, layer.bias.data().asnumpy(),
                             (1, 1), (0, 0), dilation=(1, 2))[:, :, 0, :]
    np.testing.assert_allclose(out, np.maximum(expected, 0), rtol=1e-4, atol=1e-5)


def test_conv_rejects_bad_layout_and_kernel():
    with pytest.raises(ValueError, match="'NCHW' and 'NHWC'"):
        nn.Conv2D(2, 3, layout='NCW')
    with pytest.raises(ValueError, match='kernel_size'):
        nn.Conv2D(2, (3, 3, 3))


def test_max_and_avg_pool2d():
    x = _randn(2, 3, 4, 6)
    windows = x.reshape(2, 3, 2, 2, 3, 2)
    max_out = nn.MaxPool2D()(nd.array(x)).asnumpy()
    np.testing.assert_allclose(max_out, windows.max(axis=(3, 5)))
    avg_out = nn.AvgPool2D()(nd.array(x)).asnumpy()
    np.testing.assert_allclose(avg_out, windows.mean(axis=(3, 5)), rtol=1e-6, atol=1e-6)


def test_pool1d_strides_and_ceil_mode():
    x = np.arange(7, dtype=np.float32).reshape(1, 1, 7)
    out = nn.MaxPool1D(pool_size=3, strides=2)(nd.array(x)).asnumpy()
    np.testing.assert_array_equal(out, [[[2.0, 4.0, 6.0]]])
    out_ceil = nn.MaxPool1D(pool_size=2, strides=2, ceil_mode=True)(nd.array(x)).asnumpy()
    np.testing.assert_array_equal(out_ceil, [[[1.0, 3.0, 5.0, 6.0]]])
    avg = nn.AvgPool1D(pool_size=2)(nd.array(x)).asnumpy()
    np.testing.assert_allclose(avg, [[[0.5, 2.5, 4.5]]])


def test_global_pools():
    x = _randn(2, 3, 4, 5)
    np.testing.assert_allclose(nn.GlobalAvgPool2D()(nd.array(x)).asnumpy(),
                               x.mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.GlobalMaxPool2D()(nd.array(x)).asnumpy(),
                               x.max(axis=(2, 3), keepdims=True))
    y = _randn(2, 3, 5)
    np.testing.assert_allclose(nn.GlobalAvgPool1D()(nd.array(y)).asnumpy(),
                               y.mean(axis=2, keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.GlobalMaxPool1D()(nd.array(y)).asnumpy(),
                               y.max(axis=2, keepdims=True))


def test_batchnorm_inference_uses_running_stats():
    layer = nn.BatchNorm(in_channels=3, epsilon=1e-3)
    layer.initialize()
    mean, var = _randn(3), np.abs(_randn(3)) + 0.5
    gamma, beta = _randn(3), _randn(3)
    layer.running_mean.set_data(nd.array(mean))
    layer.running_var.set_data(nd.array(var))
    layer.gamma.set_data(nd.array(gamma))
    layer.beta.set_data(nd.array(beta))
    x = _randn(4, 3, 2)
    out = layer(nd.array(x)).asnumpy()
    shape = (1, 3, 1)
    expected = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-3) \
        * gamma.reshape(shape) + beta.reshape(shape)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_batchnorm_training_normalizes_and_updates_stats():
    layer = nn.BatchNorm(momentum=0.8)
    layer.initialize()
    x = _randn(8, 2, 3) * 3 + 1
    with autograd.record():
        out = layer(nd.array(x))
    out.backward()
    out = out.asnumpy()
    np.testing.assert_allclose(out.mean(axis=(0, 2)), np.zeros(2), atol=1e-5)
    np.testing.assert_allclose(out.var(axis=(0, 2)), np.ones(2), rtol=1e-3)
    batch_mean = x.mean(axis=(0, 2))
    np.testing.assert_allclose(layer.running_mean.data().asnumpy(), 0.2 * batch_mean,
                               rtol=1e-4, atol=1e-5)
    assert layer.running_mean.grad_req == 'null'


def test_embedding_and_flatten():
    layer = nn.Embedding(5, 3)
    layer.initialize(mx.init.Normal(1.0))
    table = layer.weight.data().asnumpy()
    indices = np.array([[0, 4], [2, 2]], dtype=np.float32)
    out = layer(nd.array(indices)).asnumpy()
    np.testing.assert_array_equal(out, table[indices.astype(int)])
    assert nn.Flatten()(nd.ones((2, 3, 4))).shape == (2, 12)


def test_dropout_identity_outside_training_and_scaled_inside():
    layer = nn.Dropout(0.5)
    x = nd.ones((200, 50))
    np.testing.assert_array_equal(layer(x).asnumpy(), np.ones((200, 50)))
    with autograd.record():
        out = layer(x).asnumpy()
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert 0.4 < (out == 0).mean() < 0.6
    with pytest.raises(ValueError, match=r'\[0, 1\)'):
        nn.Dropout(1.5)


def test_activation_layers_match_numpy():
    x = np.linspace(-3, 3, 13).astype(np.float32)
    data = nd.array(x)
    selu_alpha, selu_scale = 1.6732632423543772, 1.0507009873554805
    cases = [
        (nn.Activation('relu'), np.maximum(x, 0)),
        (nn.Activation('sigmoid'), 1 / (1 + np.exp(-x))),
        (nn.Activation('softrelu'), np.log1p(np.exp(x))),
        (nn.LeakyReLU(0.1), np.where(x >= 0, x, 0.1 * x)),
        (nn.ELU(0.5), np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
        (nn.SELU(), selu_scale * np.where(x > 0, x, selu_alpha * (np.exp(x) - 1))),
        (nn.Swish(2.0), x / (1 + np.exp(-2.0 * x))),
    ]
    for layer, expected in cases:
        np.testing.assert_allclose(layer(data).asnumpy(), expected, rtol=1e-5, atol=1e-6,
                                   err_msg=repr(layer))
    from math import erf
    gelu = np.array([0.5 * v * (1 + erf(v / np.sqrt(2))) for v in x])
    np.testing.assert_allclose(nn.GELU()(data).asnumpy(), gelu, rtol=1e-4, atol=1e-5)


def test_prelu_learns_slope_per_channel():
    layer = nn.PReLU(in_channels=2)
    layer.initialize()
    np.testing.assert_allclose(layer.alpha.data().asnumpy(), [0.25, 0.25])
    x = np.array([[-4.0, 4.0], [-2.0, -1.0]], dtype=np.float32)
    np.testing.assert_allclose(layer(nd.array(x)).asnumpy(), [[-1.0, 4.0], [-0.5, -0.25]])
    with pytest.raises(ValueError, match='at least 0'):
        nn.LeakyReLU(-1)
