"""NDArray __getitem__ and __setitem__: basic slicing as views, integer and boolean array
indexing, assignment, and gradients through indexing under autograd."""
import numpy as np
import pytest

import mxnet as mx
from mxnet.base import MXNetError

RNG = np.random.default_rng(3)


def base_array(shape=(3, 4)):
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    return a, mx.nd.array(a)


# ---- reading ------------------------------------------------------------------------------

BASIC_KEYS = [
    1,
    -1,
    slice(1, 3),
    (slice(None), 1),
    (1, slice(None, None, -1)),
    (slice(None, None, -1), slice(1, None, 2)),
    Ellipsis,
    (Ellipsis, 2),
    (None, 1),
    (slice(None), None, slice(0, 2)),
    (2, -1),
]


@pytest.mark.parametrize("key", BASIC_KEYS, ids=repr)
def test_basic_key_matches_numpy(key):
    a, x = base_array()
    got = x[key]
    expected = a[key]
    # MXNet 1.x has no 0-d arrays: a full integer index gives shape (1,).
    expected_shape = expected.shape if np.ndim(expected) else (1,)
    assert got.shape == expected_shape
    np.testing.assert_array_equal(got.asnumpy().reshape(np.shape(expected)), expected)


def test_integer_index_drops_axis():
    _, x = base_array()
    assert x[1].shape == (4,)
    assert x[:, 1].shape == (3,)


def test_integer_index_of_vector_gives_shape_one():
    x = mx.nd.array([5, 6, 7])
    assert x[1].shape == (1,)
    assert x[1].asscalar() == 6


def test_index_out_of_range_errors():
    _, x = base_array()
    with pytest.raises(IndexError):
        x[3]
    with pytest.raises(IndexError):
        x[0, 0, 0]


def test_contiguous_keys_share_memory_with_base():
    # MXNet 1.9.1 returns a view for a key that selects one contiguous block, else a copy.
    _, x = base_array()
    row, rows, block = x[1], x[1:3], x[1:3, ::2]
    x[1, 2] = 100
    assert row[2].asscalar() == 100
    assert rows[0, 2].asscalar() == 100
    assert block[0, 1].asscalar() != 100


def test_write_through_contiguous_slice_only():
    a, x = base_array()
    x[1:3][:] = -1
    a[1:3] = -1
    np.testing.assert_array_equal(x.asnumpy(), a)
    copy = x[:, 1:3]
    copy[:] = -7
    np.testing.assert_array_equal(x.asnumpy(), a)
    assert (copy.asnumpy() == -7).all()


def test_integer_array_index():
    a, x = base_array()
    for key in ([0, 2], np.array([2, 0, 2]), mx.nd.array([1, 1])):
        expected = a[np.asarray(key.asnumpy() if isinstance(key, mx.nd.NDArray) else key).astype(int)]
        np.testing.assert_array_equal(x[key].asnumpy(), expected)


def test_integer_arrays_on_two_axes():
    a, x = base_array()
    rows, cols = np.array([0, 2]), np.array([1, 3])
    np.testing.assert_array_equal(x[rows, cols].asnumpy(), a[rows, cols])


def test_boolean_mask_index():
    a, x = base_array()
    mask = np.array([True, False, True])
    np.testing.assert_array_equal(x[mask].asnumpy(), a[mask])
    full_mask = a > 5
    np.testing.assert_array_equal(x[full_mask].asnumpy(), a[full_mask])


def test_float_array_index_with_fraction_errors():
    _, x = base_array()
    with pytest.raises(IndexError):
        x[np.array([0.5])]


# ---- assignment ---------------------------------------------------------------------------

def test_assign_row_from_row():
    a, x = base_array()
    x[0] = x[1]
    a[0] = a[1]
    np.testing.assert_array_equal(x.asnumpy(), a)


def test_assign_scalar_to_slice():
    a, x = base_array()
    x[1:3] = 5
    a[1:3] = 5
    np.testing.assert_array_equal(x.asnumpy(), a)


