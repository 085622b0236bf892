"""`pad` against numpy.pad for its three modes, gradients against central finite differences
in float64, and one gradient recorded from MXNet 1.9.1."""
import numpy as np
import pytest

import mxnet as mx
from op_grad_check import check_grad

RNG = np.random.default_rng(5)
NUMPY_KW = {"constant": {"constant_values": 1.5}, "edge": {}, "reflect": {}}


def numpy_widths(pad_width):
    return [tuple(pad_width[i:i + 2]) for i in range(0, len(pad_width), 2)]


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
@pytest.mark.parametrize("shape, pad_width", [
    ((2, 1, 3, 4), (0, 0, 0, 0, 1, 2, 2, 1)),
    ((1, 2, 2, 3, 4), (0, 0, 0, 0, 1, 0, 0, 2, 3, 1)),
    ((3, 4), (1, 2, 0, 3)),
])
def test_pad_matches_numpy(mode, shape, pad_width):
    a = RNG.standard_normal(shape).astype(np.float32)
    got = mx.nd.pad(mx.nd.array(a), mode=mode, pad_width=pad_width, constant_value=1.5)
    expected = np.pad(a, numpy_widths(pad_width), mode=mode, **NUMPY_KW[mode])
    np.testing.assert_array_equal(got.asnumpy(), expected)


def test_pad_keeps_integer_dtype_and_fills_out():
    a = np.arange(6, dtype=np.int32).reshape(1, 1, 2, 3)
    got = mx.nd.array(a, dtype="int32").pad(mode="edge", pad_width=(0, 0, 0, 0, 1, 1, 1, 1))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got.asnumpy(), np.pad(a, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="edge"))
    out = mx.nd.full((1, 1, 4, 5), 9.0)
    mx.nd.Pad(mx.nd.array(a), mode="constant", pad_width=(0, 0, 0, 0, 1, 1, 1, 1), out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.pad(a, [(0, 0), (0, 0), (1, 1), (1, 1)]))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_grads(mode):
    check_grad(lambda x: mx.nd.pad(x, mode=mode, pad_width=(0, 0, 0, 0, 2, 1, 1, 2)), RNG.standard_normal((1, 2, 3, 4)))


def test_reflect_gradient_matches_mxnet():
    # Recorded from MXNet 1.9.1 with x of shape (2, 1, 3, 4), pad_width (0, 0, 0, 0, 1, 2, 2, 1)
    # and the head gradient arange(84) over the (2, 1, 6, 7) output. Channel 0 of sample 0.
    x = mx.nd.array(np.arange(24, dtype=np.float32).reshape(2, 1, 3, 4))
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.pad(x, mode="reflect", pad_width=(0, 0, 0, 0, 1, 2, 2, 1))
    y.backward(mx.nd.array(np.arange(84, dtype=np.float32).reshape(2, 1, 6, 7)))
    expected = [[46, 92, 146, 52], [48, 96, 156, 57], [23, 46, 73, 26]]
    np.testing.assert_array_equal(x.grad.asnumpy()[0, 0], expected)


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "reflect", "pad_width": (0, 0, 0, 0, 3, 0, 0, 0)}, "smaller than the axis"),
    ({"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 1)}, "needs 8"),
    ({"mode": "wrap", "pad_width": (0, 0, 0, 0, 1, 1, 1, 1)}, "invalid mode 'wrap'"),
])
def test_pad_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mx.nd.pad(mx.nd.ones((2, 1, 3, 4)), **kwargs)
