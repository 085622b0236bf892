"""Neural-network operators against numpy references and central finite differences.

The MXNet 1.9.1 fixture cases of these operators are replayed in test_op_nn_fixtures.py.
"""
import math

import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd

RNG_SEED = 20240611


def rng():
    return np.random.default_rng(RNG_SEED)


def nd64(a):
    return mx.nd.array(np.asarray(a, dtype=np.float64), dtype="float64")


# ---- numpy references --------------------------------------------------------------------

def conv2d_reference(x, w, b, stride=(1, 1), pad=(0, 0), dilate=(1, 1), groups=1):
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    eh, ew = dilate[0] * (kh - 1) + 1, dilate[1] * (kw - 1) + 1
    oh = (h + 2 * pad[0] - eh) // stride[0] + 1
    ow = (wd + 2 * pad[1] - ew) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    fg = f // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(oh):
            for j in range(ow):
                patch = xs[:, :, i * stride[0]:i * stride[0] + eh:dilate[0], j * stride[1]:j * stride[1] + ew:dilate[1]]
                out[:, g * fg:(g + 1) * fg, i, j] = np.einsum("nckl,fckl->nf", patch, w[g * fg:(g + 1) * fg])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def max_pool_reference(x, k, s):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return out


# ---- finite differences ------------------------------------------------------------------

def check_gradients(op, arrays, kwargs, grad_inputs, train=False, eps=1e-6, rtol=1e-5, atol=1e-7):
    """Compare autograd gradients of sum(op(...) * weights) with central differences (float64)."""
    def evaluate(values):
        inputs = {k: nd64(v) for k, v in values.items()}
        scope = autograd.train_mode() if train else autograd.predict_mode()
        with scope:
            out = op(**inputs, **kwargs)
        out = out[0] if isinstance(out, list) else out
        return out.asnumpy()

    base = {k: np.array(v, dtype=np.float64) for k, v in arrays.items()}
    weights = rng().standard_normal(evaluate(base).shape)

    inputs = {k: nd64(v) for k, v in base.items()}
    for k in grad_inputs:
        inputs[k].attach_grad()
    with autograd.record(train_mode=train):
        out = op(**inputs, **kwargs)
    out = out[0] if isinstance(out, list) else out
    out.backward(nd64(weights), train_mode=train)

    for k in grad_inputs:
        numeric = np.zeros_like(base[k])
        flat = numeric.reshape(-1)
        for i in range(flat.size):
            plus = {n: v.copy() for n, v in base.items()}
            minus = {n: v.copy() for n, v in base.items()}
            plus[k].reshape(-1)[i] += eps
            minus[k].reshape(-1)[i] -= eps
            flat[i] = ((evaluate(plus) * weights).sum() - (evaluate(minus) * weights).sum()) / (2 * eps)
        np.testing.assert_allclose(inputs[k].grad.asnumpy(), numeric, rtol=rtol, atol=atol,
                                   err_msg="gradient of %s" % k)


# ---- FullyConnected ----------------------------------------------------------------------

@pytest.mark.parametrize("flatten", [True, False])
def test_fully_connected_matches_numpy(flatten):
    r = rng()
    x = r.standard_normal((2, 3, 4)).astype(np.float32)
    k = 12 if flatten else 4
    w = r.standard_normal((5, k)).astype(np.float32)
    b = r.standard_normal(5).astype(np.float32)
    out = mx.nd.FullyConnected(mx.nd.array(x), mx.nd.array(w), mx.nd.array(b), num_hidden=5, flatten=flatten)
    expected = (x.reshape(2, -1) if flatten else x) @ w.T + b
    assert out.shape == ((2, 5) if flatten else (2, 3, 5))
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(128, 784, 256), (131, 700, 257)], ids=["mlp_layer", "odd_sizes"])
def test_fully_connected_large_matches_numpy_float64(shape):
    # Large enough for the multithreaded product paths, including the split over columns of
    # the output that FullyConnected's transposed weight takes.
    batch, features, hidden = shape
    r = rng()
    x = r.standard_normal((batch, features)).astype(np.float32)
    w = r.standard_normal((hidden, features)).astype(np.float32)
    b = r.standard_normal(hidden).astype(np.float32)
    out = mx.nd.FullyConnected(mx.nd.array(x), mx.nd.array(w), mx.nd.array(b), num_hidden=hidden)
    expected = x.astype(np.float64) @ w.T.astype(np.float64) + b
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-4, atol=1e-3)


def test_fully_connected_gradients_float64():
    r = rng()
    arrays = {"data": r.standard_normal((3, 2, 2)), "weight": r.standard_normal((4, 4)), "bias": r.standard_normal(4)}
    check_gradients(mx.nd.FullyConnected, arrays, {"num_hidden": 4}, ["data", "weight", "bias"])