def test_assign_column_from_ndarray():
    a, x = base_array()
    x[:, 1] = mx.nd.array([7, 8, 9])
    a[:, 1] = [7, 8, 9]
    np.testing.assert_array_equal(x.asnumpy(), a)


def test_assign_broadcasts_value():
    a, x = base_array()
    x[:] = mx.nd.array([1, 2, 3, 4])
    a[:] = [1, 2, 3, 4]
    np.testing.assert_array_equal(x.asnumpy(), a)


def test_assign_numpy_value_to_reversed_slice():
    a, x = base_array()
    value = RNG.standard_normal((3, 2)).astype(np.float32)
    x[::-1, 1:3] = value
    a[::-1, 1:3] = value
    np.testing.assert_array_equal(x.asnumpy(), a)


def test_assign_wrong_shape_errors():
    _, x = base_array()
    with pytest.raises((ValueError, MXNetError)):
        x[0] = mx.nd.array([1, 2, 3])


def test_assign_with_integer_arrays():
    a, x = base_array()
    x[np.array([0, 2])] = 0
    a[np.array([0, 2])] = 0
    np.testing.assert_array_equal(x.asnumpy(), a)


def test_assign_with_boolean_mask():
    a, x = base_array()
    x[a > 6] = -2
    a[a > 6] = -2
    np.testing.assert_array_equal(x.asnumpy(), a)


# ---- autograd -----------------------------------------------------------------------------

def test_grad_through_basic_slicing():
    x = mx.nd.array(RNG.standard_normal((3, 4)), dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        y = x[::-1, 1:3] * 2 + x[1, 1:3]
        loss = y.sum()
    loss.backward()
    expected = np.zeros((3, 4))
    expected[:, 1:3] += 2
    expected[1, 1:3] += 3
    np.testing.assert_allclose(x.grad.asnumpy(), expected)


def test_grad_through_integer_array_index():
    x = mx.nd.array(RNG.standard_normal((3, 4)), dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        loss = x[np.array([0, 0, 2])].sum()
    loss.backward()
    expected = np.zeros((3, 4))
    expected[0] = 2
    expected[2] = 1
    np.testing.assert_allclose(x.grad.asnumpy(), expected)


def test_grad_through_vector_element():
    x = mx.nd.array([1.0, 2.0, 3.0], dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        loss = x[1] * x[2]
    loss.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), [0.0, 3.0, 2.0])


MIXED_KEYS = [
    (np.array([0, 2]), slice(1, 3)),
    (slice(None), [3, 0, 1]),
    (1, np.array([0, 0, 2])),
    (np.array([[0], [2]]), np.array([1, 3])),
    (np.array([True, False, True]), 2),
]


@pytest.mark.parametrize("key", MIXED_KEYS, ids=repr)
def test_mixed_advanced_key_matches_numpy(key):
    a, x = base_array()
    np.testing.assert_array_equal(x[key].asnumpy(), a[key])


@pytest.mark.parametrize("key", MIXED_KEYS, ids=repr)
def test_mixed_advanced_assignment_matches_numpy(key):
    a, x = base_array()
    x[key] = -5
    a[key] = -5
    np.testing.assert_array_equal(x.asnumpy(), a)


def test_advanced_assignment_into_strided_view():
    a, x = base_array()
    view = x[1:3]
    view[np.array([0, 1]), ::2] = 9
    a[1:3][np.array([0, 1]), ::2] = 9
    np.testing.assert_array_equal(x.asnumpy(), a)


def test_recorded_index_view_or_copy():
    # MXNet 1.9.1 records contiguous keys as views of the array.
    x = mx.nd.ones((2, 3))
    x.attach_grad()
    with mx.autograd.record():
        row = x[1]
        column = x[:, 1]
    x[:] = 0
    assert row.sum().asscalar() == 0
    assert column.sum().asscalar() == 2
    with mx.autograd.record():
        y = (x[1] * mx.nd.array([1, 2, 3])).sum() + (x[:, 0] * 5).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [[5, 0, 0], [6, 2, 3]])
