"""Helpers for tests of MXNet code: comparisons, random inputs, numeric gradients.

The names and defaults follow ``mxnet.test_utils`` of Apache MXNet 1.9.1, so existing test
suites run unchanged.
"""
import contextlib
import functools
import numbers
import os

import numpy as np

__all__ = ['default_context', 'set_default_context', 'default_dtype', 'default_rtols',
           'default_atols', 'get_tolerance', 'get_tols', 'almost_equal', 'assert_almost_equal',
           'same', 'random_arrays', 'rand_shape_2d', 'rand_shape_3d', 'rand_shape_nd',
           'rand_ndarray', 'numeric_grad', 'check_numeric_gradient', 'assert_exception',
           'retry', 'environment', 'get_mnist']


def default_context():
    """Return the context that tests run on (the current default context)."""
    from . import context
    return context.current_context()


def set_default_context(ctx):
    """Make ``ctx`` the default context of this thread, as ``with ctx:`` does."""
    from . import context
    # MXNet 1.9.1 keeps the thread-local default in Context._default_ctx.
    storage = getattr(context.Context, '_default_ctx', None)
    if storage is None:
        storage = context.Context._default
    storage.value = ctx


def default_dtype():
    """Return the dtype of random test data: float32."""
    return np.float32


def default_rtols():
    """Return the default relative tolerance of each dtype."""
    return {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4,
            np.dtype(np.float64): 1e-5, np.dtype(np.bool_): 0, np.dtype(np.int8): 0,
            np.dtype(np.uint8): 0, np.dtype(np.int32): 0, np.dtype(np.uint32): 0,
            np.dtype(np.int64): 0, np.dtype(np.uint64): 0}


def default_atols():
    """Return the default absolute tolerance of each dtype."""
    return {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3,
            np.dtype(np.float64): 1e-20, np.dtype(np.bool_): 0, np.dtype(np.int8): 0,
            np.dtype(np.uint8): 0, np.dtype(np.int32): 0, np.dtype(np.uint32): 0,
            np.dtype(np.int64): 0, np.dtype(np.uint64): 0}


def _as_numpy(value):
    if hasattr(value, 'asnumpy'):
        return value.asnumpy()
    return np.asarray(value)


def _effective_dtype(value):
    if hasattr(value, 'dtype'):
        dtype = np.dtype(value.dtype)
    else:
        dtype = np.asarray(value).dtype
    if dtype.names == ('bfloat16',) or str(getattr(value, 'dtype', '')) == 'bfloat16':
        # bfloat16 has a 7-bit mantissa, so float16 tolerances are the closest fit.
        return np.dtype(np.float16)
    return dtype


def get_tolerance(value, tol, default_tol):
    """Return ``tol`` if it is a number, otherwise the tolerance for the dtype of ``value``
    from the dict ``tol`` or else from ``default_tol``."""
    if isinstance(tol, numbers.Number):
        return tol
    dtype = _effective_dtype(value)
    tol = {} if tol is None else tol
    if dtype in tol:
        return tol[dtype]
    return default_tol.get(dtype, 0)


def get_tols(x, y, rtol, atol):
    """Return ``(rtol, atol)`` for comparing ``x`` and ``y``: the looser of their dtypes."""
    if isinstance(x, numbers.Number):
        x = np.array(x)
    if isinstance(y, numbers.Number):
        y = np.array(y)
    rtol = max(get_tolerance(x, rtol, default_rtols()), get_tolerance(y, rtol, default_rtols()))
    atol = max(get_tolerance(x, atol, default_atols()), get_tolerance(y, atol, default_atols()))
    return rtol, atol


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    """Return True when ``|a - b| <= atol + rtol * |b|`` everywhere (``numpy.allclose``).

    The default tolerances are rtol 1e-5 and atol 1e-20.
    """
    a = _as_numpy(a)
    b = _as_numpy(b)
    if not use_broadcast and a.shape != b.shape:
        return False
    rtol = 1e-5 if rtol is None else rtol
    atol = 1e-20 if atol is None else atol
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def _find_max_violation(a, b, rtol, atol):
    diff = np.abs(a - b)
    tolerance = atol + rtol * np.abs(b)
    violation = np.where(np.isnan(diff), np.inf, diff / (tolerance + 1e-20))
    index = np.unravel_index(np.argmax(violation), violation.shape)
    return tuple(int(i) for i in index), float(np.max(violation))


