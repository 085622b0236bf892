"""Random operators: distribution statistics, seeding and asynchronous parameter errors."""
import numpy as np
import pytest

import mxnet as mx
from mxnet import nd
from mxnet.base import MXNetError

N = 100_000


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_statistics(dtype):
    mx.random.seed(1)
    x = nd.random.uniform(-2, 3, shape=(N,), dtype=dtype).asnumpy()
    assert x.dtype == np.dtype(dtype)
    assert x.min() >= -2
    assert x.max() < 3
    # Standard error of the mean is 5/sqrt(12 N) ~ 0.0046.
    assert abs(x.mean() - 0.5) < 0.03
    assert abs(x.std() - 5 / np.sqrt(12)) < 0.02


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_statistics(dtype):
    mx.random.seed(2)
    x = nd.random.normal(1.5, 2.0, shape=(N,), dtype=dtype).asnumpy()
    assert x.dtype == np.dtype(dtype)
    assert abs(x.mean() - 1.5) < 0.03
    assert abs(x.std() - 2.0) < 0.03


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_randint_range_and_dtype(dtype):
    mx.random.seed(3)
    x = nd.random.randint(-3, 7, shape=(N,), dtype=dtype).asnumpy()
    assert x.dtype == np.dtype(dtype)
    assert x.min() == -3
    assert x.max() == 6
    assert abs(x.mean() - 1.5) < 0.05


def test_same_seed_same_values():
    mx.random.seed(42)
    a = nd.random.uniform(shape=(5, 4)).asnumpy()
    b = nd.random.normal(shape=(7,)).asnumpy()
    mx.random.seed(42)
    np.testing.assert_array_equal(nd.random.uniform(shape=(5, 4)).asnumpy(), a)
    np.testing.assert_array_equal(nd.random.normal(shape=(7,)).asnumpy(), b)


def test_different_seeds_differ():
    mx.random.seed(1)
    a = nd.random.uniform(shape=(10,)).asnumpy()
    mx.random.seed(2)
    b = nd.random.uniform(shape=(10,)).asnumpy()
    assert not np.array_equal(a, b)


def test_consecutive_calls_differ():
    mx.random.seed(5)
    a = nd.random.normal(shape=(10,)).asnumpy()
    b = nd.random.normal(shape=(10,)).asnumpy()
    assert not np.array_equal(a, b)


def test_registered_aliases():
    mx.random.seed(7)
    a = nd.random_uniform(low=0, high=1, shape=(3,)).asnumpy()
    mx.random.seed(7)
    b = nd.uniform(low=0, high=1, shape=(3,)).asnumpy()
    np.testing.assert_array_equal(a, b)
    mx.random.seed(7)
    c = nd.random_normal(loc=0, scale=1, shape=(3,)).asnumpy()
    mx.random.seed(7)
    np.testing.assert_array_equal(nd.normal(loc=0, scale=1, shape=(3,)).asnumpy(), c)


def test_default_shape_is_one_element():
    assert nd.random.uniform().shape == (1,)


def test_shuffle_permutes_rows():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    mx.random.seed(11)
    out = nd.random.shuffle(nd.array(x)).asnumpy()
    assert sorted(out[:, 0].tolist()) == x[:, 0].tolist()
    np.testing.assert_array_equal(out[:, 1], out[:, 0] + 1)
    mx.random.seed(11)
    np.testing.assert_array_equal(nd.shuffle(nd.array(x)).asnumpy(), out)


def test_shuffle_int_dtype():
    x = nd.array(np.arange(50), dtype="int64")
    out = nd.random.shuffle(x)
    assert out.dtype == np.int64
    assert sorted(out.asnumpy().tolist()) == list(range(50))


def test_negative_scale_raises_at_wait_once():
    a = nd.random.normal(0, -1, (2, 2))
    b = a + 1
    with pytest.raises(MXNetError, match="scale parameter in gaussian has to be positive"):
        b.wait_to_read()
    b.wait_to_read()
    a.wait_to_read()
    nd.waitall()


def test_negative_scale_raises_at_waitall():
    a = nd.random.normal(0, -1, (2, 2))
    with pytest.raises(MXNetError, match="gaussian"):
        nd.waitall()
    a.asnumpy()


def test_uniform_low_above_high_raises_at_wait():
    a = nd.random.uniform(2, 1, (3,))
    with pytest.raises(MXNetError, match="_random_uniform"):
        a.wait_to_read()


def test_randint_empty_range_raises():
    a = nd.random.randint(5, 5, (3,))
    with pytest.raises(MXNetError, match="_random_randint"):
        a.wait_to_read()


def test_uniform_float32_stays_below_high():
    mx.random.seed(13)
    x = nd.random.uniform(0, 1e-7, shape=(N,), dtype="float32").asnumpy()
    assert x.min() >= 0
    assert x.max() < np.float32(1e-7)


def test_uniform_infinite_range_raises_at_wait():
    a = nd.random.uniform(-3e38, 3e38, (2,))
    with pytest.raises(MXNetError, match="not finite"):
        a.wait_to_read()


def test_unsupported_dtype_rejected():
    with pytest.raises(TypeError, match="_random_uniform"):
        nd.random.uniform(shape=(2,), dtype="int32")
