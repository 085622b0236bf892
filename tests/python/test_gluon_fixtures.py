"""Gluon against values and messages recorded from MXNet 1.9.1 (tests/fixtures)."""

import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from fixtures import fixture_path, load_behaviour, load_npz


def test_stale_gradient_message_matches_mxnet():
    expected = load_behaviour()['stale_gradient']
    layer = nn.Dense(2, in_units=3, prefix='dense0_')
    layer.initialize()
    trainer = gluon.Trainer(layer.collect_params(), 'sgd')
    with autograd.record():
        out = layer(nd.ones((1, 3)))
    out.backward()
    trainer.step(1)
    with pytest.raises(UserWarning) as info:
        trainer.step(1)
    assert expected['type'] == 'UserWarning'
    assert str(info.value) == expected['message']


@pytest.mark.parametrize('case', ['in_units_given', 'in_units_deferred'])
def test_uninitialized_error_type_matches_mxnet(case):
    expected = load_behaviour()['uninitialized_parameter'][case]
    prefix = 'dense1_' if case == 'in_units_given' else 'dense2_'
    kwargs = {'in_units': 3} if case == 'in_units_given' else {}
    layer = nn.Dense(2, prefix=prefix, **kwargs)
    with pytest.raises(RuntimeError) as info:
        layer(nd.ones((1, 3)))
    assert expected['type'] == 'RuntimeError'
    # Our message words the fix differently but names the same parameter.
    assert ("Parameter '%sweight'" % prefix) in expected['message']
    assert ("Parameter '%sweight'" % prefix) in str(info.value)


def _trainer_net(arrays):
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(5, in_units=4, activation='tanh'), nn.Dense(2, in_units=5))
    net.initialize()
    params = net._collect_params_with_prefix()
    for name, param in params.items():
        param.set_data(nd.array(arrays['init__' + name]))
    return net, params


@pytest.mark.parametrize('run,optimizer_params', [
    ('sgd', {'learning_rate': 0.1, 'momentum': 0.9, 'wd': 0.0001}),
    ('adam', {'learning_rate': 0.01, 'wd': 0.0001}),
])
def test_trainer_steps_match_mxnet(run, optimizer_params):
    arrays = load_npz('trainer')
    net, params = _trainer_net(arrays)
    trainer = gluon.Trainer(net.collect_params(), run, optimizer_params)
    data = nd.array(arrays['data'])
    label = nd.array(arrays['label'])
    loss_fn = gluon.loss.L2Loss()
    for step in (1, 2, 3):
        with autograd.record():
            loss = loss_fn(net(data), label)
        loss.backward()
        np.testing.assert_allclose(loss.asnumpy(), arrays['%s__loss%d' % (run, step)],
                                   rtol=1e-5, atol=1e-6)
        trainer.step(6)
        for name, param in params.items():
            np.testing.assert_allclose(param.data().asnumpy(),
                                       arrays['%s__step%d__%s' % (run, step, name)],
                                       rtol=1e-5, atol=1e-6, err_msg='%s step %d' % (name, step))


def _mlp():
    net = nn.HybridSequential(prefix='hybridsequential0_')
    with net.name_scope():
        net.add(nn.Dense(8, in_units=4, activation='relu'), nn.BatchNorm(in_channels=8),
                nn.Dense(3, in_units=8))
    return net


def _check_mlp(net, arrays):
    for name, param in net._collect_params_with_prefix().items():
        np.testing.assert_array_equal(param.data().asnumpy(), arrays['param__' + name],
                                      err_msg=name)
    out = net(nd.array(arrays['x'])).asnumpy()
    np.testing.assert_allclose(out, arrays['out'], rtol=1e-5, atol=1e-6)


def test_load_structural_params_file():
    arrays = load_npz('gluon_mlp')
    net = _mlp()
    net.load_parameters(str(fixture_path('gluon_mlp.params')))
    _check_mlp(net, arrays)


def test_load_stripped_legacy_params_file():
    arrays = load_npz('gluon_mlp')
    net = _mlp()
    net.load_parameters(str(fixture_path('gluon_mlp_stripped.params')))
    _check_mlp(net, arrays)


def test_load_full_name_params_file():
    arrays = load_npz('gluon_mlp')
    net = _mlp()
    net.collect_params().load(str(fixture_path('gluon_mlp_fullnames.params')))
    _check_mlp(net, arrays)


def test_saved_files_use_mxnet_keys(tmp_path):
    arrays = load_npz('gluon_mlp')
    net = _mlp()
    net.load_parameters(str(fixture_path('gluon_mlp.params')))

    structural = str(tmp_path / 'structural.params')
    net.save_parameters(structural)
    assert list(nd.load(structural).keys()) == list(arrays['keys'])

    full = str(tmp_path / 'full.params')
    net.collect_params().save(full)
    assert list(nd.load(full).keys()) == list(arrays['fullname_keys'])

    stripped = str(tmp_path / 'stripped.params')
    net.collect_params().save(stripped, strip_prefix=net.prefix)
    assert list(nd.load(stripped).keys()) == list(arrays['stripped_keys'])
    for key, value in nd.load(stripped).items():
        np.testing.assert_array_equal(value.asnumpy(),
                                      arrays['fullparam__hybridsequential0_' + key])


def test_mlp_default_context_is_cpu():
    net = _mlp()
    net.load_parameters(str(fixture_path('gluon_mlp.params')))
    assert net[0].weight.list_ctx() == [mx.cpu()]