def test_fully_connected_no_bias_and_broadcast_input():
    r = rng()
    row = r.standard_normal((1, 4))
    w = r.standard_normal((2, 4))
    # A broadcast view is a strided input (stride 0 along the batch axis).
    x = nd64(row).broadcast_to((3, 4))
    out = mx.nd.FullyConnected(x, nd64(w), num_hidden=2, no_bias=True)
    np.testing.assert_allclose(out.asnumpy(), np.repeat(row, 3, axis=0) @ w.T, rtol=1e-12)


def test_fully_connected_weight_shape_error():
    x = mx.nd.zeros((2, 3))
    w = mx.nd.zeros((4, 5))
    with pytest.raises(ValueError, match=r"FullyConnected: weight has shape \[4, 5\]"):
        mx.nd.FullyConnected(x, w, num_hidden=4, no_bias=True)


def test_fully_connected_rejects_int_dtype():
    x = mx.nd.zeros((2, 3), dtype="int32")
    w = mx.nd.zeros((4, 3), dtype="int32")
    with pytest.raises(TypeError, match="FullyConnected"):
        mx.nd.FullyConnected(x, w, num_hidden=4, no_bias=True)


# ---- Convolution -------------------------------------------------------------------------

CONV_CASES = [
    dict(kernel=(3, 3)),
    dict(kernel=(3, 2), stride=(2, 1), pad=(1, 2)),
    dict(kernel=(2, 2), dilate=(2, 1), pad=(1, 0)),
    dict(kernel=(3, 3), num_group=2, pad=(1, 1)),
    dict(kernel=(1, 1)),
    dict(kernel=(1, 1), stride=(2, 2)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join("%s%s" % kv for kv in c.items()))
def test_convolution_matches_numpy(case):
    r = rng()
    groups = case.get("num_group", 1)
    x = r.standard_normal((2, 4, 7, 6))
    kernel = case["kernel"]
    w = r.standard_normal((6, 4 // groups) + kernel)
    b = r.standard_normal(6)
    out = mx.nd.Convolution(nd64(x), nd64(w), nd64(b), num_filter=6, **case)
    expected = conv2d_reference(x, w, b, case.get("stride", (1, 1)), case.get("pad", (0, 0)),
                                case.get("dilate", (1, 1)), groups)
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-10, atol=1e-10)


def test_convolution_batch_parallel_path_matches_numpy():
    # Large enough for the kernel to split the batch over threads.
    r = rng()
    x = r.standard_normal((16, 4, 16, 16)).astype(np.float32)
    w = r.standard_normal((16, 4, 3, 3)).astype(np.float32)
    data = mx.nd.array(x)
    weight = mx.nd.array(w)
    data.attach_grad()
    weight.attach_grad()
    head = r.standard_normal((16, 16, 14, 14)).astype(np.float32)
    with autograd.record():
        out = mx.nd.Convolution(data, weight, kernel=(3, 3), num_filter=16, no_bias=True)
    out.backward(mx.nd.array(head))
    expected = conv2d_reference(x.astype(np.float64), w.astype(np.float64), None)
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-4, atol=1e-4)
    # The weight gradient is the correlation of the data with the head gradient.
    expected_dw = np.zeros_like(w, dtype=np.float64)
    for ki in range(3):
        for kj in range(3):
            expected_dw[:, :, ki, kj] = np.einsum("nfij,ncij->fc", head, x[:, :, ki:ki + 14, kj:kj + 14])
    np.testing.assert_allclose(weight.grad.asnumpy(), expected_dw, rtol=1e-3, atol=1e-3)
    # The data gradient spreads each head gradient back over its receptive field.
    expected_dx = np.zeros_like(x, dtype=np.float64)
    for ki in range(3):
        for kj in range(3):
            expected_dx[:, :, ki:ki + 14, kj:kj + 14] += np.einsum("nfij,fc->ncij", head, w[:, :, ki, kj])
    np.testing.assert_allclose(data.grad.asnumpy(), expected_dx, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("case", [
    dict(kernel=(3, 3), pad=(1, 1)),
    dict(kernel=(2, 3), stride=(2, 2), dilate=(1, 2)),
    dict(kernel=(2, 2), num_group=2),
    dict(kernel=(1, 1)),
], ids=["pad", "stride-dilate", "group", "pointwise"])
def test_convolution_gradients_float64(case):
    r = rng()
    groups = case.get("num_group", 1)
    arrays = {
        "data": r.standard_normal((2, 2, 5, 5)),
        "weight": r.standard_normal((4, 2 // groups) + case["kernel"]),
        "bias": r.standard_normal(4),
    }
    check_gradients(mx.nd.Convolution, arrays, dict(num_filter=4, **case), ["data", "weight", "bias"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_keeps_subnormal_results(dtype):
    # 1 / (1 + e^-x) gives 0 once e^-x overflows; the true value is still representable.
    x = np.array([-88.8, -95.0, -103.0, -30.0, 0.0, 30.0, -np.inf, np.inf], dtype=dtype)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = np.where(x64 >= 0, 1 / (1 + np.exp(-x64)), np.exp(x64) / (1 + np.exp(x64))).astype(dtype)
    for out in (mx.nd.sigmoid(mx.nd.array(x, dtype=dtype)), mx.nd.Activation(mx.nd.array(x, dtype=dtype), act_type="sigmoid")):
        # Subnormal results carry few significant bits: allow a few of their steps.
        np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-5, atol=4 * np.finfo(dtype).smallest_subnormal)


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_convolution_without_input_channels_gives_bias(batch):
    data, weight = mx.nd.zeros((batch, 0, 5, 5)), mx.nd.zeros((3, 0, 3, 3))
    bias = mx.nd.array([1.0, 2.0, 3.0])
    out = mx.nd.Convolution(data, weight, bias, kernel=(3, 3), num_filter=3).asnumpy()
    assert out.shape == (batch, 3, 3, 3)
    np.testing.assert_array_equal(out, np.broadcast_to(np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1), out.shape))


def test_convolution_1d_gradients_float64():
    r = rng()
    arrays = {"data": r.standard_normal((2, 2, 9)), "weight": r.standard_normal((3, 2, 3)), "bias": r.standard_normal(3)}
    check_gradients(mx.nd.Convolution, arrays, dict(num_filter=3, kernel=(3,), stride=(2,), pad=(1,), dilate=(2,)),
                    ["data", "weight", "bias"])


def test_convolution_1d_matches_2d_with_unit_height():
    r = rng()
    x = r.standard_normal((2, 3, 10))
    w = r.standard_normal((4, 3, 3))
    out1 = mx.nd.Convolution(nd64(x), nd64(w), kernel=(3,), num_filter=4, no_bias=True, stride=(2,), pad=(1,))
    out2 = mx.nd.Convolution(nd64(x[:, :, None, :]), nd64(w[:, :, None, :]), kernel=(1, 3), num_filter=4,
                             no_bias=True, stride=(1, 2), pad=(0, 1))
    assert out1.shape == (2, 4, 5)
    np.testing.assert_allclose(out1.asnumpy(), out2.asnumpy()[:, :, 0, :], rtol=1e-12)


def test_convolution_errors_name_op_and_fix():
    x = mx.nd.zeros((1, 3, 5, 5))
    with pytest.raises(ValueError, match="Convolution: num_group must be at least 1"):
        mx.nd.Convolution(x, mx.nd.zeros((2, 3, 3, 3)), kernel=(3, 3), num_filter=2, num_group=0, no_bias=True)
    with pytest.raises(ValueError, match="Convolution: data has 3 channels, which num_group=2 does not divide"):
        mx.nd.Convolution(x, mx.nd.zeros((2, 1, 3, 3)), kernel=(3, 3), num_filter=2, num_group=2, no_bias=True)
    with pytest.raises(ValueError, match=r"Convolution: kernel \(7, 7\).*larger than the padded input"):
        mx.nd.Convolution(x, mx.nd.zeros((2, 3, 7, 7)), kernel=(7, 7), num_filter=2, no_bias=True)
    with pytest.raises(ValueError, match=r"Convolution: weight has shape \[2, 3, 2, 2\].*needs \[2, 3, 3, 3\]"):
        mx.nd.Convolution(x, mx.nd.zeros((2, 3, 2, 2)), kernel=(3, 3), num_filter=2, no_bias=True)
    with pytest.raises(ValueError, match="Convolution: layout 'NHWC' is not supported"):
        mx.nd.Convolution(x, mx.nd.zeros((2, 3, 3, 3)), kernel=(3, 3), num_filter=2, no_bias=True, layout="NHWC")
    with pytest.raises(ValueError, match="Convolution: unknown argument"):
        mx.nd.Convolution(x, mx.nd.zeros((2, 3, 3, 3)), kernel=(3, 3), num_filter=2, no_bias=True, strides=(1, 1))


def test_convolution_ignores_cudnn_options():
    x = mx.nd.ones((1, 1, 4, 4))
    out = mx.nd.Convolution(x, mx.nd.ones((1, 1, 2, 2)), kernel=(2, 2), num_filter=1, no_bias=True,
                            workspace=512, cudnn_tune="off", cudnn_off=True)
    np.testing.assert_array_equal(out.asnumpy(), np.full((1, 1, 3, 3), 4.0, dtype=np.float32))


# ---- Pooling -----------------------------------------------------------------------------

def test_max_pooling_matches_numpy():
    x = rng().standard_normal((2, 3, 8, 8))
    out = mx.nd.Pooling(nd64(x), kernel=(2, 2), stride=(2, 2), pool_type="max")
    np.testing.assert_array_equal(out.asnumpy(), max_pool_reference(x, 2, 2))


@pytest.mark.parametrize("kwargs", [
    dict(kernel=(2, 2), stride=(2, 2), pool_type="max"),
    dict(kernel=(3, 3), stride=(2, 2), pool_type="avg", pooling_convention="full"),
    dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", count_include_pad=False),
    dict(kernel=(2, 3), stride=(1, 2), pad=(1, 1), pool_type="sum"),
    dict(kernel=(2, 2), stride=(1, 1), pool_type="lp", p_value=2),
    dict(kernel=(2, 2), stride=(1, 1), pool_type="lp", p_value=3),
    dict(global_pool=True, pool_type="avg"),
], ids=["max", "avg-full", "avg-exclude-pad", "sum", "lp2", "lp3", "global-avg"])
def test_pooling_gradients_float64(kwargs):
    # Distinct values keep max pooling away from ties, where it is not differentiable.
    x = rng().permutation(2 * 2 * 6 * 7).reshape(2, 2, 6, 7) / 10.0 + 0.5
    check_gradients(mx.nd.Pooling, {"data": x}, kwargs, ["data"], rtol=1e-5, atol=1e-6)


def test_pooling_1d_shapes_and_values():
    x = np.arange(14, dtype=np.float64).reshape(1, 2, 7)
    out = mx.nd.Pooling(nd64(x), kernel=(3,), stride=(2,), pool_type="max")
    np.testing.assert_array_equal(out.asnumpy(), x[:, :, [2, 4, 6]])
    full = mx.nd.Pooling(nd64(x[:, :, :6]), kernel=(3,), stride=(2,), pool_type="avg", pooling_convention="full")
    assert full.shape == (1, 2, 3)


def test_pooling_errors():
    x = mx.nd.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="Pooling: invalid pool_type 'median'"):
        mx.nd.Pooling(x, kernel=(2, 2), pool_type="median")
    with pytest.raises(ValueError, match=r"Pooling: kernel \(5, 5\) is larger than the padded input"):
        mx.nd.Pooling(x, kernel=(5, 5))
    with pytest.raises(ValueError, match="Pooling: required argument 'kernel' is missing"):
        mx.nd.Pooling(x, pool_type="max")
    with pytest.raises(ValueError, match="Pooling: pooling_convention 'same' is not supported"):
        mx.nd.Pooling(x, kernel=(2, 2), pooling_convention="same")


# ---- Activation and LeakyReLU ------------------------------------------------------------

@pytest.mark.parametrize("act_type", ["relu", "sigmoid", "tanh", "softrelu", "softsign"])
def test_activation_gradients_float64(act_type):
    x = rng().standard_normal((3, 4)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep relu away from its kink
    check_gradients(mx.nd.Activation, {"data": x}, {"act_type": act_type}, ["data"])


def test_softrelu_does_not_overflow():
    out = mx.nd.Activation(mx.nd.array([-1000.0, 0.0, 1000.0]), act_type="softrelu").asnumpy()
    np.testing.assert_allclose(out, [0.0, np.log(2.0), 1000.0], rtol=1e-6)


def test_activation_rejects_unknown_type():
    with pytest.raises(ValueError, match="Activation: invalid act_type 'swish'"):
        mx.nd.Activation(mx.nd.zeros((2,)), act_type="swish")


@pytest.mark.parametrize("kwargs", [
    dict(act_type="leaky", slope=0.1),
    dict(act_type="elu", slope=0.7),
    dict(act_type="selu"),
    dict(act_type="gelu"),
], ids=["leaky", "elu", "selu", "gelu"])
def test_leaky_relu_gradients_float64(kwargs):
    x = rng().standard_normal((3, 5)) * 2
    x[np.abs(x) < 1e-3] = 0.5
    check_gradients(mx.nd.LeakyReLU, {"data": x}, kwargs, ["data"])


SELU_ALPHA, SELU_LAMBDA = 1.6732632423543772, 1.0507009873554805
ERF = np.vectorize(math.erf, otypes=[np.float64])


def leaky_relu_reference(x, act_type, slope):
    """Forward values and derivatives of LeakyReLU by its formulas, in float64."""
    if act_type == "leaky":
        return np.where(x > 0, x, slope * x), np.where(x > 0, 1.0, slope)
    if act_type == "elu":
        return np.where(x > 0, x, slope * np.expm1(x)), np.where(x > 0, 1.0, slope * np.exp(x))
    if act_type == "selu":
        y = SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))
        return y, SELU_LAMBDA * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(x))
    cdf = 0.5 * (1 + ERF(x / np.sqrt(2)))
    return x * cdf, cdf + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act_type", ["leaky", "elu", "selu", "gelu"])
def test_leaky_relu_large_matches_formula(act_type, dtype):
    # 100,000 elements take the kernels' parallel path.
    x = rng().standard_normal(100_000) * 3
    expected_y, expected_dx = leaky_relu_reference(x, act_type, 0.3)
    data = mx.nd.array(x, dtype=dtype)
    data.attach_grad()
    with autograd.record():
        y = mx.nd.LeakyReLU(data, act_type=act_type, slope=0.3)
    y.backward()
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y.asnumpy(), expected_y, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(data.grad.asnumpy(), expected_dx, rtol=rtol, atol=rtol)


def test_prelu_gradients_float64():
    r = rng()
    x = r.standard_normal((2, 3, 4))
    x[np.abs(x) < 1e-3] = 0.5
    arrays = {"data": x, "gamma": r.uniform(0.1, 0.5, 3)}
    check_gradients(mx.nd.LeakyReLU, arrays, {"act_type": "prelu"}, ["data", "gamma"])


@pytest.mark.parametrize("shape, gamma_shape", [
    ((300, 257), (257,)),           # one slope per column, parallel path
    ((8, 16, 33, 33), (16,)),       # runs of 33 * 33 elements per slope
    ((70_000, 3), (1,)),            # one slope for all
    ((0, 4, 3), (4,)),              # empty
], ids=["rows", "images", "shared_slope", "empty"])
def test_prelu_large_matches_numpy(shape, gamma_shape):
    r = rng()
    x = r.standard_normal(shape).astype(np.float32)
    gamma = r.standard_normal(gamma_shape).astype(np.float32)
    dy = r.standard_normal(shape).astype(np.float32)
    data, slopes = mx.nd.array(x), mx.nd.array(gamma)
    data.attach_grad()
    slopes.attach_grad()
    with autograd.record():
        y = mx.nd.LeakyReLU(data, slopes, act_type="prelu")
    y.backward(mx.nd.array(dy))
    per_channel = gamma.size > 1
    g = gamma.reshape((1, -1) + (1,) * (len(shape) - 2)) if per_channel else gamma[0]
    negative_part = np.where(x > 0, 0.0, dy.astype(np.float64) * x)
    reduced = tuple(i for i in range(len(shape)) if not (per_channel and i == 1))
    np.testing.assert_allclose(y.asnumpy(), np.where(x > 0, x, g * x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(data.grad.asnumpy(), np.where(x > 0, dy, g * dy), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(slopes.grad.asnumpy(), negative_part.sum(axis=reduced).reshape(gamma_shape),
                               rtol=1e-4, atol=1e-2)


def test_rrelu_training_slopes_within_bounds():
    x = mx.nd.array(-np.ones((1000,), dtype=np.float32))
    with autograd.train_mode():
        out, mask = mx.nd.LeakyReLU(x, act_type="rrelu", lower_bound=0.1, upper_bound=0.3)
    slopes = -out.asnumpy()
    # The second output (MXNet's "mask") holds the slopes drawn for each element.
    np.testing.assert_array_equal(mask.asnumpy(), slopes)
    assert slopes.min() >= 0.1 - 1e-6
    assert slopes.max() <= 0.3 + 1e-6
    assert np.unique(slopes).size > 100


# ---- softmax family ----------------------------------------------------------------------

@pytest.mark.parametrize("op", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_gradients_float64(op, axis):
    x = rng().standard_normal((3, 4, 2))
    check_gradients(getattr(mx.nd, op), {"data": x}, {"axis": axis, "temperature": 1.5}, ["data"])


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(3, 100), (700, 101)])
def test_softmax_float32_rows_match_numpy(op, shape):
    # Rows longer than the kernel's lanes, with a tail; 700 x 101 is large enough to run in
    # parallel chunks.
    r = rng()
    x = (r.standard_normal(shape) * 5).astype(np.float32)
    dy = r.standard_normal(shape).astype(np.float32)
    xa = mx.nd.array(x)
    xa.attach_grad()
    with autograd.record():
        y = getattr(mx.nd, op)(xa, axis=-1, temperature=1.5)
    y.backward(mx.nd.array(dy))
    z = x.astype(np.float64) / 1.5
    z -= z.max(axis=-1, keepdims=True)
    sm = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    if op == "softmax":
        expected, grad = sm, sm * (dy - (dy * sm).sum(axis=-1, keepdims=True)) / 1.5
    else:
        expected, grad = np.log(sm), (dy - sm * dy.sum(axis=-1, keepdims=True)) / 1.5
    np.testing.assert_allclose(y.asnumpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xa.grad.asnumpy(), grad, rtol=1e-4, atol=1e-5)


def test_softmin_is_softmax_of_negated_input():
    x = rng().standard_normal((4, 5))
    a = mx.nd.softmin(nd64(x), axis=0).asnumpy()
    b = mx.nd.softmax(nd64(-x), axis=0).asnumpy()
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_softmax_handles_infinite_logits():
    x = np.array([[-np.inf, 0.0, 1.0], [1e4, -1e4, 1e4]], dtype=np.float32)
    out = mx.nd.softmax(mx.nd.array(x)).asnumpy()
    e = np.exp(np.array([0.0, 1.0]) - 1.0)
    np.testing.assert_allclose(out[0], [0.0, *(e / e.sum())], rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.5, 0.0, 0.5], rtol=1e-6)
    log_out = mx.nd.log_softmax(mx.nd.array(x)).asnumpy()
    assert log_out[0, 0] == -np.inf
    assert np.isfinite(log_out[1]).all()


def test_softmax_output_dtype():
    x = mx.nd.array(np.ones((2, 3), dtype=np.float32))
    out = mx.nd.softmax(x, dtype="float64")
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.asnumpy(), np.full((2, 3), 1 / 3))


def test_softmax_axis_error():
    with pytest.raises(ValueError, match="softmax: axis 2 is out of range"):
        mx.nd.softmax(mx.nd.zeros((2, 3)), axis=2)


# ---- SoftmaxOutput -----------------------------------------------------------------------

def test_softmax_output_gradient_is_cross_entropy_gradient():
    r = rng()
    x = r.standard_normal((4, 5)).astype(np.float32)
    label = np.array([0, 3, 4, 1], dtype=np.float32)
    data = mx.nd.array(x)
    data.attach_grad()
    with autograd.record():
        out = mx.nd.SoftmaxOutput(data, mx.nd.array(label), grad_scale=2.0, normalization="batch")
    out.backward()
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(5, dtype=np.float32)[label.astype(int)]
    np.testing.assert_allclose(out.asnumpy(), p, rtol=1e-5)
    np.testing.assert_allclose(data.grad.asnumpy(), (p - onehot) * 2.0 / 4, rtol=1e-5, atol=1e-6)


def test_softmax_output_smoothing():
    x = np.zeros((1, 4), dtype=np.float32)
    data = mx.nd.array(x)
    data.attach_grad()
    with autograd.record():
        out = mx.nd.SoftmaxOutput(data, mx.nd.array([2.0]), smooth_alpha=0.3)
    out.backward()
    target = np.array([[0.1, 0.1, 0.7, 0.1]], dtype=np.float32)
    np.testing.assert_allclose(data.grad.asnumpy(), 0.25 - target, rtol=1e-6)


def test_softmax_output_label_shape_error():
    with pytest.raises(ValueError, match="SoftmaxOutput: label has shape"):
        mx.nd.SoftmaxOutput(mx.nd.zeros((4, 3)), mx.nd.zeros((3,)))


def test_softmax_alias():
    x = mx.nd.array([[1.0, 2.0]])
    np.testing.assert_allclose(mx.nd.Softmax(x, mx.nd.array([0.0])).asnumpy(),
                               mx.nd.SoftmaxOutput(x, mx.nd.array([0.0])).asnumpy())


# ---- BatchNorm ---------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [1, -1])
def test_batch_norm_training_gradients_float64(axis):
    r = rng()
    x = r.standard_normal((3, 2, 4))
    c = x.shape[axis]
    arrays = {
        "data": x, "gamma": r.uniform(0.5, 1.5, c), "beta": r.standard_normal(c),
        "moving_mean": np.zeros(c), "moving_var": np.ones(c),
    }
    check_gradients(mx.nd.BatchNorm, arrays, {"fix_gamma": False, "axis": axis, "eps": 1e-5},
                    ["data", "gamma", "beta"], train=True, rtol=1e-5, atol=1e-6)


def test_batch_norm_inference_gradients_float64():
    r = rng()
    arrays = {
        "data": r.standard_normal((3, 2, 2)), "gamma": r.uniform(0.5, 1.5, 2), "beta": r.standard_normal(2),
        "moving_mean": r.standard_normal(2), "moving_var": r.uniform(0.5, 2.0, 2),
    }
    check_gradients(mx.nd.BatchNorm, arrays, {"fix_gamma": False}, ["data", "gamma", "beta"], train=False)


def test_batch_norm_updates_moving_stats_in_training_forward():
    r = rng()
    x = r.standard_normal((8, 3, 2, 2)).astype(np.float32)
    mean, var = mx.nd.zeros((3,)), mx.nd.ones((3,))
    with autograd.train_mode():
        mx.nd.BatchNorm(mx.nd.array(x), mx.nd.ones((3,)), mx.nd.zeros((3,)), mean, var, momentum=0.8)
    np.testing.assert_allclose(mean.asnumpy(), 0.2 * x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var.asnumpy(), 0.8 + 0.2 * x.var(axis=(0, 2, 3)), rtol=1e-5)
    with autograd.predict_mode():
        mx.nd.BatchNorm(mx.nd.array(x), mx.nd.ones((3,)), mx.nd.zeros((3,)), mean, var)
    np.testing.assert_allclose(mean.asnumpy(), 0.2 * x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 3, 0, 4)])
