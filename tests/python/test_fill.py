"""Fills and copies on sizes that run across the kernel pool (64K elements and more): the
creation operators, assignment of a scalar, and copies between arrays."""
import numpy as np
import pytest

import mxnet as mx

LARGE = (300, 1001)  # 300,300 elements, not a multiple of the 16K-element task size


def dirty_pool(shape, dtype):
    """Free a buffer of the size of `shape` holding nonzero bytes, so that the next allocation
    of that size reuses memory that is not zero."""
    x = mx.nd.full(shape, 7, dtype=dtype)
    x.wait_to_read()
    del x


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int8", "uint8"])
def test_creation_fills_every_element(dtype):
    dirty_pool(LARGE, dtype)
    np.testing.assert_array_equal(mx.nd.zeros(LARGE, dtype=dtype).asnumpy(), np.zeros(LARGE, dtype))
    np.testing.assert_array_equal(mx.nd.ones(LARGE, dtype=dtype).asnumpy(), np.ones(LARGE, dtype))
    np.testing.assert_array_equal(mx.nd.full(LARGE, 3, dtype=dtype).asnumpy(), np.full(LARGE, 3, dtype))


def test_negative_zero_is_not_written_as_zero_bytes():
    x = mx.nd.full(LARGE, -0.0).asnumpy()
    assert np.signbit(x).all()


@pytest.mark.parametrize("dtype", ["float32", "int32", "uint8"])
@pytest.mark.parametrize("value", [0, 5])
def test_scalar_assignment_to_contiguous_views(dtype, value):
    rng = np.random.default_rng(0)
    expected = rng.integers(1, 100, size=LARGE).astype(dtype)
    x = mx.nd.array(expected, dtype=dtype)
    x[:] = value
    expected[:] = value
    x[100:250] = value + 1  # a contiguous view with an offset
    expected[100:250] = value + 1
    x[7] = value + 2
    expected[7] = value + 2
    np.testing.assert_array_equal(x.asnumpy(), expected)


def test_scalar_assignment_to_a_strided_view():
    expected = np.arange(np.prod(LARGE), dtype=np.float32).reshape(LARGE)
    x = mx.nd.array(expected)
    x[:, 3:900:2] = -1.5
    expected[:, 3:900:2] = -1.5
    np.testing.assert_array_equal(x.asnumpy(), expected)


def test_integer_scalars_wrap_as_in_mxnet():
    # Values from MXNet 1.9.1: a scalar outside an integer dtype keeps its low bits.
    np.testing.assert_array_equal(mx.nd.full(3, 300, dtype="int8").asnumpy(), [44, 44, 44])
    np.testing.assert_array_equal(mx.nd.full(3, -1, dtype="uint8").asnumpy(), [255, 255, 255])
    np.testing.assert_array_equal((mx.nd.array([1, 2, 3], dtype="uint8") + (-1)).asnumpy(), [0, 1, 2])
    np.testing.assert_array_equal((mx.nd.array([1, 2, 3], dtype="int8") * 200).asnumpy(), [-56, -112, 88])
    x = mx.nd.zeros(LARGE, dtype="int8")
    x[:] = 300
    assert (x.asnumpy() == 44).all()
    y = mx.nd.zeros(3, dtype="int8")
    y[[0, 1]] = 300  # the advanced-index path agrees with the basic one
    np.testing.assert_array_equal(y.asnumpy(), [44, 44, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8"])
def test_large_copies_between_arrays(dtype):
    # 300,301 elements: above the size at which a copy of separate arrays is split across the
    # pool, into a view that starts at an offset.
    src = np.random.default_rng(3).integers(0, 200, size=300_301).astype(dtype)
    dst = mx.nd.zeros((300_401,), dtype=dtype)
    mx.nd.array(src, dtype=dtype).copyto(dst[100:])
    got = dst.asnumpy()
    np.testing.assert_array_equal(got[100:], src)
    np.testing.assert_array_equal(got[:100], 0)


def test_full_with_an_array_like_value_broadcasts():
    # MXNet 1.9.1 broadcasts a list, numpy array or NDArray value to the shape.
    np.testing.assert_array_equal(mx.nd.full((2, 3), [1, 2, 3]).asnumpy(), np.broadcast_to([1, 2, 3], (2, 3)))
    as_int = mx.nd.full((2,), np.array([1.5, 2.5]), dtype="int32")
    assert as_int.dtype == np.int32
    np.testing.assert_array_equal(as_int.asnumpy(), [1, 2])
    out = mx.nd.zeros((2,))
    mx.nd.full((2,), mx.nd.array([4, 5]), out=out)
    np.testing.assert_array_equal(out.asnumpy(), [4, 5])
    with pytest.raises(ValueError, match="does not broadcast to shape"):
        mx.nd.full((2,), [1, 2, 3])
