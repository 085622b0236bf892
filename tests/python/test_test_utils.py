"""Tests of mx.test_utils."""
import os

import numpy as np
import pytest

from mxnet import test_utils


def _has_core():
    try:
        from mxnet import ndarray as nd
    except ImportError:
        return False
    return hasattr(nd, 'array')


requires_core = pytest.mark.skipif(not _has_core(), reason='needs the native NDArray core')


def test_assert_almost_equal_passes_within_tolerance():
    a = np.array([1.0, 2.0, 3.0])
    test_utils.assert_almost_equal(a, a + 1e-7, rtol=1e-6, atol=0)


def test_assert_almost_equal_reports_worst_element():
    with pytest.raises(AssertionError) as info:
        test_utils.assert_almost_equal(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 3.1]),
                                       rtol=1e-3, atol=0, names=('got', 'want'))
    message = str(info.value)
    assert 'position (1,)' in message
    assert 'got=2.0' in message
    assert 'want=2.5' in message


def test_assert_almost_equal_dtype_defaults():
    base32 = np.ones(4, dtype=np.float32)
    # float32 defaults are rtol 1e-4, atol 1e-3.
    test_utils.assert_almost_equal(base32, base32 + np.float32(5e-4))
    with pytest.raises(AssertionError):
        test_utils.assert_almost_equal(base32, base32 + np.float32(5e-3))
    base64 = np.ones(4, dtype=np.float64)
    # float64 defaults are rtol 1e-5, atol 1e-20.
    with pytest.raises(AssertionError):
        test_utils.assert_almost_equal(base64, base64 + 5e-4)
    # The looser dtype of the two operands wins.
    test_utils.assert_almost_equal(base64, base32 + np.float32(5e-4))


def test_assert_almost_equal_dict_tolerance():
    a = np.ones(2, dtype=np.float64)
    test_utils.assert_almost_equal(a, a + 1e-3, rtol={np.dtype(np.float64): 1e-2})


def test_assert_almost_equal_nan_handling():
    a = np.array([1.0, np.nan])
    with pytest.raises(AssertionError):
        test_utils.assert_almost_equal(a, a.copy())
    test_utils.assert_almost_equal(a, a.copy(), equal_nan=True)


def test_assert_almost_equal_shapes():
    test_utils.assert_almost_equal(np.ones((2, 3)), np.ones(3))
    with pytest.raises(AssertionError, match='Shapes differ'):
        test_utils.assert_almost_equal(np.ones((2, 3)), np.ones(3), use_broadcast=False)


def test_assert_almost_equal_integers_exact():
    test_utils.assert_almost_equal(np.array([1, 2]), np.array([1, 2]))
    with pytest.raises(AssertionError):
        test_utils.assert_almost_equal(np.array([1, 2]), np.array([1, 3]))


def test_almost_equal_and_same():
    assert test_utils.almost_equal(np.array([1.0]), np.array([1.0 + 1e-9]))
    assert not test_utils.almost_equal(np.array([1.0]), np.array([1.001]))
    assert not test_utils.almost_equal(np.ones(2), np.ones((2, 2)), use_broadcast=False)
    assert test_utils.same(np.arange(3), np.arange(3))
    assert not test_utils.same(np.arange(3), np.arange(1, 4))
    assert not test_utils.same(np.zeros(2), np.zeros(3))


def test_random_arrays():
    single = test_utils.random_arrays((2, 3))
    assert single.shape == (2, 3)
    assert single.dtype == np.float32
    first, scalar = test_utils.random_arrays((4,), ())
    assert first.shape == (4,)
    assert scalar.shape == ()


def test_rand_shapes():
    np.random.seed(5)
    for _ in range(50):
        shape = test_utils.rand_shape_nd(4, dim=3)
        assert len(shape) == 4
        assert all(1 <= s <= 3 for s in shape)
        assert len(test_utils.rand_shape_2d(2, 5)) == 2
        assert len(test_utils.rand_shape_3d()) == 3
    zero_sizes = [test_utils.rand_shape_nd(3, dim=1, allow_zero_size=True) for _ in range(50)]
    assert any(0 in shape for shape in zero_sizes)


def test_numeric_grad_matches_analytic():
    x = np.array([0.5, -1.0, 2.0])
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    grads = test_utils.numeric_grad(lambda a, b: np.sum(a ** 3) * np.sum(b), [x, y])
    np.testing.assert_allclose(grads[0], 3 * x ** 2 * y.sum(), rtol=1e-6)
    np.testing.assert_allclose(grads[1], np.full_like(y, np.sum(x ** 3)), rtol=1e-6)


