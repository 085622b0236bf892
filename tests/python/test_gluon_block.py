"""Block and HybridBlock: naming, registration, deferred init, errors, save and load."""

import re
import warnings

import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn


# ---- naming and prefix rules ------------------------------------------------------------------

def test_prefix_counts_per_class_outside_scope():
    first = nn.Dense(2)
    second = nn.Dense(2)
    match_first = re.fullmatch(r'dense(\d+)_', first.prefix)
    match_second = re.fullmatch(r'dense(\d+)_', second.prefix)
    assert match_first
    assert match_second
    assert int(match_second.group(1)) == int(match_first.group(1)) + 1
    assert first.name == first.prefix[:-1]
    assert first.weight.name == first.prefix + 'weight'


def test_prefix_inside_name_scope_counts_per_parent():
    net = nn.HybridSequential(prefix='net_')
    with net.name_scope():
        net.add(nn.Dense(3), nn.Dense(4), nn.BatchNorm(), nn.Conv2D(2, 3), nn.MaxPool2D())
    other = nn.HybridSequential(prefix='other_')
    with other.name_scope():
        other.add(nn.Dense(3))

    assert [child.prefix for child in net._children.values()] == [
        'net_dense0_', 'net_dense1_', 'net_batchnorm0_', 'net_conv0_', 'net_pool0_']
    assert other[0].prefix == 'other_dense0_'
    assert list(net.collect_params().keys()) == [
        'net_dense0_weight', 'net_dense0_bias', 'net_dense1_weight', 'net_dense1_bias',
        'net_batchnorm0_gamma', 'net_batchnorm0_beta', 'net_batchnorm0_running_mean',
        'net_batchnorm0_running_var', 'net_conv0_weight', 'net_conv0_bias']


def test_activation_child_prefix():
    net = nn.Sequential(prefix='model_')
    with net.name_scope():
        net.add(nn.Dense(10, activation='relu'))
    assert net[0].act.prefix == 'model_dense0_relu_'
    assert nn.Activation('tanh').prefix.startswith('tanh')


def test_explicit_prefix_and_shared_params():
    first = nn.Dense(3, in_units=2, prefix='shared_')
    second = nn.Dense(3, in_units=2, params=first.collect_params())
    assert second.weight is first.weight
    assert second.bias is first.bias


def test_nested_custom_block_names():
    class Net(gluon.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.encoder = nn.Dense(4)
                self.decoder = nn.Dense(2)
                self.scale = self.params.get('scale', shape=(1,))

        def hybrid_forward(self, F, x, scale):
            return self.decoder(self.encoder(x)) * scale

    net = Net(prefix='net_')
    assert set(net.collect_params().keys()) == {
        'net_scale', 'net_dense0_weight', 'net_dense0_bias', 'net_dense1_weight',
        'net_dense1_bias'}
    assert set(net._collect_params_with_prefix().keys()) == {
        'scale', 'encoder.weight', 'encoder.bias', 'decoder.weight', 'decoder.bias'}


# ---- collect_params ---------------------------------------------------------------------------

def test_collect_params_select_matches_from_start():
    net = nn.HybridSequential(prefix='net_')
    with net.name_scope():
        net.add(nn.Dense(3), nn.BatchNorm())
    weights = net.collect_params('.*weight')
    assert list(weights.keys()) == ['net_dense0_weight']
    # re.match anchors at the start, so a bare suffix selects nothing.
    assert list(net.collect_params('weight').keys()) == []
    both = net.collect_params('.*weight|.*gamma')
    assert list(both.keys()) == ['net_dense0_weight', 'net_batchnorm0_gamma']


def test_setattr_registers_children_and_params():
    class Net(gluon.Block):
        def __init__(self):
            super().__init__(prefix='n_')
            with self.name_scope():
                self.layer = nn.Dense(2)
                self.weight = self.params.get('weight', shape=(2, 2))

    net = Net()
    assert list(net._children.keys()) == ['layer']
    assert list(net._reg_params.keys()) == ['weight']
    with pytest.raises(TypeError):
        net.layer = 5


def test_unregistered_container_warns():
    class Net(gluon.Block):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Dense(2)]

    with pytest.warns(UserWarning, match='unregistered container'):
        Net().collect_params()


