"""DLPack exchange: share CPU memory with numpy, PyTorch and other DLPack libraries without copying.

MXNet 1.9 names: ``to_dlpack_for_read``, ``to_dlpack_for_write`` and ``from_dlpack``. NDArray also
implements ``__dlpack__`` and ``__dlpack_device__``, so ``np.from_dlpack(nd_array)`` and
``torch.from_dlpack(nd_array)`` work.
"""
from .. import _native
from .ndarray import NDArray, _wrap

# DLPack device type codes.
_DL_CPU = 1


def to_dlpack_for_read(data):
    """Return a DLPack capsule that shares ``data``'s memory, after waiting for pending writes.

    The consumer should only read the memory; use ``to_dlpack_for_write`` to write through it.
    """
    _check(data, "to_dlpack_for_read")
    return _native.to_dlpack(data._h, False)


def to_dlpack_for_write(data):
    """Return a DLPack capsule that shares ``data``'s memory, after waiting for every pending
    read and write, so that the consumer may write into it."""
    _check(data, "to_dlpack_for_write")
    return _native.to_dlpack(data._h, True)


def from_dlpack(dlpack, copy=False):
    """Wrap a DLPack tensor as an NDArray that shares its memory.

    ``dlpack`` is an object with ``__dlpack__`` (a numpy array, a torch tensor, an NDArray) or a
    "dltensor" / "dltensor_versioned" capsule, which is consumed. The tensor must be on the CPU,
    C-contiguous and writable; otherwise pass ``copy=True`` to get a copy instead of a shared view.
    """
    if hasattr(dlpack, "__dlpack__"):
        device = getattr(dlpack, "__dlpack_device__", None)
        if device is not None:
            dev_type, dev_id = device()
            if int(dev_type) != _DL_CPU:
                raise BufferError(
                    f"from_dlpack: the tensor is on DLPack device ({int(dev_type)}, {dev_id}); only CPU "
                    "tensors can be imported, move it to the CPU first")
        try:
            try:
                capsule = dlpack.__dlpack__(max_version=(1, 0))
            except TypeError:  # producers older than DLPack 1.0 take no max_version
                capsule = dlpack.__dlpack__()
        except BufferError as e:
            # numpy 1.x cannot export read-only arrays through DLPack at all.
            if copy and hasattr(dlpack, "__array_interface__"):
                from .creation import array
                return array(dlpack, dtype=dlpack.dtype)
            raise ValueError(
                f"from_dlpack: the producer cannot export this tensor ({e}); it is probably read-only, "
                "pass copy=True to import a copy") from e
    elif _native.is_capsule(dlpack):
        capsule = dlpack
    else:
        raise TypeError(
            f"from_dlpack: expected an object with __dlpack__ or a DLPack capsule, got {type(dlpack).__name__}")
    return _wrap(_native.from_dlpack(capsule, bool(copy)))


def _check(data, name):
    if not isinstance(data, NDArray):
        raise TypeError(f"{name}: expected an NDArray, got {type(data).__name__}")
