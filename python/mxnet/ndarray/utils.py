"""Save and load NDArrays in MXNet's binary format (``mx.nd.save`` files and ``.params``).

Layout (all integers little-endian, no padding), as written by Apache MXNet 1.9.1:

    uint64 0x112, uint64 0 (reserved), uint64 N, N array records,
    uint64 K (0 for a list, N for a dict), K x (uint64 len, UTF-8 bytes)

Each dense record written here is
``uint32 magic, int32 stype=0, int32 ndim, ndim x int64 dims, int32 dev_type, int32 dev_id,
int32 type_flag, raw C-order data``. The magic is 0xF993FAC9 (V2), or 0xF993FACA (V3,
NumPy shape semantics) for 0-d and zero-size arrays, because a V2 reader treats ndim 0 as
"no array" and a zero dim as "unknown".

Reading also accepts V1 records (0xF993FAC8, no stype field), V0 records (no magic, the
first uint32 is ndim and dims are uint32) and V3 records. Sparse records are rejected.

The codec works on NumPy arrays (``encode_arrays``/``decode_arrays``) so it does not need
the native core. ``save``/``load``/``load_frombuffer`` convert to and from NDArray.
"""
import struct

import numpy as np

__all__ = ['save', 'load', 'load_frombuffer', 'encode_arrays', 'decode_arrays']

LIST_MAGIC = 0x112
V0_MAX_NDIM = 32
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA

STYPE_DEFAULT = 0
_STYPE_NAMES = {-1: 'undefined', 1: 'row_sparse', 2: 'csr'}

# Context device types in the record. Only cpu(0) is written.
DEV_TYPE_CPU = 1

# mshadow type flags. bfloat16 (flag 12) has no NumPy dtype: its values travel as the
# uint16 bit patterns under the dtype name 'bfloat16'.
_FLAG_TO_DTYPE = {
    0: 'float32', 1: 'float64', 2: 'float16', 3: 'uint8', 4: 'int32', 5: 'int8', 6: 'int64',
    7: 'bool', 8: 'int16', 9: 'uint16', 10: 'uint32', 11: 'uint64', 12: 'bfloat16',
}
_DTYPE_TO_FLAG = {name: flag for flag, name in _FLAG_TO_DTYPE.items()}

# Smallest possible encoded record (V2 with ndim 0: magic, stype, ndim), used to bound
# the array count before anything is allocated.
_MIN_RECORD_BYTES = 12


def _error(message):
    # Imported here so that this module loads without the native core.
    from ..base import MXNetError
    return MXNetError(message)


def _storage_dtype(dtype_name):
    """NumPy dtype that stores the raw bytes of ``dtype_name`` (little-endian)."""
    if dtype_name == 'bfloat16':
        return np.dtype('<u2')
    return np.dtype(dtype_name).newbyteorder('<')


def dtype_name_of(dtype):
    """Return the MXNet dtype name ('float32', 'bfloat16', ...) of a dtype-like value."""
    if isinstance(dtype, str) and dtype == 'bfloat16':
        return 'bfloat16'
    if isinstance(dtype, np.dtype) and dtype.names == ('bfloat16',):
        # MXNet 1.9.1 exposes bfloat16 as the struct dtype [('bfloat16', '<u2')].
        return 'bfloat16'
    if getattr(dtype, '__name__', None) == 'bfloat16' or str(dtype) == 'bfloat16':
        return 'bfloat16'
    name = np.dtype(dtype).name
    if name not in _DTYPE_TO_FLAG:
        raise _error('save: dtype %s has no MXNet type flag; supported dtypes are %s'
                     % (name, ', '.join(sorted(_DTYPE_TO_FLAG))))
    return name


# ----------------------------------------------------------------------------------------
# Encoding
# ----------------------------------------------------------------------------------------

