"""Tests of the MXNet NDArray file format (mx.nd.save / mx.nd.load / .params)."""
import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from mxnet.ndarray import utils as ndio


def _has_core():
    try:
        from mxnet import ndarray as nd
    except ImportError:
        return False
    return hasattr(nd, 'array') and hasattr(nd, 'NDArray')


requires_core = pytest.mark.skipif(not _has_core(), reason='needs the native NDArray core')

MXNetError = pytest.importorskip('mxnet.base').MXNetError

# Bytes of mx.nd.save('dict_f32.params', {'arg:w': nd.array([[1,2,3],[4,5,6]])}) written by
# Apache MXNet 1.9.1 (109 bytes).
DICT_F32_HEX = (
    '12010000 00000000 00000000 00000000'
    '01000000 00000000 c9fa93f9 00000000'
    '02000000 02000000 00000000 03000000'
    '00000000 01000000 00000000 00000000'
    '0000803f 00000040 00004040 00008040'
    '0000a040 0000c040 01000000 00000000'
    '05000000 00000000 6172673a77'
)
DICT_F32 = bytes.fromhex(DICT_F32_HEX.replace(' ', ''))
W = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)

ALL_DTYPES = ['float32', 'float64', 'float16', 'uint8', 'int32', 'int8', 'int64', 'bool',
              'int16', 'uint16', 'uint32', 'uint64']


def _header(count):
    return struct.pack('<QQQ', 0x112, 0, count)


def _v2_record(array, flag, magic=0xF993FAC9):
    array = np.ascontiguousarray(array)
    return (struct.pack('<Iii', magic, 0, array.ndim)
            + struct.pack('<%dq' % array.ndim, *array.shape)
            + struct.pack('<iii', 1, 0, flag) + array.tobytes())


# ---------------------------------------------------------------------------------------
# Encoding: byte-exact against MXNet 1.9.1
# ---------------------------------------------------------------------------------------

def test_encode_dict_matches_mxnet_bytes():
    encoded = ndio.encode_arrays([(W, 'float32')], names=['arg:w'])
    assert len(encoded) == 109
    assert encoded == DICT_F32


def test_encode_list_matches_mxnet_bytes():
    encoded = ndio.encode_arrays([(W, 'float32')])
    assert len(encoded) == 96
    assert encoded == DICT_F32[:88] + b'\x00' * 8


def test_encode_float16_record_bytes():
    encoded = ndio.encode_arrays([(np.array([1, 2], dtype=np.float16), 'float16')])
    expected = bytes.fromhex('c9fa93f9 00000000 01000000 02000000 00000000 01000000 00000000 '
                             '02000000 003c0040'.replace(' ', ''))
    assert encoded[24:-8] == expected


def test_encode_uint8_record_tail():
    encoded = ndio.encode_arrays([(np.array([255, 1], dtype=np.uint8), 'uint8')])
    record = encoded[24:-8]
    assert record.endswith(bytes.fromhex('03000000ff01'))


def test_encode_records_have_no_padding():
    arrays = [(np.array([1, 2], dtype=np.float16), 'float16'),
              (np.array([7], dtype=np.int64), 'int64'),
              (np.array([255, 1], dtype=np.uint8), 'uint8')]
    encoded = ndio.encode_arrays(arrays, names=['f16', 'i64', 'u8'])
    # Each dense 1-D record is 4+4+4+8+12 = 32 bytes of header plus its data.
    records = sum(32 + a.nbytes for a, _ in arrays)
    names = sum(8 + len(n) for n in ['f16', 'i64', 'u8'])
    assert len(encoded) == 24 + records + 8 + names


def test_encode_dict_keeps_name_order():
    arrays = [(np.zeros(1, np.float32), 'float32')] * 3
    _, names = ndio.decode_arrays(ndio.encode_arrays(arrays, names=['z', 'a', 'm']))
    assert names == ['z', 'a', 'm']