# ---- containers -------------------------------------------------------------------------------

def test_sequential_getitem_len_and_slice():
    net = nn.HybridSequential(prefix='s_')
    with net.name_scope():
        net.add(nn.Dense(3), nn.Dense(4), nn.Dense(5))
    assert len(net) == 3
    assert net[1].prefix == 's_dense1_'
    assert net[-1] is list(net._children.values())[2]
    head = net[:2]
    assert isinstance(head, nn.HybridSequential)
    assert len(head) == 2
    assert head[0] is net[0]


def test_hybrid_sequential_rejects_plain_block():
    net = nn.HybridSequential()
    with pytest.raises(ValueError, match='HybridSequential'):
        net.add(nn.Lambda(lambda x: x))


def test_sequential_forward_matches_numpy():
    net = nn.Sequential()
    with net.name_scope():
        net.add(nn.Dense(3, in_units=2), nn.Lambda('relu'))
    net.initialize(mx.init.Normal(1.0))
    x = np.array([[1.0, -2.0], [0.5, 0.25]], dtype=np.float32)
    weight = net[0].weight.data().asnumpy()
    expected = np.maximum(x @ weight.T, 0)
    np.testing.assert_allclose(net(nd.array(x)).asnumpy(), expected, rtol=1e-5, atol=1e-6)


def test_lambda_and_hybrid_lambda():
    x = nd.array([[-1.0, 2.0]])
    np.testing.assert_allclose(nn.Lambda('tanh')(x).asnumpy(), np.tanh([[-1.0, 2.0]]),
                               rtol=1e-6)
    double = nn.HybridLambda(lambda F, a: F.relu(a) * 2)
    np.testing.assert_allclose(double(x).asnumpy(), [[0.0, 4.0]])
    with pytest.raises(ValueError, match='not found'):
        nn.Lambda('no_such_operator')


# ---- hooks, apply, hybridize, cast, repr ------------------------------------------------------

def test_forward_hooks_run_and_detach():
    layer = nn.Dense(2, in_units=2)
    layer.initialize()
    calls = []
    pre = layer.register_forward_pre_hook(lambda block, args: calls.append(('pre', len(args))))
    post = layer.register_forward_hook(
        lambda block, args, out: calls.append(('post', out.shape)))
    layer(nd.ones((1, 2)))
    assert calls == [('pre', 1), ('post', (1, 2))]
    pre.detach()
    post.detach()
    layer(nd.ones((1, 2)))
    assert len(calls) == 2


def test_apply_visits_children_before_parent():
    net = nn.HybridSequential(prefix='a_')
    with net.name_scope():
        net.add(nn.Dense(2), nn.Dense(2))
    visited = []
    assert net.apply(lambda block: visited.append(block.prefix)) is net
    assert visited == ['a_dense0_', 'a_dense1_', 'a_']


def test_hybridize_sets_flags_recursively_and_output_unchanged():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    net.initialize()
    x = nd.array([[1.0, 2.0]])
    before = net(x).asnumpy()
    net.hybridize(static_alloc=True)
    assert net._active
    assert net[0]._active
    assert net[1]._active
    assert net[0]._flags['static_alloc'] is True
    np.testing.assert_array_equal(net(x).asnumpy(), before)


def test_cast_keeps_batchnorm_float32():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(2, in_units=2), nn.BatchNorm(in_channels=2))
    net.initialize()
    net.cast('float16')
    assert net[0].weight.data().dtype == np.float16
    assert net[1].gamma.data().dtype == np.float32


def test_repr_shows_layers():
    net = nn.Sequential()
    with net.name_scope():
        net.add(nn.Dense(10, activation='relu', in_units=4), nn.Dense(1))
    text = repr(net)
    assert text.startswith('Sequential(\n')
    assert '(0): Dense(4 -> 10, Activation(relu))' in text
    assert '(1): Dense(None -> 1, linear)' in text


# ---- initialization and deferred init ---------------------------------------------------------

