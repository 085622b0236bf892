"""mx.init: dispatch rules, registry, JSON form and the statistics of random initializers."""

import json

import numpy as np
import pytest

import mxnet as mx
from mxnet import nd


def _init(initializer, shape, name='layer_weight', attrs=None):
    arr = nd.zeros(shape)
    initializer(mx.init.InitDesc(name, attrs), arr)
    return arr.asnumpy()


def test_init_module_aliases_initializer():
    assert mx.init.Xavier is mx.initializer.Xavier
    assert mx.init.create is mx.initializer.create


@pytest.mark.parametrize('suffix,expected', [('bias', 0.0), ('gamma', 1.0), ('beta', 0.0),
                                             ('min', 0.0), ('max', 1.0)])
def test_suffix_dispatch(suffix, expected):
    values = _init(mx.init.Uniform(5.0), (3,), name='layer_' + suffix)
    np.testing.assert_array_equal(values, np.full(3, expected))


def test_unknown_suffix_raises():
    with pytest.raises(ValueError, match='Unknown initialization pattern for layer_thing'):
        _init(mx.init.Uniform(), (2,), name='layer_thing')


def test_init_attr_overrides_name():
    values = _init(mx.init.Uniform(), (2, 2), name='layer_bias',
                   attrs={'__init__': mx.init.Constant(7.0).dumps()})
    np.testing.assert_array_equal(values, np.full((2, 2), 7.0))
    ones = _init(mx.init.Uniform(), (2,), name='anything', attrs={'__init__': 'ones'})
    np.testing.assert_array_equal(ones, [1.0, 1.0])


def test_legacy_string_names():
    init = mx.init.Uniform(5.0)
    arr = nd.ones((2,)) * 9
    init('bn_moving_var', arr)
    np.testing.assert_array_equal(arr.asnumpy(), [1.0, 1.0])
    init('bn_moving_mean', arr)
    np.testing.assert_array_equal(arr.asnumpy(), [0.0, 0.0])


def test_registry_aliases_and_create():
    assert isinstance(mx.init.create('zeros'), mx.init.Zero)
    assert isinstance(mx.init.create('ONES'), mx.init.One)
    assert isinstance(mx.init.create('msraprelu'), mx.init.MSRAPrelu)
    xavier = mx.init.create('xavier', magnitude=2)
    assert xavier.magnitude == 2.0
    instance = mx.init.Normal()
    assert mx.init.create(instance) is instance
    with pytest.raises(ValueError, match='unknown initializer'):
        mx.init.create('nonexistent')


def test_dumps_round_trip():
    xavier = mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2)
    assert json.loads(xavier.dumps()) == [
        'xavier', {'rnd_type': 'gaussian', 'factor_type': 'in', 'magnitude': 2}]
    rebuilt = mx.init.create(xavier.dumps())
    assert (rebuilt.rnd_type, rebuilt.factor_type, rebuilt.magnitude) == ('gaussian', 'in', 2.0)
    assert json.loads(mx.init.MSRAPrelu().dumps()) == [
        'msraprelu', {'factor_type': 'avg', 'slope': 0.25}]
    assert mx.init.Zero().dumps() == '["zero", {}]'


def test_register_custom_initializer():
    @mx.init.register
    class FortyTwo(mx.init.Initializer):
        def _init_weight(self, _, arr):
            arr[:] = 42

    values = _init(mx.init.create('fortytwo'), (2,))
    np.testing.assert_array_equal(values, [42.0, 42.0])