def _encode_record(array, dtype_name):
    flag = _DTYPE_TO_FLAG[dtype_name]
    # asarray, not ascontiguousarray, because the latter turns 0-d arrays into 1-d.
    array = np.asarray(array, dtype=_storage_dtype(dtype_name), order='C')
    use_np_shape = array.ndim == 0 or 0 in array.shape
    magic = V3_MAGIC if use_np_shape else V2_MAGIC

    parts = [struct.pack('<Iii', magic, STYPE_DEFAULT, array.ndim)]
    parts.append(struct.pack('<%dq' % array.ndim, *array.shape))
    parts.append(struct.pack('<iii', DEV_TYPE_CPU, 0, flag))
    parts.append(array.tobytes(order='C'))
    return b''.join(parts)


def encode_arrays(arrays, names=None):
    """Encode NumPy arrays into the bytes of an MXNet NDArray file.

    Parameters
    ----------
    arrays : list of (numpy.ndarray, str)
        Each array with its MXNet dtype name. For 'bfloat16' the array holds the uint16
        bit patterns.
    names : list of str or None
        None writes the list form, otherwise one name per array (the dict form).
    """
    if names is not None and len(names) != len(arrays):
        raise _error('save: got %d names for %d arrays' % (len(names), len(arrays)))

    parts = [struct.pack('<QQQ', LIST_MAGIC, 0, len(arrays))]
    for array, dtype_name in arrays:
        parts.append(_encode_record(array, dtype_name))

    names = names or []
    parts.append(struct.pack('<Q', len(names)))
    for name in names:
        encoded = name.encode('utf-8')
        parts.append(struct.pack('<Q', len(encoded)))
        parts.append(encoded)
    return b''.join(parts)


# ----------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------

class _Reader(object):
    """Cursor over a bytes buffer. Every read checks the remaining length first."""

    def __init__(self, buf, source):
        self.buf = memoryview(buf).cast('B')
        self.pos = 0
        self.source = source

    def remaining(self):
        return len(self.buf) - self.pos

    def take(self, nbytes, description):
        if nbytes > self.remaining():
            raise _error('%s: file is truncated: %s needs %d bytes at offset %d but only %d '
                         'remain' % (self.source, description, nbytes, self.pos, self.remaining()))
        start = self.pos
        self.pos += nbytes
        return self.buf[start:self.pos]

    def unpack(self, fmt, description):
        size = struct.calcsize(fmt)
        values = struct.unpack(fmt, self.take(size, description))
        return values if len(values) > 1 else values[0]


def _read_int64_shape(reader, description):
    ndim = reader.unpack('<i', description + ' ndim')
    if ndim < 0:
        return None
    if ndim * 8 > reader.remaining():
        raise _error('%s: corrupt record: %s ndim %d needs %d bytes but only %d remain'
                     % (reader.source, description, ndim, ndim * 8, reader.remaining()))
    return tuple(struct.unpack('<%dq' % ndim, reader.take(ndim * 8, description + ' dims')))


def _read_v0_shape(reader, ndim):
    if ndim > V0_MAX_NDIM:
        raise _error('%s: unknown record: the first value 0x%08X at offset %d is neither an '
                     'NDArray magic number nor a plausible legacy ndim (at most %d)'
                     % (reader.source, ndim, reader.pos - 4, V0_MAX_NDIM))
    return tuple(struct.unpack('<%dI' % ndim, reader.take(ndim * 4, 'legacy dims')))


def _read_payload(reader, shape, offset, np_shape):
    """Read the context, type flag and data that follow the shape of a dense record."""
    reader.unpack('<ii', 'context')
    type_flag = reader.unpack('<i', 'type flag')
    if type_flag not in _FLAG_TO_DTYPE:
        raise _error('%s: corrupt record: unknown dtype flag %d at offset %d'
                     % (reader.source, type_flag, reader.pos - 4))
    dtype_name = _FLAG_TO_DTYPE[type_flag]

    if not np_shape and 0 in shape:
        # Before NumPy shape semantics a zero dim meant "unknown", so no data follows.
        raise _error('%s: record at offset %d has shape %s with an unknown (zero) dim; '
                     'MXNet cannot have written data for it' % (reader.source, offset, shape))
    if any(dim < 0 for dim in shape):
        raise _error('%s: corrupt record: negative dim in shape %s' % (reader.source, shape))

    storage = _storage_dtype(dtype_name)
    count = 1
    for dim in shape:
        count *= dim
    nbytes = count * storage.itemsize
    if nbytes > reader.remaining():
        raise _error('%s: file is truncated: array of shape %s and dtype %s needs %d bytes '
                     'at offset %d but only %d remain' % (reader.source, shape, dtype_name,
                                                          nbytes, reader.pos, reader.remaining()))
    data = np.frombuffer(reader.take(nbytes, 'array data'), dtype=storage)
    try:
        data = data.reshape(shape)
    except ValueError:
        # Zero-size shapes whose other dims overflow NumPy's index type end up here.
        raise _error('%s: record at offset %d has shape %s, which NumPy cannot represent'
                     % (reader.source, offset, shape))
    return data.copy(), dtype_name


