"""Zero-copy exchange with numpy (array interface, from_numpy) and DLPack (numpy, PyTorch)."""
import gc
import weakref

import numpy as np
import pytest

import mxnet as mx

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (import torch failed)")

DTYPES = ["bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"]


def sample(dtype, shape=(3, 4)):
    """Distinct values of ``dtype`` (alternating for bool)."""
    values = np.arange(int(np.prod(shape))).reshape(shape)
    if dtype == "bool":
        return values % 2 == 0
    return (values - 3).astype(dtype)


def delay_then_fill(x, value):
    """Queue enough work on ``x`` that a reader who does not wait would see old values, then
    fill it with ``value`` (the last queued write)."""
    for _ in range(20):
        x += 1
    x[:] = value


# ---- numpy: __array_interface__ and from_numpy ----------------------------------------------------

def test_asarray_shares_memory():
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]])
    view = np.asarray(a)
    a[0, 0] = 100.0
    view_after = np.asarray(a)
    assert view_after[0, 0] == 100.0
    assert view[0, 0] == 100.0


def test_asarray_write_is_seen_by_ndarray():
    a = mx.nd.zeros((2, 3))
    view = np.asarray(a)
    view[1, 2] = 7.0
    np.testing.assert_array_equal(a.asnumpy(), [[0, 0, 0], [0, 0, 7]])


def test_asarray_waits_for_pending_writes():
    a = mx.nd.zeros((256, 256))
    delay_then_fill(a, 3.0)
    view = np.asarray(a)
    assert np.all(view == 3.0)


def test_asarray_of_view_uses_offset():
    a = mx.nd.array(np.arange(12, dtype=np.float32).reshape(3, 4))
    row = a[1]
    np.testing.assert_array_equal(np.asarray(row), [4, 5, 6, 7])


def test_from_numpy_zero_copy_numpy_write():
    src = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = mx.nd.from_numpy(src, zero_copy=True)
    src[0, 1] = -1.0
    np.testing.assert_array_equal(x.asnumpy(), src)


@pytest.mark.parametrize("side", [4, 40])
def test_copy_between_wrappers_of_one_buffer(side):
    # Two zero-copy arrays over one numpy buffer: the copy must read every source element
    # before it overwrites any.
    base = np.arange(side * side, dtype=np.float32).reshape(side, side)
    expected = base.T.copy()
    a = mx.nd.from_numpy(base, zero_copy=True)
    b = mx.nd.from_numpy(base, zero_copy=True)
    b[:] = a.T
    np.testing.assert_array_equal(b.asnumpy(), expected)


def test_from_numpy_zero_copy_ndarray_write():
    src = np.zeros((2, 3), dtype=np.float64)
    x = mx.nd.from_numpy(src, zero_copy=True)
    x[:] = 5.0
    x.wait_to_read()
    np.testing.assert_array_equal(src, np.full((2, 3), 5.0))


def test_from_numpy_keeps_source_alive():
    x = mx.nd.from_numpy(np.arange(4, dtype=np.float32), zero_copy=True)
    gc.collect()
    np.testing.assert_array_equal(x.asnumpy(), [0, 1, 2, 3])


def test_from_numpy_copy_is_independent():
    src = np.arange(4, dtype=np.float32)
    x = mx.nd.from_numpy(src, zero_copy=False)
    src[0] = 99.0
    assert x.asnumpy()[0] == 0.0


def test_from_numpy_non_contiguous_rejected():
    src = np.arange(12, dtype=np.float32).reshape(3, 4)
    with pytest.raises(ValueError, match="from_numpy.*C-contiguous"):
        mx.nd.from_numpy(src.T, zero_copy=True)
    with pytest.raises(ValueError, match="from_numpy.*C-contiguous"):
        mx.nd.from_numpy(src[:, ::2], zero_copy=True)


def test_from_numpy_read_only_rejected():
    src = np.arange(4, dtype=np.float32)
    src.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        mx.nd.from_numpy(src, zero_copy=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_dtype_round_trip(dtype):
    src = sample(dtype)
    x = mx.nd.array(src, dtype=dtype)
    assert np.dtype(x.dtype) == np.dtype(dtype)
    out = x.asnumpy()
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, src)
    shared = np.asarray(x)
    assert shared.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(shared, src)


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_numpy_zero_copy_dtype(dtype):
    src = sample(dtype)
    x = mx.nd.from_numpy(src, zero_copy=True)
    assert np.dtype(x.dtype) == np.dtype(dtype)
    np.testing.assert_array_equal(x.asnumpy(), src)


