"""Bad input gives a clear Python error that names the function and the value, never a crash."""
import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd, nd
from mxnet.base import MXNetError
from mxnet.gluon import nn


def test_out_of_memory_raises():
    with pytest.raises(MXNetError, match="out of memory.*1000000, 1000000"):
        nd.zeros((10**6, 10**6))


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Conv2D(4, 3, groups=0), "groups must be a positive integer"),
    (lambda: nn.Conv2D(0, 3), "channels must be a positive integer"),
    (lambda: nn.Conv2D(4, 0), "kernel_size"),
    (lambda: nn.Dense(0), "units must be a positive integer"),
    (lambda: nn.Dense(-1), "units must be a positive integer"),
    (lambda: nn.Embedding(0, 2), "input_dim must be a positive integer"),
])
def test_layer_rejects_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_conv_groups_mismatch_names_channels():
    layer = nn.Conv2D(6, 3, groups=3)
    layer.initialize()
    with pytest.raises(ValueError, match="4 channels.*divisible by groups=3"):
        layer(nd.ones((1, 4, 8, 8)))


def test_broadcast_to_returns_a_new_array():
    # As in MXNet 1.9.1: the result has its own buffer, so writing a row changes only that row.
    base = nd.ones((1, 3))
    result = nd.broadcast_to(base, (2, 3))
    result[0] = 5
    np.testing.assert_array_equal(result.asnumpy(), [[5, 5, 5], [1, 1, 1]])
    np.testing.assert_array_equal(base.asnumpy(), [[1, 1, 1]])
    assert np.asarray(result).flags.writeable


def test_broadcast_view_exported_read_only():
    # Zero-stride views remain inside the library (gradients); one exported to numpy must not
    # let a write land in several elements at once.
    view = nd.NDArray(mx._native.strided_view(nd.ones((1, 3)).handle, [2, 3], [0, 1], 0))
    assert not np.asarray(view).flags.writeable


def test_out_overlapping_shifted_input():
    """out= that overlaps a shifted input gives numpy's result, not a running sum."""
    a = nd.arange(6)
    nd.elemwise_add(a[1:], a[:-1], out=a[1:])
    expected = np.arange(6, dtype=np.float32)
    np.add(expected[1:], expected[:-1].copy(), out=expected[1:])
    np.testing.assert_array_equal(a.asnumpy(), expected)


def test_head_grad_shape_mismatch():
    x = nd.ones((2,))
    x.attach_grad()
    with autograd.record():
        y = x * 2
    with pytest.raises(ValueError, match="head gradient.*\\[3\\].*\\[2\\]"):
        y.backward(nd.ones((3,)))


class _WrongShapeGrad(autograd.Function):
    def forward(self, x):
        return x * 2

    def backward(self, dy):
        return nd.ones((5,))


class _NumpyGrad(autograd.Function):
    def forward(self, x):
        return x * 2

    def backward(self, dy):
        return dy.asnumpy()


@pytest.mark.parametrize("fn, message", [
    (_WrongShapeGrad, "Function.backward.*shape"),
    (_NumpyGrad, "Function.backward.*NDArray"),
])
def test_function_backward_checked(fn, message):
    x = nd.ones((2,))
    x.attach_grad()
    with autograd.record():
        y = fn()(x)
    with pytest.raises(MXNetError, match=message):
        y.backward()


def test_split_zero_outputs():
    with pytest.raises(ValueError, match="num_outputs must be positive"):
        nd.split(nd.ones((4,)), num_outputs=0, axis=0)


def test_max_of_empty_array_raises():
    with pytest.raises(ValueError, match="zero-size"):
        nd.zeros((0, 3)).max().asnumpy()


def test_second_cpu_context_kept():
    a = nd.ones((2,), ctx=mx.cpu(1))
    b = a.as_in_context(mx.cpu(0))
    assert a.context == mx.cpu(1)
    assert (a * 2).context == mx.cpu(1)
    assert b.context == mx.cpu(0)


def test_entering_one_context_twice_restores_the_default():
    # Creating a gpu Context needs no device. The default was kept on the Context object,
    # so leaving the inner block of a nested `with` of one object lost the outer default.
    g = mx.gpu(0)
    with g:
        with g:
            assert mx.current_context() == g
        assert mx.current_context() == g
    assert mx.current_context() == mx.cpu(0)


def test_layer_uses_the_input_context():
    net = mx.gluon.nn.Dense(3, in_units=2)
    net.initialize(ctx=mx.cpu(1))
    x = nd.ones((1, 2), ctx=mx.cpu(1))
    with mx.cpu(0):
        y = net(x)
        assert mx.current_context() == mx.cpu(0)
    assert y.context == mx.cpu(1)


def test_mixed_contexts_rejected():
    a = nd.ones((2,), ctx=mx.cpu(1))
    with pytest.raises(MXNetError, match="different contexts.*as_in_context"):
        a + nd.ones((2,))