def test_encode_zero_dim_uses_np_shape_magic():
    encoded = ndio.encode_arrays([(np.array(3.5, dtype=np.float32), 'float32')])
    assert struct.unpack('<I', encoded[24:28])[0] == 0xF993FACA
    encoded = ndio.encode_arrays([(np.zeros((0, 3), dtype=np.float32), 'float32')])
    assert struct.unpack('<I', encoded[24:28])[0] == 0xF993FACA


def test_encode_rejects_name_count_mismatch():
    with pytest.raises(MXNetError, match='2 names for 1 arrays'):
        ndio.encode_arrays([(W, 'float32')], names=['a', 'b'])


# ---------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------

def test_decode_mxnet_dict_bytes():
    arrays, names = ndio.decode_arrays(DICT_F32)
    assert names == ['arg:w']
    data, dtype = arrays[0]
    assert dtype == 'float32'
    assert data.dtype == np.float32
    np.testing.assert_array_equal(data, W)


def test_decode_mxnet_list_bytes():
    arrays, names = ndio.decode_arrays(DICT_F32[:88] + b'\x00' * 8)
    assert names is None
    np.testing.assert_array_equal(arrays[0][0], W)


@pytest.mark.parametrize('dtype', ALL_DTYPES)
def test_round_trip_every_dtype(dtype):
    rng = np.random.RandomState(0)
    if dtype == 'bool':
        data = rng.rand(3, 4) > 0.5
    elif np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        data = rng.randint(max(info.min, -1000), min(info.max, 1000), size=(3, 4)).astype(dtype)
        data[0, 0] = info.max
        data[0, 1] = info.min
    else:
        data = rng.randn(3, 4).astype(dtype)
    arrays, names = ndio.decode_arrays(ndio.encode_arrays([(data, dtype)], names=['x']))
    decoded, decoded_dtype = arrays[0]
    assert names == ['x']
    assert decoded_dtype == dtype
    assert decoded.dtype == np.dtype(dtype)
    assert decoded.shape == (3, 4)
    np.testing.assert_array_equal(decoded, data)


def test_round_trip_bfloat16_bits():
    bits = np.array([0x3F80, 0x4000, 0xBF80, 0x7F80], dtype=np.uint16)  # 1, 2, -1, inf
    encoded = ndio.encode_arrays([(bits, 'bfloat16')])
    assert struct.unpack('<i', encoded[24 + 28:24 + 32])[0] == 12
    arrays, _ = ndio.decode_arrays(encoded)
    decoded, dtype = arrays[0]
    assert dtype == 'bfloat16'
    np.testing.assert_array_equal(decoded, bits)


def test_round_trip_zero_dim_and_zero_size():
    arrays = [(np.array(2.5, dtype=np.float64), 'float64'),
              (np.zeros((0, 3), dtype=np.int32), 'int32')]
    decoded, _ = ndio.decode_arrays(ndio.encode_arrays(arrays))
    assert decoded[0][0].shape == ()
    assert decoded[0][0] == 2.5
    assert decoded[1][0].shape == (0, 3)


def test_round_trip_non_contiguous_input():
    data = np.arange(12, dtype=np.float32).reshape(3, 4).T
    decoded, _ = ndio.decode_arrays(ndio.encode_arrays([(data, 'float32')]))
    np.testing.assert_array_equal(decoded[0][0], data)


def test_round_trip_unicode_names():
    arrays = [(np.ones(2, np.float32), 'float32')] * 2
    _, names = ndio.decode_arrays(ndio.encode_arrays(arrays, names=['gewicht_ä', '权重']))
    assert names == ['gewicht_ä', '权重']


@settings(max_examples=60, deadline=None)
@given(st.lists(hnp.arrays(dtype=st.sampled_from([np.dtype(d) for d in ALL_DTYPES]),
                           shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                                  max_side=4)),
                max_size=4),
       st.booleans())
