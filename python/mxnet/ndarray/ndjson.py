"""Save and load NDArrays as NDJSON: one JSON object per line, one array per object.

Each line is ``{"name": ..., "dtype": ..., "shape": [...], "encoding": ..., "data": ...}``.

- ``name`` is a str for arrays saved from a dict and null for arrays saved from a list.
- ``dtype`` is an MXNet dtype name: float32, float64, float16, bfloat16, uint8, int8,
  int32, int64 or bool.
- ``encoding`` is ``"base64"`` (the default): ``data`` is the base64 text of the array's
  little-endian bytes in C order. bfloat16 arrays store their raw uint16 bit patterns.
- ``encoding`` is ``"list"`` (``readable=True``): ``data`` is a nested JSON list with one
  level per dimension, or a bare value for a 0-d array. JSON has no NaN or infinity, so
  those are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``. Every NaN reads
  back as the default quiet NaN, so NaN sign and payload bits are kept only by base64.

A record without ``encoding`` is read as base64 when ``data`` is a string, and as a list
otherwise. Blank lines are skipped. Other keys are ignored.
"""
import base64
import binascii
import io
import json
import math
import os
import secrets

import numpy as np

from .utils import _to_numpy, _bfloat16_bits_from_values, _bfloat16_values_from_bits

__all__ = ['save_ndjson', 'load_ndjson', 'iter_ndjson']

# Little-endian storage dtype of each supported dtype name. bfloat16 has no NumPy dtype,
# so its bit patterns are stored as uint16.
_STORAGE_DTYPES = {
    'float32': np.dtype('<f4'),
    'float64': np.dtype('<f8'),
    'float16': np.dtype('<f2'),
    'bfloat16': np.dtype('<u2'),
    'uint8': np.dtype('u1'),
    'int8': np.dtype('i1'),
    'int32': np.dtype('<i4'),
    'int64': np.dtype('<i8'),
    'bool': np.dtype('?'),
}
_FLOAT_DTYPES = ('float32', 'float64', 'float16', 'bfloat16')

_REQUIRED_KEYS = ('name', 'dtype', 'shape', 'data')
_ENCODINGS = ('base64', 'list')

# MXNet stores dims as int64.
_MAX_DIM = 2 ** 63 - 1

_NONFINITE_STRINGS = {'nan': math.nan, 'inf': math.inf, '-inf': -math.inf}


def _error(message):
    from ..base import MXNetError
    return MXNetError(message)


def _is_path(target):
    return isinstance(target, (str, bytes, os.PathLike))


# ----------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------

def _named_arrays(data):
    """Return ``[(name or None, NDArray)]`` for the ``data`` forms that ``mx.nd.save`` takes."""
    from . import NDArray

    if isinstance(data, NDArray):
        return [(None, data)]
    if isinstance(data, dict):
        pairs = []
        for key, value in data.items():
            if not isinstance(key, str):
                raise TypeError('save_ndjson: dict keys must be str, got %r of type %s'
                                % (key, type(key).__name__))
            if not isinstance(value, NDArray):
                raise TypeError('save_ndjson: value for key %r must be an NDArray, got %s'
                                % (key, type(value).__name__))
            pairs.append((key, value))
        return pairs
    if isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            if not isinstance(value, NDArray):
                raise TypeError('save_ndjson: element %d must be an NDArray, got %s'
                                % (i, type(value).__name__))
        return [(None, value) for value in data]
    raise TypeError('save_ndjson: data must be an NDArray, a list/tuple of NDArray or a dict '
                    'of str to NDArray, got %s' % type(data).__name__)