def test_forward_without_initialize_names_parameter():
    layer = nn.Dense(2, in_units=3, prefix='uninit_')
    with pytest.raises(RuntimeError) as info:
        layer(nd.ones((1, 3)))
    message = str(info.value)
    assert "'uninit_weight'" in message
    assert 'initialize()' in message


def test_deferred_forward_without_initialize_names_parameter():
    layer = nn.Dense(2, prefix='lazy_')
    with pytest.raises(RuntimeError) as info:
        layer(nd.ones((1, 3)))
    assert "'lazy_weight'" in str(info.value)
    assert 'initialize()' in str(info.value)


def test_deferred_shape_inference_dense_conv_batchnorm():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, padding=1), nn.BatchNorm(), nn.Flatten(), nn.Dense(5))
    net.initialize()
    assert net[0].weight.shape == (4, 0, 3, 3)
    with pytest.raises(gluon.DeferredInitializationError, match='deferred'):
        net[0].weight.data()

    out = net(nd.ones((2, 3, 6, 6)))
    assert out.shape == (2, 5)
    assert net[0].weight.shape == (4, 3, 3, 3)
    assert net[1].gamma.shape == (4,)
    assert net[1].running_var.shape == (4,)
    assert net[3].weight.shape == (5, 4 * 6 * 6)
    np.testing.assert_array_equal(net[1].running_var.data().asnumpy(), np.ones(4))


def test_dense_flatten_false_infers_last_axis():
    layer = nn.Dense(3, flatten=False)
    layer.initialize()
    assert layer(nd.ones((2, 5, 7))).shape == (2, 5, 3)
    assert layer.weight.shape == (3, 7)


def test_deferred_failure_names_parameter_and_layer():
    class Scale(gluon.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.alpha = self.params.get('alpha', shape=(0,), allow_deferred_init=True)

        def hybrid_forward(self, F, x, alpha):
            return F.broadcast_mul(x, alpha)

    block = Scale(prefix='scale_')
    block.initialize()
    with pytest.raises(gluon.DeferredInitializationError) as info:
        block(nd.ones((2, 3)))
    message = str(info.value)
    assert "'scale_alpha'" in message
    assert "'scale'" in message
    assert 'in_units' in message
    assert 'in_channels' in message


def test_initialize_twice_warns_and_force_reinit():
    layer = nn.Dense(2, in_units=2)
    layer.initialize(mx.init.Constant(1.0))
    with pytest.warns(UserWarning, match='already initialized'):
        layer.initialize()
    layer.initialize(mx.init.Constant(3.0), force_reinit=True)
    np.testing.assert_array_equal(layer.weight.data().asnumpy(), np.full((2, 2), 3.0))
    # The bias keeps its own 'zeros' initializer.
    np.testing.assert_array_equal(layer.bias.data().asnumpy(), np.zeros(2))


def test_default_initializer_is_uniform_007():
    layer = nn.Dense(200, in_units=100)
    layer.initialize()
    values = layer.weight.data().asnumpy()
    assert np.abs(values).max() <= 0.07
    assert np.abs(values).max() > 0.06
    assert abs(values.std() - 0.07 / np.sqrt(3)) < 0.002


# ---- save and load ----------------------------------------------------------------------------

def _mlp(prefix=None):
    net = nn.HybridSequential(prefix=prefix)
    with net.name_scope():
        net.add(nn.Dense(4, in_units=3, activation='relu'), nn.BatchNorm(in_channels=4),
                nn.Dense(2, in_units=4))
    return net


def test_save_load_parameters_round_trip(tmp_path):
    net = _mlp()
    net.initialize(mx.init.Xavier())
    path = str(tmp_path / 'net.params')
    net.save_parameters(path)

    saved = nd.load(path)
    assert list(saved.keys()) == ['0.weight', '0.bias', '1.gamma', '1.beta',
                                  '1.running_mean', '1.running_var', '2.weight', '2.bias']

    other = _mlp()
    other.load_parameters(path)
    for (name, a), b in zip(net.collect_params().items(), other.collect_params().values()):
        np.testing.assert_array_equal(a.data().asnumpy(), b.data().asnumpy(), err_msg=name)
    x = nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(net(x).asnumpy(), other(x).asnumpy())


def test_load_parameters_completes_deferred_shapes(tmp_path):
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(4, in_units=3))
    net.initialize()
    path = str(tmp_path / 'dense.params')
    net.save_parameters(path)

    lazy = nn.HybridSequential()
    with lazy.name_scope():
        lazy.add(nn.Dense(4))
    lazy.load_parameters(path)
    assert lazy[0].weight.shape == (4, 3)