def _read_record(reader):
    """Read one record. Returns (array, dtype_name), or None for an empty V2 record."""
    offset = reader.pos
    first = reader.unpack('<I', 'record magic')

    if first in (V2_MAGIC, V3_MAGIC):
        stype = reader.unpack('<i', 'storage type')
        if stype != STYPE_DEFAULT:
            name = _STYPE_NAMES.get(stype, 'unknown stype %d' % stype)
            raise _error('%s: array record at offset %d has %s storage; only dense arrays are '
                         'supported. Convert it with tostype("default") before saving.'
                         % (reader.source, offset, name))
        shape = _read_int64_shape(reader, 'shape')
        if shape is None:
            raise _error('%s: record at offset %d has an unknown shape (ndim -1)'
                         % (reader.source, offset))
        np_shape = first == V3_MAGIC
        if not np_shape and len(shape) == 0:
            # A V2 record with ndim 0 is an empty ("none") NDArray and ends here.
            return None
        return _read_payload(reader, shape, offset, np_shape)

    if first == V1_MAGIC:
        shape = _read_int64_shape(reader, 'shape')
        if shape is None:
            raise _error('%s: record at offset %d has an unknown shape (ndim -1)'
                         % (reader.source, offset))
        if len(shape) == 0:
            return None
        return _read_payload(reader, shape, offset, np_shape=False)

    # Legacy V0 record: the first uint32 is ndim.
    shape = _read_v0_shape(reader, first)
    if len(shape) == 0:
        return None
    return _read_payload(reader, shape, offset, np_shape=False)


def decode_arrays(buf, source='load_frombuffer'):
    """Decode the bytes of an MXNet NDArray file.

    Returns ``(arrays, names)``: ``arrays`` is a list of ``(numpy.ndarray, dtype_name)``
    or None for an empty record, and ``names`` is None for the list form or a list of str.
    Raises MXNetError naming ``source`` when the data is not a valid file.
    """
    reader = _Reader(buf, source)
    magic, _reserved = reader.unpack('<QQ', 'file header')
    if magic != LIST_MAGIC:
        raise _error('%s: not an MXNet NDArray file: header magic is 0x%X, expected 0x%X'
                     % (source, magic, LIST_MAGIC))

    count = reader.unpack('<Q', 'array count')
    if count * _MIN_RECORD_BYTES > reader.remaining():
        raise _error('%s: corrupt file: array count %d does not fit in the remaining %d bytes'
                     % (source, count, reader.remaining()))
    arrays = [_read_record(reader) for _ in range(count)]

    name_count = reader.unpack('<Q', 'name count')
    if name_count not in (0, count):
        raise _error('%s: corrupt file: %d names for %d arrays (expected 0 or %d)'
                     % (source, name_count, count, count))
    names = []
    for _ in range(name_count):
        length = reader.unpack('<Q', 'name length')
        raw = reader.take(length, 'name')
        try:
            names.append(bytes(raw).decode('utf-8'))
        except UnicodeDecodeError as err:
            raise _error('%s: array name at offset %d is not valid UTF-8: %s'
                         % (source, reader.pos - length, err))
    if reader.remaining():
        raise _error('%s: %d unexpected bytes after the last array name'
                     % (source, reader.remaining()))
    return arrays, (names if name_count else None)


# ----------------------------------------------------------------------------------------
# NDArray front end
# ----------------------------------------------------------------------------------------