def assert_almost_equal(a, b, rtol=None, atol=None, names=('a', 'b'), equal_nan=False,
                        use_broadcast=True, mismatches=(10, 10)):
    """Raise AssertionError unless ``a`` and ``b`` are equal within tolerances.

    Parameters
    ----------
    a, b : NDArray, numpy.ndarray or number
        Values to compare. ``b`` is the reference of the relative tolerance.
    rtol, atol : float, dict of dtype to float, or None
        None uses the defaults for the dtypes (see ``default_rtols``/``default_atols``).
    names : tuple of str
        Names of ``a`` and ``b`` in the error message.
    equal_nan : bool
        Treat nan in the same positions as equal.
    use_broadcast : bool
        Allow shapes that broadcast against each other; False requires equal shapes.
    mismatches : tuple of int
        Accepted for compatibility with MXNet; the message shows the worst element.
    """
    rtol, atol = get_tols(a, b, rtol, atol)
    a_np = _as_numpy(a)
    b_np = _as_numpy(b)
    if not use_broadcast and a_np.shape != b_np.shape:
        raise AssertionError('Shapes differ: %s %s vs %s %s'
                             % (names[0], a_np.shape, names[1], b_np.shape))
    if np.dtype(a_np.dtype).names == ('bfloat16',):
        raise TypeError('assert_almost_equal: convert bfloat16 arrays with astype("float32") '
                        'before comparing')
    if almost_equal(a_np, b_np, rtol, atol, equal_nan=equal_nan):
        return

    a_cmp, b_cmp = np.broadcast_arrays(a_np.astype(np.float64), b_np.astype(np.float64))
    index, violation = _find_max_violation(a_cmp, b_cmp, rtol, atol)
    raise AssertionError(
        'Items are not equal:\nError %f exceeds tolerance rtol=%e, atol=%e at position %s: '
        '%s=%r, %s=%r\n %s: %s\n %s: %s'
        % (violation, rtol, atol, index, names[0], a_cmp[index].item(), names[1],
           b_cmp[index].item(),
           names[0], np.array2string(a_np, threshold=20), names[1],
           np.array2string(b_np, threshold=20)))


def same(a, b):
    """Return True when ``a`` and ``b`` have equal shapes and equal elements."""
    return bool(np.array_equal(_as_numpy(a), _as_numpy(b)))


def random_arrays(*shapes):
    """Return standard-normal float32 NumPy arrays of the given shapes (one array, not a
    list, when a single shape is given). An empty shape gives a 0-d array."""
    arrays = [np.array(np.random.randn(), dtype=default_dtype()) if len(shape) == 0
              else np.random.randn(*shape).astype(default_dtype()) for shape in shapes]
    if len(arrays) == 1:
        return arrays[0]
    return arrays


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False):
    """Return a random 2-D shape with sizes up to ``dim0`` and ``dim1``."""
    low = 0 if allow_zero_size else 1
    return np.random.randint(low, dim0 + 1), np.random.randint(low, dim1 + 1)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False):
    """Return a random 3-D shape with sizes up to ``dim0``, ``dim1`` and ``dim2``."""
    low = 0 if allow_zero_size else 1
    return (np.random.randint(low, dim0 + 1), np.random.randint(low, dim1 + 1),
            np.random.randint(low, dim2 + 1))


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False):
    """Return a random shape of ``num_dim`` dims, each between 1 (or 0) and ``dim``."""
    low = 0 if allow_zero_size else 1
    return tuple(int(size) for size in np.random.randint(low, dim + 1, size=num_dim))