def test_assert_exception():
    test_utils.assert_exception(int, ValueError, 'x')
    with pytest.raises(AssertionError, match='did not raise ValueError'):
        test_utils.assert_exception(int, ValueError, '3')
    with pytest.raises(TypeError):
        test_utils.assert_exception(int, ValueError, [])


def test_retry_reruns_failing_test():
    calls = []

    @test_utils.retry(3)
    def flaky():
        calls.append(1)
        assert len(calls) == 3
        return 'ok'

    assert flaky() == 'ok'
    assert len(calls) == 3

    @test_utils.retry(2)
    def always_fails():
        calls.append(1)
        raise AssertionError('always')

    with pytest.raises(AssertionError, match='always'):
        always_fails()
    assert len(calls) == 5


def test_get_mnist_from_bundle(tmp_path):
    with pytest.warns(UserWarning, match='train-images-idx3-ubyte'):
        mnist = test_utils.get_mnist(path=str(tmp_path))
    assert mnist['test_data'].shape == (10000, 1, 28, 28)
    assert mnist['test_data'].dtype == np.float32
    assert mnist['test_data'].max() == 1.0
    assert mnist['test_data'].min() == 0.0
    assert mnist['test_label'].dtype == np.int8
    assert mnist['test_label'][:4].tolist() == [7, 2, 1, 0]
    assert mnist['train_data'].shape == (10000, 1, 28, 28)


def test_environment_set_and_restore():
    name = 'MXNET_TEST_UTILS_PROBE'
    os.environ.pop(name, None)
    with test_utils.environment(name, '1'):
        assert os.environ[name] == '1'
    assert name not in os.environ

    os.environ[name] = 'old'
    try:
        with test_utils.environment({name: None, name + '_2': 3}):
            assert name not in os.environ
            assert os.environ[name + '_2'] == '3'
        assert os.environ[name] == 'old'
        assert name + '_2' not in os.environ
    finally:
        os.environ.pop(name, None)


def test_environment_restores_after_exception():
    name = 'MXNET_TEST_UTILS_PROBE'
    os.environ.pop(name, None)
    with pytest.raises(RuntimeError):
        with test_utils.environment(name, 'x'):
            raise RuntimeError('boom')
    assert name not in os.environ


def test_environment_bad_arguments():
    with pytest.raises(ValueError, match='expected'):
        with test_utils.environment('A', 'B', 'C'):
            pass


@requires_core
def test_assert_almost_equal_ndarrays():
    import mxnet as mx
    test_utils.assert_almost_equal(mx.nd.array([1, 2]), np.array([1, 2], dtype=np.float32))
    with pytest.raises(AssertionError):
        test_utils.assert_almost_equal(mx.nd.array([1, 2]), mx.nd.array([1, 3]))


@requires_core
def test_rand_ndarray():
    import mxnet as mx
    arr = test_utils.rand_ndarray((3, 4), dtype='float64')
    assert isinstance(arr, mx.nd.NDArray)
    assert arr.shape == (3, 4)
    assert arr.dtype == np.float64
    with pytest.raises(NotImplementedError, match='sparse'):
        test_utils.rand_ndarray((3, 4), stype='csr', density=0.5)


@requires_core
def test_default_context_round_trip():
    import mxnet as mx
    original = test_utils.default_context()
    try:
        test_utils.set_default_context(mx.cpu(0))
        assert test_utils.default_context() == mx.cpu(0)
    finally:
        test_utils.set_default_context(original)


@requires_core
def test_numeric_gradient_correct():
    import mxnet as mx
    x = np.random.RandomState(0).rand(3, 4) + 0.5
    test_utils.check_numeric_gradient(lambda a: a * a * a + 2 * a, [x])
    y = np.random.RandomState(1).rand(1, 4) + 0.5
    test_utils.check_numeric_gradient(lambda a, b: mx.nd.broadcast_mul(a, b) * b + a,
                                      {'a': x, 'b': y})
    test_utils.check_numeric_gradient(lambda a, b: a * b, [x, x + 1], grad_nodes=[1])


@requires_core
def test_numeric_gradient_detects_error():
    x = np.random.RandomState(1).rand(5) + 1.0
    # detach() hides one factor from autograd, so its gradient is x instead of 2x.
    with pytest.raises(AssertionError):
        test_utils.check_numeric_gradient(lambda a: a * a.detach(), [x])


def test_numeric_gradient_non_callable():
    with pytest.raises(TypeError, match='callable'):
        test_utils.check_numeric_gradient('not a function', [np.zeros(2)])