def test_bfloat16_round_trip_via_astype():
    src = np.array([1.0, -2.5, 0.15625, 24576.0], dtype=np.float32)
    x = mx.nd.array(src).astype("bfloat16")
    back = x.astype("float32").asnumpy()
    # These values need at most 8 significant bits, so bfloat16 stores them exactly.
    np.testing.assert_array_equal(back, src)
    # Between two bfloat16 neighbours (spacing 2**-7 near 1) values round to nearest, ties to even.
    inputs = [1.0 + 2**-8 + 1e-4, 1.0 + 2**-8, 1.0 + 3 * 2**-8]
    rounded = mx.nd.array(inputs).astype("bfloat16").astype("float32").asnumpy()
    np.testing.assert_array_equal(rounded, np.array([1.0 + 2**-7, 1.0, 1.0 + 2**-6], dtype=np.float32))


def test_bfloat16_array_interface_rejected():
    x = mx.nd.array([1.0, 2.0]).astype("bfloat16")
    with pytest.raises(TypeError, match="bfloat16"):
        np.asarray(x)


# ---- DLPack with numpy ---------------------------------------------------------------------------

def test_dlpack_device():
    assert mx.nd.zeros((2,)).__dlpack_device__() == (1, 0)


def test_np_from_dlpack_shares_memory():
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]])
    view = np.from_dlpack(a)
    np.testing.assert_array_equal(view, [[1, 2, 3], [4, 5, 6]])
    a[1, 1] = -8.0
    a.wait_to_read()
    assert view[1, 1] == -8.0


NUMPY_2 = int(np.__version__.split(".")[0]) >= 2


@pytest.mark.skipif(not NUMPY_2, reason="numpy 1.x makes every array imported through DLPack read-only")
def test_np_from_dlpack_numpy_write_seen():
    a = mx.nd.zeros((2, 3))
    view = np.from_dlpack(a)
    assert view.flags.writeable
    view[0, 2] = 5.0
    np.testing.assert_array_equal(a.asnumpy(), [[0, 0, 5], [0, 0, 0]])


def test_np_from_dlpack_waits_for_pending_writes():
    a = mx.nd.zeros((256, 256))
    delay_then_fill(a, 2.0)
    view = np.from_dlpack(a)
    assert np.all(view == 2.0)


def test_np_from_dlpack_of_view():
    a = mx.nd.array(np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(np.from_dlpack(a[2]), [8, 9, 10, 11])


def test_np_from_dlpack_keeps_storage_alive():
    a = mx.nd.array([1.0, 2.0, 3.0])
    view = np.from_dlpack(a)
    del a
    gc.collect()
    np.testing.assert_array_equal(view, [1, 2, 3])


def test_nd_from_dlpack_numpy_write_seen():
    src = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = mx.nd.from_dlpack(src)
    src[1, 0] = 42.0
    np.testing.assert_array_equal(x.asnumpy(), [[0, 1, 2], [42, 4, 5]])


def test_nd_from_dlpack_ndarray_write_seen():
    src = np.zeros((2, 3), dtype=np.float64)
    x = mx.nd.from_dlpack(src)
    x[:] = 4.0
    x.wait_to_read()
    np.testing.assert_array_equal(src, np.full((2, 3), 4.0))
    assert x.dtype == np.float64


def test_nd_from_dlpack_keeps_producer_alive():
    x = mx.nd.from_dlpack(np.arange(5, dtype=np.int32))
    gc.collect()
    np.testing.assert_array_equal(x.asnumpy(), [0, 1, 2, 3, 4])


def test_nd_from_dlpack_releases_producer():
    for via_capsule in (False, True):
        src = np.arange(5, dtype=np.float32)
        ref = weakref.ref(src)
        x = mx.nd.from_dlpack(src.__dlpack__() if via_capsule else src)
        del src
        gc.collect()
        assert ref() is not None
        x += 1
        mx.nd.waitall()
        del x
        gc.collect()
        # The producer's deleter ran when the last NDArray sharing the memory went away.
        assert ref() is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_dlpack_dtype_round_trip(dtype):
    src = sample(dtype)
    x = mx.nd.from_dlpack(src)
    assert np.dtype(x.dtype) == np.dtype(dtype)
    np.testing.assert_array_equal(x.asnumpy(), src)
    back = np.from_dlpack(x)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, src)


def test_dlpack_zero_dim_and_empty():
    scalar = mx.nd.from_dlpack(np.array(3.5, dtype=np.float32))
    assert scalar.shape == ()
    assert scalar.asnumpy() == 3.5
    empty = mx.nd.from_dlpack(np.zeros((0, 3), dtype=np.float32))
    assert empty.shape == (0, 3)
    assert np.from_dlpack(mx.nd.zeros((0, 2))).shape == (0, 2)


def test_dlpack_non_contiguous_rejected():
    src = np.arange(12, dtype=np.float32).reshape(3, 4)
    with pytest.raises(ValueError, match="from_dlpack.*not C-contiguous.*copy=True"):
        mx.nd.from_dlpack(src.T)
    with pytest.raises(ValueError, match="from_dlpack.*not C-contiguous"):
        mx.nd.from_dlpack(src[:, 1::2])