def rand_ndarray(shape, stype='default', density=None, dtype=None, modifier_func=None,
                 shuffle_csr_indices=False, distribution=None, ctx=None):
    """Return an NDArray of standard-normal values with the given shape and dtype.

    Only ``stype='default'`` (dense) is supported; ``density`` and the other sparse options
    are accepted for compatibility and must stay at their defaults.
    """
    from . import ndarray as nd
    if stype != 'default':
        raise NotImplementedError('rand_ndarray: stype %r is not supported because this '
                                  'package has no sparse NDArrays; use stype="default"'
                                  % (stype,))
    values = random_arrays(tuple(shape))
    if modifier_func is not None:
        values = modifier_func(values)
    ctx = ctx if ctx is not None else default_context()
    return nd.array(values, dtype=dtype if dtype is not None else default_dtype(), ctx=ctx)


def numeric_grad(fn, inputs, eps=1e-4, dtype=np.float64):
    """Return the central finite-difference gradients of ``sum(fn(*inputs))``.

    ``fn`` maps NumPy arrays to a NumPy array or number. Each element of each input is
    moved by ``+eps/2`` and ``-eps/2`` in turn.
    """
    inputs = [np.array(x, dtype=dtype) for x in inputs]
    grads = [np.zeros_like(x) for x in inputs]
    for x, grad in zip(inputs, grads):
        flat_x = x.reshape(-1)
        flat_grad = grad.reshape(-1)
        for i in range(flat_x.size):
            original = flat_x[i]
            flat_x[i] = original + eps / 2
            plus = np.sum(np.asarray(fn(*inputs), dtype=np.float64))
            flat_x[i] = original - eps / 2
            minus = np.sum(np.asarray(fn(*inputs), dtype=np.float64))
            flat_x[i] = original
            flat_grad[i] = (plus - minus) / eps
    return grads


def check_numeric_gradient(sym, location, aux_states=None, numeric_eps=1e-3, rtol=1e-2,
                           atol=None, grad_nodes=None, use_forward_train=True, ctx=None,
                           grad_stype_dict=None, dtype=default_dtype()):
    """Compare autograd gradients with central finite differences.

    Parameters
    ----------
    sym : callable
        Function of NDArrays that returns an NDArray. The check projects the output onto
        a fixed random direction ``p`` and differentiates ``sum(p * sym(*inputs))``.
        NOTE: MXNet also accepts a Symbol here; that form needs the symbolic API.
    location : list of arrays or dict of str to array
        Points at which the gradients are checked. A dict is passed to ``sym`` as keyword
        arguments.
    numeric_eps : float
        Finite-difference step.
    rtol, atol : float
        Tolerances of the comparison; atol defaults to 1e-3 for float32 inputs.
    grad_nodes : list of int or str, or None
        Inputs whose gradients are checked (positions, or keys for a dict location);
        None checks all.
    dtype : dtype
        Dtype of the inputs given to ``sym``.

    The arguments ``aux_states``, ``use_forward_train`` and ``grad_stype_dict`` are
    accepted for compatibility and must stay at their defaults.
    """
    if not callable(sym) or hasattr(sym, 'list_arguments'):
        raise TypeError('check_numeric_gradient: sym must be a Python callable of NDArrays; '
                        'Symbol input needs the symbolic API, which is not available yet')
    if aux_states is not None or grad_stype_dict is not None:
        raise ValueError('check_numeric_gradient: aux_states and grad_stype_dict are only '
                         'meaningful for Symbols; pass None')

    from . import autograd
    from . import ndarray as nd
    ctx = ctx if ctx is not None else default_context()

    if isinstance(location, dict):
        keys = list(location.keys())
        values = [_as_numpy(location[key]) for key in keys]
    else:
        keys = None
        values = [_as_numpy(value) for value in location]
    values = [np.asarray(value, dtype=dtype) for value in values]

    def call(arrays):
        if keys is None:
            return sym(*arrays)
        return sym(**dict(zip(keys, arrays)))

    # Output projection: a fixed random direction so every output element contributes.
    probe = _as_numpy(call([nd.array(value, dtype=dtype, ctx=ctx) for value in values]))
    projection = np.random.RandomState(128).normal(0, 1, size=probe.shape).astype(dtype)

    inputs = [nd.array(value, dtype=dtype, ctx=ctx) for value in values]
    for array in inputs:
        array.attach_grad()
    with autograd.record(train_mode=use_forward_train):
        output = call(inputs)
    output.backward(nd.array(projection, dtype=output.dtype, ctx=ctx))
    symbolic = [array.grad.asnumpy() for array in inputs]

    def projected_output(*arrays):
        ndarrays = [nd.array(a, dtype=dtype, ctx=ctx) for a in arrays]
        with autograd.train_mode() if use_forward_train else autograd.predict_mode():
            result = _as_numpy(call(ndarrays)).astype(np.float64)
        return result * projection

    numeric = numeric_grad(projected_output, values, eps=numeric_eps, dtype=np.float64)

    if atol is None:
        atol = 1e-3 if np.dtype(dtype) != np.float64 else 1e-5
    names = keys if keys is not None else list(range(len(values)))
    checked = names if grad_nodes is None else grad_nodes
    for position, name in enumerate(names):
        if name not in checked:
            continue
        assert_almost_equal(numeric[position], symbolic[position], rtol=rtol, atol=atol,
                            names=('NUMERICAL_%s' % name, 'BACKWARD_%s' % name))


