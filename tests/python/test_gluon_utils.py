"""gluon.utils: split_data, split_and_load, clip_global_norm."""

import numpy as np
import pytest

import mxnet as mx
from mxnet import gluon, nd
from mxnet.gluon import utils


def test_split_data_even_and_uneven():
    data = nd.array(np.arange(10).reshape(5, 2))
    with pytest.raises(ValueError, match='even_split=False'):
        utils.split_data(data, 2)
    parts = utils.split_data(data, 2, even_split=False)
    assert [p.shape for p in parts] == [(3, 2), (2, 2)]
    np.testing.assert_array_equal(np.concatenate([p.asnumpy() for p in parts]),
                                  data.asnumpy())
    assert len(utils.split_data(data, 1)) == 1
    with pytest.raises(ValueError, match='Too many slices'):
        utils.split_data(data, 6, even_split=False)


def test_split_data_along_axis_1():
    data = nd.array(np.arange(12).reshape(2, 6))
    parts = utils.split_data(data, 3, batch_axis=1)
    np.testing.assert_array_equal(parts[1].asnumpy(), [[2, 3], [8, 9]])


def test_split_and_load_single_context():
    parts = utils.split_and_load(np.ones((4, 3), dtype=np.float32), [mx.cpu()])
    assert len(parts) == 1
    assert parts[0].shape == (4, 3)
    assert parts[0].context == mx.cpu()


def test_clip_global_norm_scales_in_place():
    arrays = [nd.ones((2, 2)) * 3, nd.ones((3,)) * 4]
    expected_norm = np.sqrt(4 * 9 + 3 * 16)
    norm = utils.clip_global_norm(arrays, 1.0)
    assert isinstance(norm, float)
    assert norm == pytest.approx(expected_norm, rel=1e-6)
    scale = 1.0 / (expected_norm + 1e-8)
    np.testing.assert_allclose(arrays[0].asnumpy(), np.full((2, 2), 3 * scale), rtol=1e-5)
    np.testing.assert_allclose(arrays[1].asnumpy(), np.full(3, 4 * scale), rtol=1e-5)
    new_norm = np.sqrt(sum((a.asnumpy() ** 2).sum() for a in arrays))
    assert new_norm == pytest.approx(1.0, rel=1e-5)


def test_clip_global_norm_below_max_is_unchanged():
    arrays = [nd.array([0.3, 0.4])]
    norm = utils.clip_global_norm(arrays, 5.0, check_isfinite=False)
    assert isinstance(norm, nd.NDArray)
    np.testing.assert_allclose(norm.asnumpy(), [0.5], rtol=1e-6)
    np.testing.assert_allclose(arrays[0].asnumpy(), [0.3, 0.4], rtol=1e-6)


def test_clip_global_norm_warns_on_nan():
    with pytest.warns(UserWarning, match='nan or inf'):
        utils.clip_global_norm([nd.array([np.nan, 1.0])], 1.0)
    with pytest.raises(ValueError, match='at least one'):
        utils.clip_global_norm([], 1.0)


def test_check_sha1(tmp_path):
    path = tmp_path / 'file.bin'
    path.write_bytes(b'abc')
    assert utils.check_sha1(str(path), 'a9993e364706816aba3e25717850c26c9cd0d89d')
    assert not utils.check_sha1(str(path), '0' * 40)
    assert gluon.utils is utils