def _json_value(value):
    """Replace a non-finite float by its string form, because JSON has no NaN or infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return 'nan'
        return 'inf' if value > 0 else '-inf'
    return value


def _to_nested_list(values):
    """Return ``values`` (a NumPy array) as nested lists, with non-finite floats as strings."""
    nested = values.tolist()
    if values.dtype.kind != 'f':
        return nested
    if values.ndim == 0:
        return _json_value(nested)

    def convert(level):
        if level and isinstance(level[0], list):
            return [convert(item) for item in level]
        return [_json_value(item) for item in level]

    return convert(nested)


def _encode_record(name, array, readable):
    # NOTE: bfloat16 bits come from NDArray.asnumpy(), whose bfloat16 -> float32 conversion
    # sets the quiet bit of signaling NaNs, so those are not saved bit for bit.
    values, dtype_name = _to_numpy(array)
    if dtype_name not in _STORAGE_DTYPES:
        raise TypeError('save_ndjson: dtype %s of array %r is not supported; supported dtypes '
                        'are %s' % (dtype_name, name, ', '.join(_STORAGE_DTYPES)))
    values = np.asarray(values, dtype=_STORAGE_DTYPES[dtype_name], order='C')
    record = {'name': name, 'dtype': dtype_name, 'shape': list(values.shape)}

    if readable:
        if dtype_name == 'bfloat16':
            # Every bfloat16 value is exactly representable as a float32 (and so as a Python
            # float), and json writes floats with repr, which reads back to the same float.
            # So bfloat16 list values round-trip exactly.
            values = _bfloat16_values_from_bits(values)
        record['encoding'] = 'list'
        record['data'] = _to_nested_list(values)
    else:
        record['encoding'] = 'base64'
        record['data'] = base64.b64encode(values.tobytes()).decode('ascii')

    # allow_nan=False makes a missed non-finite value fail here instead of writing invalid
    # JSON. ASCII-only output (names escaped as \uXXXX) works with any text-file encoding.
    return json.dumps(record, allow_nan=False) + '\n'


def _write_lines(stream, lines):
    if isinstance(stream, io.TextIOBase):
        binary = False
    elif isinstance(stream, (io.BufferedIOBase, io.RawIOBase)):
        binary = True
    else:
        binary = 'b' in getattr(stream, 'mode', '')
    for line in lines:
        stream.write(line.encode('utf-8') if binary else line)


def save_ndjson(fname_or_file, data, readable=False):
    """Save NDArrays as NDJSON, one array per line.

    Parameters
    ----------
    fname_or_file : str, path-like or file object
        A path is written atomically: the lines go to a temporary file in the same folder,
        which then replaces ``fname_or_file``. A file object may be open in text or binary
        mode and is left open.
    data : NDArray, list or tuple of NDArray, or dict of str to NDArray
        A dict is written in iteration order with its keys as names. Arrays from an NDArray
        or a list get a null name.
    readable : bool, default False
        Write ``data`` as nested JSON lists instead of base64 bytes. The file is larger, and
        values round-trip exactly except for NaN sign and payload bits.
    """
    pairs = _named_arrays(data)
    # Encode one record at a time so only one array's text is in memory.
    lines = (_encode_record(name, array, readable) for name, array in pairs)

    if not _is_path(fname_or_file):
        _write_lines(fname_or_file, lines)
        return

    path = os.fsdecode(fname_or_file)
    folder = os.path.dirname(os.path.abspath(path))
    temp_path = os.path.join(folder, '.%s.%s.tmp' % (os.path.basename(path),
                                                     secrets.token_hex(8)))
    # os.open with mode 0o666 applies the umask, so the result gets the same permissions as
    # a file written with open(). tempfile.mkstemp would leave it readable by the owner only.
    descriptor = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, 'w', encoding='utf-8', newline='\n') as stream:
            _write_lines(stream, lines)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_path, path)
    except BaseException:
        os.unlink(temp_path)
        raise


# ----------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------

def _parse_shape(shape, where):
    if not isinstance(shape, list):
        raise _error('%s: "shape" must be a list of non-negative integers, got %s'
                     % (where, json.dumps(shape)))
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise _error('%s: "shape" must contain integers, got %s' % (where, json.dumps(dim)))
        if dim < 0:
            raise _error('%s: "shape" %s has a negative dimension %d; dimensions must be >= 0'
                         % (where, shape, dim))
        if dim > _MAX_DIM:
            raise _error('%s: dimension %d in "shape" exceeds the int64 maximum' % (where, dim))
    return tuple(shape)


def _decode_base64(text, shape, dtype_name, where):
    """Decode base64 ``text`` after checking that its length matches ``shape``."""
    if not isinstance(text, str):
        raise _error('%s: base64 "data" must be a string, got %s' % (where, type(text).__name__))
    storage = _STORAGE_DTYPES[dtype_name]
    expected_bytes = math.prod(shape) * storage.itemsize
    # Check the text length first, so that a record whose "data" does not match its shape
    # is rejected before anything is decoded or allocated.
    expected_chars = 4 * ((expected_bytes + 2) // 3)
    if len(text) != expected_chars:
        raise _error('%s: "data" has %d base64 characters, but shape %s of %s needs %d bytes '
                     '(%d base64 characters)' % (where, len(text), list(shape), dtype_name,
                                                 expected_bytes, expected_chars))
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise _error('%s: "data" is not valid base64: %s' % (where, err))
    if len(raw) != expected_bytes:
        raise _error('%s: "data" decodes to %d bytes, but shape %s of %s needs %d bytes'
                     % (where, len(raw), list(shape), dtype_name, expected_bytes))
    if dtype_name == 'bool' and raw and np.frombuffer(raw, dtype=np.uint8).max() > 1:
        raise _error('%s: bool "data" contains bytes other than 0 and 1' % where)
    return np.frombuffer(raw, dtype=storage).reshape(shape)


def _flatten_nested(data, shape, where):
    """Return the leaves of nested list ``data`` in C order after checking its nesting."""
    if not shape:
        if isinstance(data, list):
            raise _error('%s: "data" for shape [] must be a single value, got a list' % where)
        return [data]

    leaves = []
    # Depth-first walk with an explicit stack so deep nesting cannot hit the recursion limit.
    stack = [(data, 0, ())]
    while stack:
        level, depth, index = stack.pop()
        if not isinstance(level, list):
            raise _error('%s: "data"%s must be a list of length %d for shape %s, got %s'
                         % (where, ''.join('[%d]' % i for i in index), shape[depth],
                            list(shape), json.dumps(level)))
        if len(level) != shape[depth]:
            raise _error('%s: "data"%s has length %d, but shape %s needs %d at axis %d'
                         % (where, ''.join('[%d]' % i for i in index), len(level),
                            list(shape), shape[depth], depth))
        if depth + 1 == len(shape):
            for i, item in enumerate(level):
                if isinstance(item, list):
                    raise _error('%s: "data"%s is nested deeper than shape %s'
                                 % (where, ''.join('[%d]' % j for j in index + (i,)),
                                    list(shape)))
            leaves.extend(level)
        else:
            for i in reversed(range(len(level))):
                stack.append((level[i], depth + 1, index + (i,)))
    return leaves


def _check_leaf(value, dtype_name, where):
    if dtype_name in _FLOAT_DTYPES:
        if isinstance(value, str):
            if value not in _NONFINITE_STRINGS:
                raise _error('%s: string %s in %s "data"; only "nan", "inf" and "-inf" are '
                             'allowed' % (where, json.dumps(value), dtype_name))
            return _NONFINITE_STRINGS[value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _error('%s: %s "data" must contain numbers, got %s'
                         % (where, dtype_name, json.dumps(value)))
        return value
    if dtype_name == 'bool':
        if not isinstance(value, bool):
            raise _error('%s: bool "data" must contain true or false, got %s'
                         % (where, json.dumps(value)))
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error('%s: %s "data" must contain integers, got %s'
                     % (where, dtype_name, json.dumps(value)))
    limits = np.iinfo(dtype_name)
    if not limits.min <= value <= limits.max:
        raise _error('%s: value %d is out of range for %s [%d, %d]'
                     % (where, value, dtype_name, limits.min, limits.max))
    return value


def _decode_list(data, shape, dtype_name, where):
    leaves = _flatten_nested(data, shape, where)
    values = [_check_leaf(value, dtype_name, where) for value in leaves]
    if dtype_name == 'bfloat16':
        floats = np.array(values, dtype=np.float32)
        bits = _bfloat16_bits_from_values(floats)
        # A float32 with nonzero low bits is not a bfloat16 value, and truncating it would
        # silently change the data.
        if np.any(_bfloat16_values_from_bits(bits).view(np.uint32) != floats.view(np.uint32)):
            raise _error('%s: bfloat16 "data" contains values that are not exact bfloat16 '
                         'numbers' % where)
        return bits.reshape(shape)
    storage = _STORAGE_DTYPES[dtype_name]
    if dtype_name in ('float32', 'float16'):
        # Reject values that do not survive the narrowing, such as 1e300 for float32.
        wide = np.array(values, dtype=np.float64)
        with np.errstate(over='ignore'):
            narrow = wide.astype(storage)
        finite = np.isfinite(wide)
        if np.any(~np.isfinite(narrow[finite])):
            raise _error('%s: "data" contains values out of range for %s' % (where, dtype_name))
        return narrow.reshape(shape)
    return np.array(values, dtype=storage).reshape(shape)


def _to_ndarray(values, dtype_name, shape):
    from . import array
    if dtype_name == 'bfloat16':
        result = array(_bfloat16_values_from_bits(values).reshape(shape), dtype='bfloat16')
    else:
        result = array(values, dtype=dtype_name)
    # nd.array turns a 0-d NumPy array into shape (1,), as MXNet 1.x does.
    if result.shape != shape:
        result = result.reshape(shape)
    return result


def _decode_record(line, where):
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise _error('%s: invalid JSON: %s' % (where, err))
    except RecursionError:
        raise _error('%s: invalid JSON: nesting is deeper than the Python json parser '
                     'supports' % where)
    if not isinstance(record, dict):
        raise _error('%s: expected a JSON object, got %s' % (where, type(record).__name__))
    missing = [key for key in _REQUIRED_KEYS if key not in record]
    if missing:
        raise _error('%s: missing key(s) %s; every record needs %s'
                     % (where, ', '.join(missing), ', '.join(_REQUIRED_KEYS)))

    name = record['name']
    if name is not None and not isinstance(name, str):
        raise _error('%s: "name" must be a string or null, got %s' % (where, json.dumps(name)))
    dtype_name = record['dtype']
    if dtype_name not in _STORAGE_DTYPES:
        raise _error('%s: unknown dtype %s; supported dtypes are %s'
                     % (where, json.dumps(dtype_name), ', '.join(_STORAGE_DTYPES)))
    shape = _parse_shape(record['shape'], where)

    data = record['data']
    encoding = record.get('encoding', 'base64' if isinstance(data, str) else 'list')
    if encoding not in _ENCODINGS:
        raise _error('%s: unknown encoding %s; expected "base64" or "list"'
                     % (where, json.dumps(encoding)))
    if encoding == 'base64':
        values = _decode_base64(data, shape, dtype_name, where)
    else:
        values = _decode_list(data, shape, dtype_name, where)
    return name, _to_ndarray(values, dtype_name, shape)


def _iter_lines(stream, source):
    for number, line in enumerate(stream, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode('utf-8')
            except UnicodeDecodeError as err:
                raise _error('%s line %d: invalid UTF-8: %s' % (source, number, err))
        yield number, line


def _iter_records(stream, source):
    for number, line in _iter_lines(stream, source):
        if not line.strip():
            continue
        yield _decode_record(line, '%s line %d' % (source, number)) + (number,)


def _iter_source(fname_or_file, function):
    """Yield ``(name, NDArray, line number)`` from a path or an open file, lazily."""
    if not _is_path(fname_or_file):
        source = '%s(%s)' % (function, getattr(fname_or_file, 'name', 'file object'))
        yield from _iter_records(fname_or_file, source)
        return
    path = os.fsdecode(fname_or_file)
    try:
        stream = open(path, 'rb')
    except OSError as err:
        raise _error('%s: failed to read %r: %s' % (function, path, err))
    with stream:
        yield from _iter_records(stream, '%s(%r)' % (function, path))


def iter_ndjson(fname_or_file):
    """Yield ``(name, NDArray)`` for each record of an NDJSON array file, in file order.

    Lines are read and decoded one at a time, so records before a bad line are yielded
    before the MXNetError for that line is raised. ``name`` is None for arrays saved from
    a list. A path is opened on the first ``next()``; a file object is left open.
    """
    for name, array, _ in _iter_source(fname_or_file, 'iter_ndjson'):
        yield name, array


def load_ndjson(fname_or_file):
    """Load an NDJSON array file written by ``save_ndjson``.

    Returns a dict of str to NDArray when every record has a name, and a list of NDArray
    when no record has one (an empty file gives an empty list). Raises MXNetError naming
    the line for invalid records, for a file that mixes named and unnamed records, and for
    a name that appears twice.
    """
    arrays, names, seen = [], [], set()
    first_named = first_unnamed = None
    for name, array, number in _iter_source(fname_or_file, 'load_ndjson'):
        if name is None:
            first_unnamed = first_unnamed or number
        else:
            first_named = first_named or number
            if name in seen:
                raise _error('load_ndjson: line %d repeats name %r; names in a file must be '
                             'unique' % (number, name))
        if first_named and first_unnamed:
            raise _error('load_ndjson: line %d has a name but line %d has "name": null; a '
                         'file must name every record (dict) or none (list)'
                         % (first_named, first_unnamed))
        arrays.append(array)
        names.append(name)
        seen.add(name)
    if first_named:
        return dict(zip(names, arrays))
    return arrays