def test_round_trip_property(arrays, as_dict):
    entries = [(array, array.dtype.name) for array in arrays]
    names = ['p%d' % i for i in range(len(arrays))] if as_dict else None
    decoded, decoded_names = ndio.decode_arrays(ndio.encode_arrays(entries, names))
    assert decoded_names == (names if arrays and as_dict else None)
    assert len(decoded) == len(arrays)
    for (data, dtype), original in zip(decoded, arrays):
        assert dtype == original.dtype.name
        assert data.shape == original.shape
        np.testing.assert_array_equal(data, original)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_decode_arbitrary_bytes(payload):
    try:
        ndio.decode_arrays(_header(1) + payload)
    except MXNetError:
        pass


def test_decode_v1_record():
    data = np.array([[1.5, -2.0]], dtype=np.float64)
    record = (struct.pack('<Ii', 0xF993FAC8, 2) + struct.pack('<2q', 1, 2)
              + struct.pack('<iii', 1, 0, 1) + data.tobytes())
    arrays, names = ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))
    assert names is None
    np.testing.assert_array_equal(arrays[0][0], data)
    assert arrays[0][1] == 'float64'


def test_decode_v0_legacy_record():
    # The layout of MXNet's legacy_ndarray.v0 test file: ndim=1, dim=128 as uint32.
    data = np.arange(128, dtype=np.float32)
    record = struct.pack('<II', 1, 128) + struct.pack('<iii', 1, 0, 0) + data.tobytes()
    assert record[:16].hex() == '01000000800000000100000000000000'
    arrays, _ = ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))
    np.testing.assert_array_equal(arrays[0][0], data)


def test_decode_v3_scalar_record():
    record = (struct.pack('<Iii', 0xF993FACA, 0, 0) + struct.pack('<iii', 1, 0, 4)
              + struct.pack('<i', -7))
    arrays, _ = ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))
    assert arrays[0][0].shape == ()
    assert arrays[0][0] == -7
    assert arrays[0][1] == 'int32'


def test_decode_v2_ndim_zero_is_empty_record():
    record = struct.pack('<Iii', 0xF993FAC9, 0, 0)
    arrays, _ = ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))
    assert arrays == [None]


def test_decode_gpu_context_record():
    data = np.array([1, 2], dtype=np.int64)
    record = (struct.pack('<Iii', 0xF993FAC9, 0, 1) + struct.pack('<q', 2)
              + struct.pack('<iii', 2, 3, 6) + data.tobytes())
    arrays, _ = ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))
    np.testing.assert_array_equal(arrays[0][0], data)


# ---------------------------------------------------------------------------------------
# Corrupted and hostile input
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('length', [0, 7, 16, 23, 24, 30, 60, 70, 87, 95, 100, 108])
def test_decode_truncated_file(length):
    with pytest.raises(MXNetError):
        ndio.decode_arrays(DICT_F32[:length])


def test_decode_wrong_file_magic():
    bad = struct.pack('<Q', 0x113) + DICT_F32[8:]
    with pytest.raises(MXNetError, match='not an MXNet NDArray file'):
        ndio.decode_arrays(bad)


def test_decode_wrong_record_magic():
    bad = DICT_F32[:24] + struct.pack('<I', 0xDEADBEEF) + DICT_F32[28:]
    with pytest.raises(MXNetError, match='neither an NDArray magic'):
        ndio.decode_arrays(bad)


def test_decode_huge_array_count():
    bad = _header(2 ** 62) + DICT_F32[24:]
    with pytest.raises(MXNetError, match='array count'):
        ndio.decode_arrays(bad)


def test_decode_huge_dims():
    record = (struct.pack('<Iii', 0xF993FAC9, 0, 2) + struct.pack('<2q', 2 ** 40, 2 ** 40)
              + struct.pack('<iii', 1, 0, 0) + b'\x00' * 16)
    with pytest.raises(MXNetError, match='truncated'):
        ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))


def test_decode_huge_ndim():
    record = struct.pack('<Iii', 0xF993FAC9, 0, 2 ** 30) + b'\x00' * 64
    with pytest.raises(MXNetError, match='ndim'):
        ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))


def test_decode_zero_size_with_huge_dims():
    record = (struct.pack('<Iii', 0xF993FACA, 0, 3) + struct.pack('<3q', 2 ** 62, 2 ** 62, 0)
              + struct.pack('<iii', 1, 0, 0))
    with pytest.raises(MXNetError, match='cannot represent'):
        ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))