def test_constant_zero_one():
    np.testing.assert_array_equal(_init(mx.init.Constant(2.5), (2, 2)), np.full((2, 2), 2.5))
    np.testing.assert_array_equal(_init(mx.init.Constant([1.0, 2.0]), (2, 2)),
                                  [[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_array_equal(_init(mx.init.Zero(), (3,)), np.zeros(3))
    np.testing.assert_array_equal(_init(mx.init.One(), (3,)), np.ones(3))


def test_uniform_bounds_and_spread():
    values = _init(mx.init.Uniform(0.2), (200, 100))
    assert values.min() >= -0.2
    assert values.max() <= 0.2
    assert values.min() < -0.19
    assert values.max() > 0.19
    assert abs(values.mean()) < 0.005
    assert abs(values.std() - 0.2 / np.sqrt(3)) < 0.003


def test_normal_sigma():
    values = _init(mx.init.Normal(0.5), (200, 100))
    assert abs(values.mean()) < 0.02
    assert abs(values.std() - 0.5) < 0.01


@pytest.mark.parametrize('factor_type', ['avg', 'in', 'out'])
def test_xavier_uniform_bound_uses_fans(factor_type):
    shape = (64, 32, 3, 3)
    fan_in, fan_out = 32 * 9, 64 * 9
    factor = {'avg': (fan_in + fan_out) / 2.0, 'in': fan_in, 'out': fan_out}[factor_type]
    bound = np.sqrt(3.0 / factor)
    values = _init(mx.init.Xavier(factor_type=factor_type), shape)
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.98 * bound
    assert abs(values.std() - bound / np.sqrt(3)) < 0.03 * bound


def test_xavier_gaussian_std():
    values = _init(mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2),
                   (300, 200))
    assert abs(values.std() - np.sqrt(2.0 / 200)) < 0.002


def test_xavier_rejects_vectors_and_bad_options():
    with pytest.raises(ValueError, match='at least 2 dimensions'):
        _init(mx.init.Xavier(), (5,))
    with pytest.raises(ValueError, match='factor_type'):
        mx.init.Xavier(factor_type='median')
    with pytest.raises(ValueError, match='rnd_type'):
        mx.init.Xavier(rnd_type='triangular')


def test_msraprelu_std():
    slope = 0.25
    values = _init(mx.init.MSRAPrelu(factor_type='in', slope=slope), (256, 128, 2, 2))
    expected = np.sqrt(2.0 / (1 + slope ** 2) / (128 * 4))
    assert abs(values.std() - expected) < 0.02 * expected
    assert abs(values.mean()) < 0.05 * expected


@pytest.mark.parametrize('shape', [(4, 10), (10, 4), (6, 2, 3)])
def test_orthogonal_rows_or_columns(shape):
    values = _init(mx.init.Orthogonal(scale=2.0), shape)
    flat = values.reshape(shape[0], -1) / 2.0
    if flat.shape[0] <= flat.shape[1]:
        np.testing.assert_allclose(flat @ flat.T, np.eye(flat.shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(flat.T @ flat, np.eye(flat.shape[1]), atol=1e-5)


def test_bilinear_and_lstm_bias():
    kernel = _init(mx.init.Bilinear(), (1, 1, 4, 4))
    f = 2.0
    center = (2 * f - 1 - f % 2) / (2 * f)
    line = 1 - np.abs(np.arange(4) / f - center)
    np.testing.assert_allclose(kernel[0, 0], np.outer(line, line), rtol=1e-6)
    bias = _init(mx.init.LSTMBias(forget_bias=2.0), (8,), name='lstm_bias',
                 attrs={'__init__': mx.init.LSTMBias(2.0)})
    np.testing.assert_array_equal(bias, [0, 0, 2, 2, 0, 0, 0, 0])


def test_mixed_picks_first_match():
    mixed = mx.init.Mixed(['conv.*', '.*'], [mx.init.Constant(1.0), mx.init.Constant(2.0)])
    conv = nd.zeros((2,))
    dense = nd.zeros((2,))
    mixed('conv0_weight', conv)
    mixed('dense0_weight', dense)
    np.testing.assert_array_equal(conv.asnumpy(), [1.0, 1.0])
    np.testing.assert_array_equal(dense.asnumpy(), [2.0, 2.0])
    # A plain name goes through the suffix rules: the bias of a Constant initializer is 0.
    bias = nd.ones((2,))
    mixed('conv0_bias', bias)
    np.testing.assert_array_equal(bias.asnumpy(), [0.0, 0.0])
    with pytest.raises(ValueError, match='matches none'):
        mx.init.Mixed(['conv.*'], [mx.init.Zero()])('dense0_weight', dense)


def test_load_initializer(tmp_path):
    path = str(tmp_path / 'init.params')
    nd.save(path, {'arg:fc_weight': nd.array([[1.0, 2.0]])})
    loader = mx.init.Load(path, default_init=mx.init.Constant(5.0))
    weight = nd.zeros((1, 2))
    loader('fc_weight', weight)
    np.testing.assert_array_equal(weight.asnumpy(), [[1.0, 2.0]])
    other = nd.zeros((3,))
    loader('fc2_weight', other)
    np.testing.assert_array_equal(other.asnumpy(), [5.0, 5.0, 5.0])
    with pytest.raises(ValueError, match='shape'):
        loader('fc_weight', nd.zeros((2, 2)))
    with pytest.raises(ValueError, match='no default_init'):
        mx.init.Load(path)('fc2_weight', other)


def test_dense_uses_block_initializer_for_weight_only():
    layer = mx.gluon.nn.Dense(3, in_units=2)
    layer.initialize(mx.init.Constant(0.5))
    np.testing.assert_array_equal(layer.weight.data().asnumpy(), np.full((3, 2), 0.5))
    np.testing.assert_array_equal(layer.bias.data().asnumpy(), np.zeros(3))