def assert_exception(f, exception_type, *args, **kwargs):
    """Call ``f(*args, **kwargs)`` and raise AssertionError unless it raises
    ``exception_type``."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError('%s did not raise %s' % (getattr(f, '__name__', f),
                                                  exception_type.__name__))


def retry(n):
    """Return a decorator that reruns a test up to ``n`` times while it raises
    AssertionError, for checks on random data."""
    if n < 1:
        raise ValueError('retry: n must be at least 1, got %r' % (n,))

    def decorate(test):
        @functools.wraps(test)
        def wrapper(*args, **kwargs):
            for attempt in range(n):
                try:
                    return test(*args, **kwargs)
                except AssertionError:
                    if attempt == n - 1:
                        raise
        return wrapper
    return decorate


@contextlib.contextmanager
def environment(*args):
    """Set environment variables inside a ``with`` block and restore them afterwards.

    Called as ``environment(name, value)`` or ``environment({name: value, ...})``. A value
    of None removes the variable inside the block.
    """
    if len(args) == 2:
        variables = {args[0]: args[1]}
    elif len(args) == 1 and isinstance(args[0], dict):
        variables = args[0]
    else:
        raise ValueError('environment: expected (name, value) or a dict of name to value, got '
                         '%r' % (args,))

    saved = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            _set_env(name, value)
        yield
    finally:
        for name, value in saved.items():
            _set_env(name, value)


def _set_env(name, value):
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


def get_mnist(path='data'):
    """Return MNIST as NumPy arrays, read from the IDX files in ``path`` (never downloaded).

    Returns a dict with 'train_data' and 'test_data' (float32, shape (N, 1, 28, 28), scaled
    to [0, 1]) and 'train_label' and 'test_label' (int8). Without the training files in
    ``path`` the bundled 10,000-image test split is used for training too, with a warning.
    """
    from .gluon.data.vision import datasets

    result = {}
    for split, train in (('train', True), ('test', False)):
        dataset = datasets.MNIST(root=path, train=train)
        images = dataset._images.reshape(-1, 1, 28, 28).astype(np.float32) / 255
        result[split + '_data'] = images
        result[split + '_label'] = dataset._labels.astype(np.int8)
    return result