def test_decode_negative_dim():
    record = (struct.pack('<Iii', 0xF993FAC9, 0, 1) + struct.pack('<q', -4)
              + struct.pack('<iii', 1, 0, 0))
    with pytest.raises(MXNetError, match='negative dim'):
        ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))


def test_decode_unknown_dtype_flag():
    bad = bytearray(DICT_F32)
    bad[0x3C:0x40] = struct.pack('<i', 99)
    with pytest.raises(MXNetError, match='unknown dtype flag 99'):
        ndio.decode_arrays(bytes(bad))


def test_decode_huge_name_length():
    bad = DICT_F32[:0x60] + struct.pack('<Q', 2 ** 63) + b'arg:w'
    with pytest.raises(MXNetError, match='truncated'):
        ndio.decode_arrays(bad)


def test_decode_name_count_mismatch():
    bad = DICT_F32[:0x58] + struct.pack('<Q', 2) + DICT_F32[0x60:]
    with pytest.raises(MXNetError, match='2 names for 1 arrays'):
        ndio.decode_arrays(bad)


def test_decode_invalid_utf8_name():
    bad = DICT_F32[:-5] + b'\xff\xfe:ab'
    with pytest.raises(MXNetError, match='UTF-8'):
        ndio.decode_arrays(bad)


def test_decode_trailing_bytes():
    with pytest.raises(MXNetError, match='unexpected bytes'):
        ndio.decode_arrays(DICT_F32 + b'\x00')


@pytest.mark.parametrize('stype,name', [(1, 'row_sparse'), (2, 'csr'), (-1, 'undefined')])
def test_decode_sparse_record_rejected(stype, name):
    bad = bytearray(DICT_F32)
    bad[0x1C:0x20] = struct.pack('<i', stype)
    with pytest.raises(MXNetError, match=name):
        ndio.decode_arrays(bytes(bad))


def test_decode_zero_dim_in_legacy_record():
    record = (struct.pack('<Iii', 0xF993FAC9, 0, 2) + struct.pack('<2q', 0, 3)
              + struct.pack('<iii', 1, 0, 0))
    with pytest.raises(MXNetError, match='unknown'):
        ndio.decode_arrays(_header(1) + record + struct.pack('<Q', 0))


def test_decode_random_garbage():
    rng = np.random.RandomState(7)
    for _ in range(300):
        length = rng.randint(0, 200)
        garbage = _header(rng.randint(0, 4)) + rng.bytes(length)
        try:
            ndio.decode_arrays(garbage)
        except MXNetError:
            pass


def test_decode_bit_flips():
    rng = np.random.RandomState(3)
    for _ in range(300):
        corrupted = bytearray(DICT_F32)
        position = rng.randint(0, len(corrupted))
        corrupted[position] ^= 1 << rng.randint(0, 8)
        try:
            ndio.decode_arrays(bytes(corrupted))
        except MXNetError:
            pass


# ---------------------------------------------------------------------------------------
# NDArray front end (needs the core)
# ---------------------------------------------------------------------------------------

@requires_core
def test_save_writes_mxnet_bytes(tmp_path):
    import mxnet as mx
    path = str(tmp_path / 'dict_f32.params')
    mx.nd.save(path, {'arg:w': mx.nd.array([[1, 2, 3], [4, 5, 6]])})
    with open(path, 'rb') as stream:
        assert stream.read() == DICT_F32


@requires_core
def test_save_single_ndarray_as_list(tmp_path):
    import mxnet as mx
    path = str(tmp_path / 'one.params')
    mx.nd.save(path, mx.nd.array([[1, 2, 3], [4, 5, 6]]))
    with open(path, 'rb') as stream:
        assert stream.read() == DICT_F32[:88] + b'\x00' * 8


@requires_core
@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16', 'uint8', 'int32', 'int8',
                                   'int64'])