def test_zero_size_creation():
    assert nd.zeros((2, 0)).shape == (2, 0)
    np.testing.assert_array_equal(nd.ones((0, 3)).sum(axis=0).asnumpy(), [0, 0, 0])


def test_outputs_after_a_failed_input_read_zero():
    # Operations skipped because an input failed must not show an earlier array's bytes.
    n = 100_000
    x = mx.nd.array(np.random.default_rng(0).random((n, 3)))
    bad = mx.nd.take(x, mx.nd.array([5e6] * n), mode="raise")
    for _ in range(3):  # fill freed buffers of the outputs' sizes with nonzero values
        filled = [mx.nd.full((n, 3 * k), 1234.5) for k in (1, 2)] + [mx.nd.full((n,), 1234.5)]
        for f in filled:
            f.wait_to_read()  # not waitall, which would raise the pending error
        del filled
    scaled, joined, summed = bad * 2, mx.nd.concat(bad, bad, dim=1), mx.nd.sum(bad, axis=1)
    with pytest.raises(IndexError, match="out of bounds"):
        bad.wait_to_read()
    for result in (scaled, joined, summed):
        assert (result.asnumpy() == 0).all()


@pytest.mark.parametrize("make", [
    lambda x: mx.nd.repeat(x, 2 ** 62),
    lambda x: mx.nd.tile(x, (2 ** 62,)),
    lambda x: mx.nd.arange(0, 4, repeat=2 ** 62),
    lambda x: mx.nd.broadcast_to(x[:1], (2 ** 62, 4)),
], ids=["repeat", "tile", "arange", "broadcast_to"])
def test_output_size_overflow_raises(make):
    with pytest.raises(ValueError, match="more than any array can hold"):
        make(mx.nd.ones((3, 4)))


def test_output_bytes_overflow_names_the_operator():
    # 2**62 float32 elements fit in a count but not in bytes.
    with pytest.raises(ValueError, match=r"one_hot: an output of shape \[1, 4611686018427387904\] "
                                         r"and dtype float32 would take more bytes"):
        mx.nd.one_hot(mx.nd.array([1]), depth=2 ** 62)


@pytest.mark.parametrize("shape", [(2.5,), (True, 3), (2, np.float32(3))])
def test_non_integer_shape_rejected(shape):
    with pytest.raises(TypeError, match="dimensions must be integers"):
        mx.nd.zeros(shape)


def test_missing_operator_method_says_not_implemented():
    with pytest.raises(NotImplementedError, match="depth_to_space is not implemented"):
        mx.nd.ones((1, 4, 2, 2)).depth_to_space(2)


def test_failed_input_keeps_out_arrays_and_weights():
    # MXNet 1.9.1 keeps these values: a skipped update must not reset a model.
    bad = mx.nd.take(mx.nd.ones((2, 3)), mx.nd.array([0, 99]), mode="raise")
    w = mx.nd.full((2, 3), 5.0)
    mx.nd.sgd_update(w, bad, lr=0.1, out=w)
    with pytest.raises(IndexError):
        w.wait_to_read()
    np.testing.assert_array_equal(w.asnumpy(), np.full((2, 3), 5.0))
    y = mx.nd.full((2, 3), 7.0)
    y += bad
    np.testing.assert_array_equal(y.asnumpy(), np.full((2, 3), 7.0))


def test_random_shape_takes_numpy_integers_and_rejects_floats():
    assert mx.nd.random.uniform(shape=np.int64(2)).shape == (2,)
    assert mx.nd.random.normal(shape=(np.int32(2), 3)).shape == (2, 3)
    assert mx.nd.random.uniform().shape == (1,)
    with pytest.raises(TypeError, match="dimensions must be integers"):
        mx.nd.random.normal(shape=2.5)


def test_positional_none_is_an_absent_input():
    x, w = mx.nd.ones((2, 3)), mx.nd.ones((2, 3))
    assert mx.nd.FullyConnected(x, w, None, num_hidden=2, no_bias=True).shape == (2, 2)
    assert mx.nd.FullyConnected(x, w, None, 2, True).shape == (2, 2)


def test_input_given_twice_raises():
    x = mx.nd.ones((2, 3))
    with pytest.raises(TypeError, match="multiple values for argument 'data'"):
        mx.nd.FullyConnected(x, x, data=x * 0, num_hidden=2, no_bias=True)


def test_out_list_must_match_the_outputs():
    x = mx.nd.ones((4, 2))
    with pytest.raises(ValueError, match="SliceChannel: out= has 1 array"):
        mx.nd.split(x, num_outputs=2, axis=0, out=mx.nd.zeros((2, 2)))


def test_arange_with_dtype_none_is_float32():
    assert mx.nd.arange(3, dtype=None).dtype == np.float32