def test_dlpack_non_contiguous_copy():
    src = np.arange(12, dtype=np.float32).reshape(3, 4)
    for view in (src.T, src[:, 1::2], src[::-1, ::-2]):
        x = mx.nd.from_dlpack(view, copy=True)
        np.testing.assert_array_equal(x.asnumpy(), view)
    x = mx.nd.from_dlpack(src.T, copy=True)
    src[0, 0] = 100.0
    assert x.asnumpy()[0, 0] == 0.0


def test_dlpack_size_one_dim_any_stride():
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    row = base[::2][:1]
    # Shape (1, 4) with a row stride of 8 elements: the stride of a size-1 dimension is never used.
    assert row.strides == (32, 4)
    x = mx.nd.from_dlpack(row)
    np.testing.assert_array_equal(x.asnumpy(), [[0, 1, 2, 3]])
    base[0, 0] = 50.0
    assert x.asnumpy()[0, 0] == 50.0
    with pytest.raises(ValueError, match="not C-contiguous"):
        mx.nd.from_dlpack(base.reshape(12, 1)[::2])


def test_to_dlpack_for_read_capsule():
    a = mx.nd.array([1.0, 2.0, 3.0])
    capsule = mx.nd.to_dlpack_for_read(a)
    assert "dltensor" in repr(capsule)
    b = mx.nd.from_dlpack(capsule)
    a[:] = 9.0
    np.testing.assert_array_equal(b.asnumpy(), [9, 9, 9])
    assert "used_dltensor" in repr(capsule)


def test_to_dlpack_for_write_capsule():
    a = mx.nd.zeros((2, 2))
    b = mx.nd.from_dlpack(a.to_dlpack_for_write())
    b[:] = 3.0
    np.testing.assert_array_equal(a.asnumpy(), np.full((2, 2), 3.0))


def test_dlpack_capsule_versions():
    a = mx.nd.ones((2,))
    assert "dltensor_versioned" in repr(a.__dlpack__(max_version=(1, 0)))
    assert '"dltensor"' in repr(a.__dlpack__())
    assert '"dltensor"' in repr(a.__dlpack__(max_version=(0, 8)))
    assert '"dltensor"' in repr(mx.nd.to_dlpack_for_write(a))


def test_unversioned_numpy_capsule_import():
    src = np.arange(4, dtype=np.int64)
    x = mx.nd.from_dlpack(src.__dlpack__())
    src[3] = -1
    np.testing.assert_array_equal(x.asnumpy(), [0, 1, 2, -1])


def test_versioned_own_capsule_returns_same_array():
    a = mx.nd.zeros((128, 128))
    b = mx.nd.from_dlpack(a.__dlpack__(max_version=(1, 0)))
    delay_then_fill(b, 4.0)
    assert np.all(a.asnumpy() == 4.0)


class ReadOnlyExport:
    """A producer that exports an NDArray as a versioned capsule flagged read-only."""

    def __init__(self, array):
        self.array = array

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        return mx._native.to_dlpack(self.array._h, False, True)

    def __dlpack_device__(self):
        return (1, 0)


@pytest.mark.skipif(not NUMPY_2, reason="numpy 1.x reads only unversioned DLPack capsules")
def test_read_only_flag_exported():
    a = mx.nd.array([1.0, 2.0])
    view = np.from_dlpack(ReadOnlyExport(a))
    assert not view.flags.writeable
    np.testing.assert_array_equal(view, [1.0, 2.0])


def test_read_only_producer_needs_copy():
    src = np.arange(3, dtype=np.float32)
    src.flags.writeable = False
    with pytest.raises(ValueError, match="from_dlpack.*read-only.*copy=True"):
        mx.nd.from_dlpack(src)
    x = mx.nd.from_dlpack(src, copy=True)
    np.testing.assert_array_equal(x.asnumpy(), [0, 1, 2])


def test_capsule_consumed_once():
    capsule = mx.nd.to_dlpack_for_read(mx.nd.ones((2,)))
    mx.nd.from_dlpack(capsule)
    with pytest.raises(ValueError, match="already consumed"):
        mx.nd.from_dlpack(capsule)


def test_unconsumed_capsule_is_freed():
    a = mx.nd.ones((3,))
    capsule = a.to_dlpack_for_read()
    del capsule
    gc.collect()
    np.testing.assert_array_equal(a.asnumpy(), [1, 1, 1])


def test_from_dlpack_bad_input():
    with pytest.raises(TypeError, match="from_dlpack.*list"):
        mx.nd.from_dlpack([1, 2, 3])
    with pytest.raises(TypeError, match="to_dlpack_for_read.*ndarray"):
        mx.nd.to_dlpack_for_read(np.zeros(2))