def test_save_load_round_trip(tmp_path, dtype):
    import mxnet as mx
    path = str(tmp_path / 'x.params')
    data = (np.random.RandomState(1).rand(2, 3, 4) * 100).astype(dtype)
    mx.nd.save(path, {'a': mx.nd.array(data, dtype=dtype), 'b': mx.nd.array(data[0], dtype=dtype)})
    loaded = mx.nd.load(path)
    assert list(loaded) == ['a', 'b']
    assert loaded['a'].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded['a'].asnumpy(), data)
    np.testing.assert_array_equal(loaded['b'].asnumpy(), data[0])


@requires_core
def test_save_load_bfloat16(tmp_path):
    import mxnet as mx
    values = np.array([1.0, -2.5, 3.140625, np.inf, 0.0], dtype=np.float32)
    path = str(tmp_path / 'bf16.params')
    mx.nd.save(path, [mx.nd.array(values, dtype='bfloat16')])
    with open(path, 'rb') as stream:
        arrays, _ = ndio.decode_arrays(stream.read())
    bits, dtype = arrays[0]
    assert dtype == 'bfloat16'
    np.testing.assert_array_equal(bits, [0x3F80, 0xC020, 0x4049, 0x7F80, 0x0000])
    loaded = mx.nd.load(path)[0]
    assert ndio.dtype_name_of(loaded.dtype) == 'bfloat16'
    np.testing.assert_array_equal(loaded.astype('float32').asnumpy(), values)


@requires_core
def test_load_frombuffer_list():
    import mxnet as mx
    loaded = mx.nd.load_frombuffer(DICT_F32[:88] + b'\x00' * 8)
    assert isinstance(loaded, list)
    np.testing.assert_array_equal(loaded[0].asnumpy(), W)


@requires_core
def test_save_rejects_bad_input(tmp_path):
    import mxnet as mx
    path = str(tmp_path / 'bad.params')
    with pytest.raises(TypeError, match='keys must be str'):
        mx.nd.save(path, {1: mx.nd.zeros((1,))})
    with pytest.raises(TypeError, match='element 1'):
        mx.nd.save(path, [mx.nd.zeros((1,)), np.zeros(1)])
    with pytest.raises(TypeError):
        mx.nd.save(path, 3)


@requires_core
def test_load_missing_file(tmp_path):
    import mxnet as mx
    with pytest.raises(MXNetError, match='cannot read'):
        mx.nd.load(str(tmp_path / 'missing.params'))


# ---------------------------------------------------------------------------------------
# Files written by Apache MXNet 1.9.1 (tests/fixtures)
# ---------------------------------------------------------------------------------------

FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures')
MLP_FILES = [('gluon_mlp.params', 'keys', 'param__'),
             ('gluon_mlp_fullnames.params', 'fullname_keys', 'fullparam__'),
             ('gluon_mlp_stripped.params', 'stripped_keys', None)]


def _fixture_bytes(name):
    with open(os.path.join(FIXTURE_DIR, name), 'rb') as stream:
        return stream.read()