def test_load_parameters_legacy_full_names(tmp_path):
    net = _mlp(prefix='model_')
    net.initialize(mx.init.Normal(1.0))
    path = str(tmp_path / 'legacy.params')
    net.collect_params().save(path, strip_prefix='model_')
    assert set(nd.load(path).keys()) == {
        'dense0_weight', 'dense0_bias', 'batchnorm0_gamma', 'batchnorm0_beta',
        'batchnorm0_running_mean', 'batchnorm0_running_var', 'dense1_weight', 'dense1_bias'}

    other = _mlp(prefix='model_')
    other.load_parameters(path)
    np.testing.assert_array_equal(other[2].weight.data().asnumpy(),
                                  net[2].weight.data().asnumpy())


def test_load_parameters_missing_and_extra(tmp_path):
    small = nn.HybridSequential()
    with small.name_scope():
        small.add(nn.Dense(4, in_units=3))
    small.initialize()
    path = str(tmp_path / 'small.params')
    small.save_parameters(path)

    big = nn.HybridSequential()
    with big.name_scope():
        big.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    with pytest.raises(AssertionError, match="'1.weight' is missing"):
        big.load_parameters(path)
    big.load_parameters(path, allow_missing=True)
    np.testing.assert_array_equal(big[0].weight.data().asnumpy(),
                                  small[0].weight.data().asnumpy())

    big.initialize(force_reinit=True)
    big_path = str(tmp_path / 'big.params')
    big.save_parameters(big_path)
    with pytest.raises(ValueError, match="'1.weight' loaded from file"):
        small.load_parameters(big_path)
    small.load_parameters(big_path, ignore_extra=True)


def test_load_parameters_shape_mismatch(tmp_path):
    net = nn.Dense(4, in_units=3)
    net.initialize()
    path = str(tmp_path / 'd.params')
    net.save_parameters(path)
    wrong = nn.Dense(4, in_units=5)
    with pytest.raises(AssertionError, match='shape incompatible'):
        wrong.load_parameters(path)


def test_save_parameters_deduplicate_shared(tmp_path):
    class Tied(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.first = nn.Dense(3, in_units=3)
                self.second = nn.Dense(3, in_units=3, params=self.first.params)

        def hybrid_forward(self, F, x):
            return self.second(self.first(x))

    net = Tied()
    net.initialize()
    assert net.second.weight is net.first.weight
    path = str(tmp_path / 'tied.params')
    net.save_parameters(path)
    assert set(nd.load(path).keys()) == {'first.weight', 'first.bias', 'second.weight',
                                         'second.bias'}
    # deduplicate keeps the last structural name of a shared parameter.
    net.save_parameters(path, deduplicate=True)
    assert set(nd.load(path).keys()) == {'second.weight', 'second.bias'}
    other = Tied()
    other.load_parameters(path)
    np.testing.assert_array_equal(other.first.weight.data().asnumpy(),
                                  net.first.weight.data().asnumpy())


def test_backward_through_block_sets_parameter_grads():
    layer = nn.Dense(1, in_units=2, use_bias=False)
    layer.initialize(mx.init.Constant(0.5))
    x = nd.array([[1.0, 2.0], [3.0, 4.0]])
    with autograd.record():
        y = layer(x).sum()
    y.backward()
    np.testing.assert_allclose(layer.weight.grad().asnumpy(), [[4.0, 6.0]])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        layer.collect_params().zero_grad()
    np.testing.assert_array_equal(layer.weight.grad().asnumpy(), [[0.0, 0.0]])