def test_batch_norm_empty_batch_keeps_moving_stats(shape):
    mean, var = mx.nd.array([1.0, 2.0, 3.0]), mx.nd.array([1.0, 2.0, 3.0])
    with autograd.train_mode():
        out = mx.nd.BatchNorm(mx.nd.zeros(shape), mx.nd.ones((3,)), mx.nd.zeros((3,)), mean, var, momentum=0.9)
    assert out.shape == shape
    np.testing.assert_array_equal(mean.asnumpy(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(var.asnumpy(), [1.0, 2.0, 3.0])


def test_batch_norm_shape_error():
    with pytest.raises(ValueError, match=r"BatchNorm: gamma has shape \[4\].*needs \(3,\)"):
        mx.nd.BatchNorm(mx.nd.zeros((2, 3)), mx.nd.zeros((4,)), mx.nd.zeros((3,)), mx.nd.zeros((3,)),
                        mx.nd.zeros((3,)))


# ---- Dropout -----------------------------------------------------------------------------

def test_dropout_identity_outside_training():
    x = mx.nd.ones((2000,))
    np.testing.assert_array_equal(mx.nd.Dropout(x, p=0.5).asnumpy(), np.ones(2000))


def test_dropout_training_scales_kept_values():
    x = mx.nd.ones((2000,))
    with autograd.train_mode():
        out = mx.nd.Dropout(x, p=0.5).asnumpy()
    assert set(np.unique(out)) == {0.0, 2.0}
    assert 800 < (out == 0).sum() < 1200
    always = mx.nd.Dropout(x, p=0.5, mode="always").asnumpy()
    assert set(np.unique(always)) == {0.0, 2.0}


def test_dropout_gradient_reuses_mask():
    x = mx.nd.ones((50, 40))
    x.attach_grad()
    with autograd.record():
        out = mx.nd.Dropout(x, p=0.3, axes=(1,))
    out.backward()
    y = out.asnumpy()
    np.testing.assert_allclose(x.grad.asnumpy(), y, rtol=1e-6)
    # One draw per row, shared along axis 1.
    assert (y == y[:, :1]).all()


def test_dropout_same_seed_same_mask():
    x = mx.nd.ones((100,))
    with autograd.train_mode():
        mx.random.seed(7)
        a = mx.nd.Dropout(x).asnumpy()
        mx.random.seed(7)
        b = mx.nd.Dropout(x).asnumpy()
    np.testing.assert_array_equal(a, b)


# ---- Embedding ---------------------------------------------------------------------------

def test_embedding_gathers_and_clips_indices():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    idx = mx.nd.array([[0, 3], [-2, 9]])
    out = mx.nd.Embedding(idx, mx.nd.array(w), input_dim=4, output_dim=3).asnumpy()
    np.testing.assert_array_equal(out, w[[[0, 3], [0, 3]]])


def test_embedding_gradient_scatter_adds():
    w = mx.nd.zeros((4, 2))
    w.attach_grad()
    with autograd.record():
        out = mx.nd.Embedding(mx.nd.array([1, 1, 2]), w, input_dim=4, output_dim=2)
    out.backward(mx.nd.array([[1, 2], [3, 4], [5, 6]]))
    np.testing.assert_array_equal(w.grad.asnumpy(), [[0, 0], [4, 6], [5, 6], [0, 0]])


def test_embedding_weight_shape_error():
    with pytest.raises(ValueError, match=r"Embedding: weight has shape \[3, 3\]"):
        mx.nd.Embedding(mx.nd.zeros((2,)), mx.nd.zeros((3, 3)), input_dim=4, output_dim=3)


# ---- LeNet forward and backward ----------------------------------------------------------

def test_lenet_step_shapes_and_loss_gradient():
    r = rng()
    x = mx.nd.array(r.standard_normal((8, 1, 28, 28)).astype(np.float32))
    label = mx.nd.array(r.integers(0, 10, 8).astype(np.float32))
    shapes = {"c1w": (20, 1, 5, 5), "c1b": (20,), "c2w": (50, 20, 5, 5), "c2b": (50,),
              "f1w": (500, 800), "f1b": (500,), "f2w": (10, 500), "f2b": (10,)}
    params = {k: mx.nd.array(r.standard_normal(s).astype(np.float32) * 0.05) for k, s in shapes.items()}
    for p in params.values():
        p.attach_grad()
    with autograd.record():
        h = mx.nd.Convolution(x, params["c1w"], params["c1b"], kernel=(5, 5), num_filter=20)
        h = mx.nd.Pooling(mx.nd.Activation(h, act_type="relu"), kernel=(2, 2), stride=(2, 2), pool_type="max")
        h = mx.nd.Convolution(h, params["c2w"], params["c2b"], kernel=(5, 5), num_filter=50)
        h = mx.nd.Pooling(mx.nd.Activation(h, act_type="relu"), kernel=(2, 2), stride=(2, 2), pool_type="max")
        h = mx.nd.Activation(mx.nd.FullyConnected(h, params["f1w"], params["f1b"], num_hidden=500), act_type="relu")
        out = mx.nd.SoftmaxOutput(mx.nd.FullyConnected(h, params["f2w"], params["f2b"], num_hidden=10), label)
    out.backward()
    assert out.shape == (8, 10)
    for k, p in params.items():
        g = p.grad.asnumpy()
        assert g.shape == shapes[k]
        assert np.isfinite(g).all(), k
        assert np.abs(g).sum() > 0, k


# ---- SoftmaxActivation -------------------------------------------------------------------

def test_softmax_activation_modes_match_numpy():
    x = rng().standard_normal((2, 3, 4))
    instance = mx.nd.SoftmaxActivation(nd64(x)).asnumpy()
    flat = np.exp(x.reshape(2, -1))
    np.testing.assert_allclose(instance, (flat / flat.sum(axis=1, keepdims=True)).reshape(x.shape), rtol=1e-12)
    channel = mx.nd.SoftmaxActivation(nd64(x), mode="channel").asnumpy()
    e = np.exp(x)
    np.testing.assert_allclose(channel, e / e.sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("mode", ["instance", "channel"])
def test_softmax_activation_gradients_float64(mode):
    x = rng().standard_normal((2, 3, 2))
    check_gradients(mx.nd.SoftmaxActivation, {"data": x}, {"mode": mode}, ["data"])


# ---- more error cases --------------------------------------------------------------------

def test_convolution_rejects_int_dtype():
    x = mx.nd.zeros((1, 1, 4, 4), dtype="int32")
    w = mx.nd.zeros((1, 1, 2, 2), dtype="int32")
    with pytest.raises(TypeError, match="Convolution: dtype int32 is not supported"):
        mx.nd.Convolution(x, w, kernel=(2, 2), num_filter=1, no_bias=True)


def test_batch_norm_axis_out_of_range():
    c = mx.nd.zeros((3,))
    with pytest.raises(ValueError, match="BatchNorm: axis 2 is out of range"):
        mx.nd.BatchNorm(mx.nd.zeros((2, 3)), c, c, c, c, axis=2)


def test_dropout_rejects_invalid_probability():
    with pytest.raises(ValueError, match="Dropout: p must be in"):
        mx.nd.Dropout(mx.nd.zeros((2,)), p=1.5)


def test_prelu_gamma_shape_error():
    with pytest.raises(ValueError, match=r"LeakyReLU: prelu gamma has shape \[2\]"):
        mx.nd.LeakyReLU(mx.nd.zeros((2, 3, 4)), mx.nd.ones((2,)), act_type="prelu")


def test_rrelu_gradient_uses_drawn_slopes():
    x = mx.nd.array(-np.ones((200,), dtype=np.float32))
    x.attach_grad()
    with autograd.record():
        out, _ = mx.nd.LeakyReLU(x, act_type="rrelu", lower_bound=0.1, upper_bound=0.3)
    out.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), -out.asnumpy(), rtol=1e-6)


@pytest.mark.parametrize("op, kwargs, shapes", [
    ("Convolution", {"kernel": (3, 3), "num_filter": 4}, [(5, 2, 7, 7), (4, 2, 3, 3), (4,)]),
    ("FullyConnected", {"num_hidden": 6}, [(5, 8), (6, 8), (6,)]),
])
def test_weight_gradient_same_without_data_gradient(op, kwargs, shapes):
    # The backward skips the data gradient when the data takes no part in the graph; the
    # weight and bias gradients must not change.
    r = np.random.RandomState(3)
    values = [r.randn(*s).astype(np.float32) for s in shapes]
    grads = []
    for data_grad in (True, False):
        arrays = [mx.nd.array(v) for v in values]
        for a in arrays[0 if data_grad else 1:]:
            a.attach_grad()
        with autograd.record():
            y = getattr(mx.nd, op)(*arrays, **kwargs)
        y.backward()
        grads.append([a.grad.asnumpy() for a in arrays[1:]])
    for with_data, without_data in zip(*grads):
        np.testing.assert_allclose(without_data, with_data, rtol=1e-6)