def _fixture_npz(name):
    with np.load(os.path.join(FIXTURE_DIR, name), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _list_fixture_arrays():
    expected = _fixture_npz('nd_list.npz')
    return [expected[str(i)] for i in range(len(expected))]


def test_decode_mxnet_list_fixture():
    arrays, names = ndio.decode_arrays(_fixture_bytes('nd_list.params'))
    expected = _list_fixture_arrays()
    assert names is None
    assert len(arrays) == len(expected) == 9
    for (data, dtype), reference in zip(arrays, expected):
        assert dtype == reference.dtype.name
        assert data.dtype == reference.dtype
        assert data.shape == reference.shape
        np.testing.assert_array_equal(data, reference)


def test_decode_mxnet_dict_fixture_keeps_order():
    arrays, names = ndio.decode_arrays(_fixture_bytes('nd_dict.params'))
    expected = _fixture_npz('nd_dict.npz')
    assert names == ['arg:f32_2d', 'arg:f64_1d', 'arg:f16_4d', 'aux:u8_1d', 'i8_2d',
                     'i32_size1', 'i64_2d', 'bool_1d', '0.weight']
    for name, (data, dtype) in zip(names, arrays):
        assert dtype == expected[name].dtype.name
        np.testing.assert_array_equal(data, expected[name])


def test_encode_reproduces_mxnet_list_fixture():
    arrays = [(array, array.dtype.name) for array in _list_fixture_arrays()]
    assert ndio.encode_arrays(arrays) == _fixture_bytes('nd_list.params')


def test_encode_reproduces_mxnet_dict_fixture():
    expected = _fixture_npz('nd_dict.npz')
    names = ndio.decode_arrays(_fixture_bytes('nd_dict.params'))[1]
    arrays = [(expected[name], expected[name].dtype.name) for name in names]
    assert ndio.encode_arrays(arrays, names) == _fixture_bytes('nd_dict.params')


@pytest.mark.parametrize('filename,keys_member,value_prefix', MLP_FILES)
def test_decode_gluon_parameter_files(filename, keys_member, value_prefix):
    reference = _fixture_npz('gluon_mlp.npz')
    arrays, names = ndio.decode_arrays(_fixture_bytes(filename))
    assert names == reference[keys_member].tolist()
    values = [data for data, _ in arrays]
    # The stripped file stores the same values, in the same order, as the full-name file.
    full_names = reference['fullname_keys'].tolist()
    for position, name in enumerate(names):
        if value_prefix is None:
            expected = reference['fullparam__' + full_names[position]]
        else:
            expected = reference[value_prefix + name]
        assert arrays[position][1] == 'float32'
        np.testing.assert_array_equal(values[position], expected)


@pytest.mark.parametrize('filename', ['nd_list.params', 'nd_dict.params', 'gluon_mlp.params'])
def test_decode_every_truncation_of_fixture(filename):
    payload = _fixture_bytes(filename)
    for length in range(0, len(payload), 7):
        with pytest.raises(MXNetError):
            ndio.decode_arrays(payload[:length])


@requires_core
def test_load_mxnet_fixtures_as_ndarrays():
    import mxnet as mx
    loaded = mx.nd.load(os.path.join(FIXTURE_DIR, 'nd_dict.params'))
    expected = _fixture_npz('nd_dict.npz')
    assert list(loaded) == list(ndio.decode_arrays(_fixture_bytes('nd_dict.params'))[1])
    for name, array in loaded.items():
        assert isinstance(array, mx.nd.NDArray)
        assert np.dtype(array.dtype) == expected[name].dtype
        np.testing.assert_array_equal(array.asnumpy(), expected[name])
    as_list = mx.nd.load(os.path.join(FIXTURE_DIR, 'nd_list.params'))
    for array, reference in zip(as_list, _list_fixture_arrays()):
        np.testing.assert_array_equal(array.asnumpy(), reference)


@requires_core
def test_save_reproduces_mxnet_fixture(tmp_path):
    import mxnet as mx
    expected = _fixture_npz('nd_dict.npz')
    names = ndio.decode_arrays(_fixture_bytes('nd_dict.params'))[1]
    data = {name: mx.nd.array(expected[name], dtype=expected[name].dtype) for name in names}
    path = str(tmp_path / 'nd_dict.params')
    mx.nd.save(path, data)
    with open(path, 'rb') as stream:
        assert stream.read() == _fixture_bytes('nd_dict.params')


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_decode_randomly_corrupted_fixture(data):
    """Overwrite random bytes of a real .params file: decoding either succeeds or raises
    MXNetError, and never crashes or allocates more than the file could describe."""
    filename = data.draw(st.sampled_from(['nd_list.params', 'nd_dict.params', 'gluon_mlp.params']))
    payload = bytearray(_fixture_bytes(filename))
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(payload) - 1), st.integers(0, 255)),
                               min_size=1, max_size=8))
    for position, value in edits:
        payload[position] = value
    try:
        arrays, names = ndio.decode_arrays(bytes(payload))
    except MXNetError:
        return
    # Every decoded array was backed by bytes of the file.
    assert sum(a[0].nbytes for a in arrays if a is not None) <= len(payload)
    assert names is None or len(names) == len(arrays)