def test_dlpack_stream_argument():
    a = mx.nd.ones((2,))
    with pytest.raises(ValueError, match="stream"):
        a.__dlpack__(stream=5)
    np.testing.assert_array_equal(np.from_dlpack(a), [1, 1])


# ---- DLPack with PyTorch -------------------------------------------------------------------------

@needs_torch
def test_torch_from_ndarray_shares_memory():
    a = mx.nd.array([[1, 2], [3, 4]])
    t = torch.from_dlpack(a)
    assert t.dtype == torch.float32
    a[0, 1] = 20.0
    a.wait_to_read()
    assert t[0, 1].item() == 20.0
    t[1, 0] = -3.0
    np.testing.assert_array_equal(a.asnumpy(), [[1, 20], [-3, 4]])


@needs_torch
def test_ndarray_from_torch_shares_memory():
    t = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    x = mx.nd.from_dlpack(t)
    t[0, 0] = 50.0
    np.testing.assert_array_equal(x.asnumpy(), [[50, 1, 2], [3, 4, 5]])
    x[:] = 1.0
    x.wait_to_read()
    assert torch.equal(t, torch.ones(2, 3, dtype=torch.float64))


@needs_torch
def test_torch_non_contiguous_rejected():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    with pytest.raises(ValueError, match="not C-contiguous"):
        mx.nd.from_dlpack(t)
    np.testing.assert_array_equal(mx.nd.from_dlpack(t, copy=True).asnumpy(), t.numpy())


@needs_torch
@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"])
def test_torch_dtype_round_trip(dtype):
    src = sample(dtype)
    t = torch.from_numpy(src.copy())
    x = mx.nd.from_dlpack(t)
    np.testing.assert_array_equal(x.asnumpy(), src)
    back = torch.from_dlpack(x)
    np.testing.assert_array_equal(back.numpy(), src)


def test_own_capsule_keeps_engine_order():
    # Importing our own capsule returns the same array, so pending writes stay ordered.
    a = mx.nd.zeros((256, 256))
    b = mx.nd.from_dlpack(a.to_dlpack_for_read())
    delay_then_fill(b, 6.0)
    assert np.all(a.asnumpy() == 6.0)


def test_own_capsule_of_view():
    a = mx.nd.array(np.arange(12, dtype=np.float32).reshape(3, 4))
    row = mx.nd.from_dlpack(a[1].to_dlpack_for_read())
    np.testing.assert_array_equal(row.asnumpy(), [4, 5, 6, 7])
    copied = mx.nd.from_dlpack(a[1].to_dlpack_for_read(), copy=True)
    a[:] = 0.0
    np.testing.assert_array_equal(copied.asnumpy(), [4, 5, 6, 7])
    np.testing.assert_array_equal(row.asnumpy(), [0, 0, 0, 0])


# astype from float32 in MXNet 1.9.1, a C cast on x86-64: truncate into an int32 (an int64 for
# int64), NaN and out-of-range values become its minimum, then the low bits are kept.
CAST_INPUT = [300, -1, np.nan, 3e9, -3e9, 2.7, -2.7, np.inf, -129, 1e19]
CAST_MXNET = {
    "int8": [44, -1, 0, 0, 0, 2, -2, 0, 127, 0],
    "uint8": [44, 255, 0, 0, 0, 2, 254, 0, 127, 0],
    "int32": [300, -1, -2 ** 31, -2 ** 31, -2 ** 31, 2, -2, -2 ** 31, -129, -2 ** 31],
    "int64": [300, -1, -2 ** 63, 3000000000, -3000000000, 2, -2, -2 ** 63, -129, -2 ** 63],
}


@pytest.mark.parametrize("dtype", sorted(CAST_MXNET))
def test_float_to_integer_casts_match_mxnet(dtype):
    x = mx.nd.array(CAST_INPUT)
    np.testing.assert_array_equal(x.astype(dtype).asnumpy(), CAST_MXNET[dtype])
    filled = mx.nd.zeros((2,), dtype=dtype)
    filled[:] = 300.5
    np.testing.assert_array_equal(filled.asnumpy(), [CAST_MXNET[dtype][0]] * 2)


def test_nan_assignment_to_int32_is_the_minimum():
    # MXNet 1.9.1 writes -2147483648 on both the basic and the advanced indexing path.
    x = mx.nd.zeros((3,), dtype="int32")
    x[:] = np.nan
    np.testing.assert_array_equal(x.asnumpy(), [-2 ** 31] * 3)
    y = mx.nd.zeros((3,), dtype="int32")
    y[[0]] = np.nan
    np.testing.assert_array_equal(y.asnumpy(), [-2 ** 31, 0, 0])