def _bfloat16_bits_from_values(values):
    """Return the uint16 bit patterns of float32 values that are exact bfloat16 numbers."""
    values = np.asarray(values, dtype=np.float32, order='C')
    return (values.view(np.uint32) >> 16).astype(np.uint16)


def _bfloat16_values_from_bits(bits):
    """Return the float32 values of bfloat16 bit patterns (exact: bfloat16 is the top half
    of a float32)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _to_numpy(array):
    dtype_name = dtype_name_of(array.dtype)
    data = array.asnumpy()
    if dtype_name == 'bfloat16':
        if data.dtype == np.float32:
            data = _bfloat16_bits_from_values(data)
        else:
            # MXNet's struct dtype [('bfloat16', '<u2')] already contains the bits.
            data = np.asarray(data, order='C').view(np.uint16)
    return data, dtype_name


def _to_ndarray(entry):
    from .. import ndarray as nd
    if entry is None:
        # NOTE: MXNet returns an empty NDArray handle here; None is the closest value we
        # can give until the core has a shapeless NDArray.
        return None
    data, dtype_name = entry
    if dtype_name == 'bfloat16':
        # nd.array rounds float32 values to bfloat16, which is exact for these values.
        return nd.array(_bfloat16_values_from_bits(data), dtype='bfloat16')
    return nd.array(data, dtype=dtype_name)


def save(fname, data):
    """Save NDArrays to ``fname`` in MXNet's binary format.

    Parameters
    ----------
    fname : str
        Path of the file to write.
    data : NDArray, list or tuple of NDArray, or dict of str to NDArray
        A dict is written with its keys, in iteration order. Everything is read back by
        ``load`` and by Apache MXNet's ``mx.nd.load``.
    """
    from .. import ndarray as nd
    NDArray = nd.NDArray

    if isinstance(data, NDArray):
        data = [data]
    if isinstance(data, dict):
        names, arrays = [], []
        for key, value in data.items():
            if not isinstance(key, str):
                raise TypeError('save: dict keys must be str, got %r of type %s'
                                % (key, type(key).__name__))
            if not isinstance(value, NDArray):
                raise TypeError('save: value for key %r must be an NDArray, got %s'
                                % (key, type(value).__name__))
            names.append(key)
            arrays.append(value)
    elif isinstance(data, (list, tuple)):
        names = None
        arrays = list(data)
        for i, value in enumerate(arrays):
            if not isinstance(value, NDArray):
                raise TypeError('save: element %d must be an NDArray, got %s'
                                % (i, type(value).__name__))
    else:
        raise TypeError('save: data must be an NDArray, a list/tuple of NDArray or a dict of '
                        'str to NDArray, got %s' % type(data).__name__)

    payload = encode_arrays([_to_numpy(array) for array in arrays], names)
    with open(fname, 'wb') as stream:
        stream.write(payload)


def load_frombuffer(buf):
    """Load NDArrays from the bytes of an MXNet NDArray file.

    Returns a list of NDArray for a file saved from a list, or a dict of str to NDArray
    for one saved from a dict. Arrays saved from a GPU are loaded on the CPU.
    """
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise TypeError('load_frombuffer: buf must be bytes, got %s' % type(buf).__name__)
    return _build_result(*decode_arrays(buf, 'load_frombuffer'))


def load(fname):
    """Load NDArrays from a file written by ``save`` or by Apache MXNet (``.params``).

    Returns a list of NDArray or, for a file saved from a dict, a dict of str to NDArray.
    Raises MXNetError when the file is missing, truncated or not in the format.
    """
    if not isinstance(fname, str):
        raise TypeError('load: fname must be a str path, got %s' % type(fname).__name__)
    try:
        with open(fname, 'rb') as stream:
            buf = stream.read()
    except OSError as err:
        raise _error('load: cannot read %r: %s' % (fname, err))
    return _build_result(*decode_arrays(buf, 'load(%r)' % fname))


def _build_result(arrays, names):
    values = [_to_ndarray(entry) for entry in arrays]
    if names is None:
        return values
    return dict(zip(names, values))
