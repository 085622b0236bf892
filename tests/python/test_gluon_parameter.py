"""Parameter, Constant and ParameterDict."""

import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd, gluon, nd


def test_parameter_initialize_and_access():
    param = gluon.Parameter('w', shape=(2, 3), init=mx.init.Constant(2.0))
    param.initialize()
    np.testing.assert_array_equal(param.data().asnumpy(), np.full((2, 3), 2.0))
    assert param.list_ctx() == [mx.cpu()]
    assert len(param.list_data()) == 1
    np.testing.assert_array_equal(param.grad().asnumpy(), np.zeros((2, 3)))
    assert param.data(mx.cpu()) is param.data()
    assert repr(param).startswith('Parameter w (shape=(2, 3)')


def test_parameter_int_shape_and_dtype():
    param = gluon.Parameter('v', shape=4, dtype='float64')
    assert param.shape == (4,)
    param.initialize(mx.init.Zero())
    assert param.data().dtype == np.float64


def test_uninitialized_access_names_parameter():
    param = gluon.Parameter('lonely_weight', shape=(2,))
    for access in (param.data, param.list_data, param.grad, param.list_ctx):
        with pytest.raises(RuntimeError) as info:
            access()
        assert "'lonely_weight'" in str(info.value)
        assert 'initialize()' in str(info.value)


def test_invalid_shape_without_deferred_init():
    param = gluon.Parameter('w', shape=(0, 3))
    with pytest.raises(ValueError, match="'w'.*invalid shape"):
        param.initialize()


def test_deferred_init_finishes_when_shape_known():
    param = gluon.Parameter('w', shape=(0, 3), allow_deferred_init=True)
    param.initialize(mx.init.One())
    with pytest.raises(gluon.DeferredInitializationError, match="'w'"):
        param.data()
    param.shape = (2, 3)
    param._finish_deferred_init()
    np.testing.assert_array_equal(param.data().asnumpy(), np.ones((2, 3)))


def test_shape_setter_rejects_known_dims():
    param = gluon.Parameter('w', shape=(0, 3))
    param.shape = (5, 3)
    with pytest.raises(ValueError, match='incompatible'):
        param.shape = (5, 4)


def test_grad_req_values():
    param = gluon.Parameter('w', shape=(2,))
    param.initialize()
    param.grad_req = 'null'
    with pytest.raises(RuntimeError, match="grad_req='null'"):
        param.grad()
    param.grad_req = 'add'
    assert param.grad().shape == (2,)
    with pytest.raises(ValueError, match="'write', 'add' or 'null'"):
        param.grad_req = 'sometimes'
    frozen = gluon.Parameter('f', shape=(2,), differentiable=False)
    assert frozen.grad_req == 'null'


def test_grad_req_add_accumulates_and_zero_grad():
    param = gluon.Parameter('w', shape=(3,), grad_req='add', init=mx.init.Constant(2.0))
    param.initialize()
    for _ in range(2):
        with autograd.record():
            y = (param.data() * param.data()).sum()
        y.backward()
    np.testing.assert_allclose(param.grad().asnumpy(), np.full(3, 8.0))
    param.zero_grad()
    np.testing.assert_array_equal(param.grad().asnumpy(), np.zeros(3))


def test_set_data_before_and_after_init():
    param = gluon.Parameter('w', shape=(0,), allow_deferred_init=True)
    param.initialize()
    param.set_data(nd.array([1.0, 2.0]))
    param._finish_deferred_init()
    np.testing.assert_array_equal(param.data().asnumpy(), [1.0, 2.0])
    param.set_data(nd.array([5.0, 6.0]))
    np.testing.assert_array_equal(param.data().asnumpy(), [5.0, 6.0])


def test_cast_parameter():
    param = gluon.Parameter('w', shape=(2,), init=mx.init.One())
    param.initialize()
    param.cast('float64')
    assert param.dtype == 'float64'
    assert param.data().dtype == np.float64
    assert param.grad().dtype == np.float64


def test_reset_ctx_keeps_value():
    param = gluon.Parameter('w', shape=(2,), init=mx.init.Constant(4.0))
    param.initialize()
    param.reset_ctx(mx.cpu(0))
    np.testing.assert_array_equal(param.data().asnumpy(), [4.0, 4.0])
    unset = gluon.Parameter('u', shape=(2,))
    with pytest.raises(ValueError, match="'u'"):
        unset.reset_ctx(mx.cpu())


def test_var_attributes_match_mxnet():
    net = gluon.nn.Dense(3, in_units=4, prefix='dense0_')
    net.initialize()
    var = net.weight.var()
    assert var.name == 'dense0_weight'
    assert var is net.weight.var()
    # The attributes MXNet 1.9.1 gives the same parameter's variable.
    assert var.list_attr() == {'__storage_type__': '0', '__dtype__': '0', '__wd_mult__': '1.0',
                               'wd_mult': '1.0', '__lr_mult__': '1.0', 'lr_mult': '1.0',
                               '__shape__': '(3, 4)'}


def test_constant():
    const = gluon.Constant('c', [[1.0, 2.0]])
    assert const.grad_req == 'null'
    const.initialize()
    np.testing.assert_array_equal(const.data().asnumpy(), [[1.0, 2.0]])
    with pytest.warns(UserWarning, match='does not support grad_req'):
        const.grad_req = 'write'
    assert const.grad_req == 'null'


def test_parameter_dict_get_and_shared():
    params = gluon.ParameterDict('net_')
    weight = params.get('weight', shape=(2, 0))
    assert weight.name == 'net_weight'
    # Asking again with a compatible shape fills in the unknown dimension.
    assert params.get('weight', shape=(2, 5)) is weight
    assert weight.shape == (2, 5)
    with pytest.raises(AssertionError, match="attribute 'shape'"):
        params.get('weight', shape=(3, 5))

    shared = gluon.ParameterDict('net_', shared=params)
    assert shared.get('weight') is weight
    assert list(shared.keys()) == ['net_weight']


def test_parameter_dict_update_conflict():
    first = gluon.ParameterDict('a_')
    first.get('w', shape=(1,))
    second = gluon.ParameterDict('a_')
    second.get('w', shape=(1,))
    merged = gluon.ParameterDict()
    merged.update(first)
    merged.update(first)
    with pytest.raises(ValueError, match="'a_w'"):
        merged.update(second)


def test_parameter_dict_get_constant():
    params = gluon.ParameterDict('p_')
    const = params.get_constant('c', [3.0])
    assert isinstance(const, gluon.Constant)
    assert params.get_constant('c') is const
    with pytest.raises(KeyError, match="'p_missing'"):
        params.get_constant('missing')


def test_parameter_dict_setattr_and_initialize():
    params = gluon.ParameterDict('p_')
    params.get('weight', shape=(2, 2))
    params.get('bias', shape=(2,), init='zeros')
    params.initialize(mx.init.One())
    np.testing.assert_array_equal(params['p_weight'].data().asnumpy(), np.ones((2, 2)))
    np.testing.assert_array_equal(params['p_bias'].data().asnumpy(), np.zeros(2))
    params.setattr('grad_req', 'add')
    assert all(p.grad_req == 'add' for p in params.values())
    params.setattr('lr_mult', 0.5)
    assert params['p_bias'].lr_mult == 0.5
    assert params.list_ctx() == [mx.cpu()]


def test_parameter_dict_save_load(tmp_path):
    params = gluon.ParameterDict('net_')
    params.get('weight', shape=(2, 3), init=mx.init.Normal(1.0))
    params.get('bias', shape=(2,), init=mx.init.Normal(1.0))
    params.initialize()
    path = str(tmp_path / 'p.params')
    params.save(path, strip_prefix='net_')
    assert set(nd.load(path).keys()) == {'weight', 'bias'}
    with pytest.raises(ValueError, match="does not start with 'other_'"):
        params.save(path + '.bad', strip_prefix='other_')

    loaded = gluon.ParameterDict('net_')
    loaded.get('weight', shape=(2, 3))
    loaded.get('bias', shape=(2,))
    loaded.load(path, restore_prefix='net_')
    np.testing.assert_array_equal(loaded['net_weight'].data().asnumpy(),
                                  params['net_weight'].data().asnumpy())


def test_parameter_dict_load_missing_extra_and_dtype(tmp_path):
    path = str(tmp_path / 'p.params')
    nd.save(path, {'w': nd.ones((2,)), 'extra': nd.ones((1,))})

    params = gluon.ParameterDict()
    params.get('w', shape=(2,))
    params.get('missing', shape=(2,))
    with pytest.raises(AssertionError, match="'missing' is missing"):
        params.load(path, ignore_extra=True)
    with pytest.raises(AssertionError, match="'extra'.*ignore_extra"):
        params.load(path, allow_missing=True)
    params.load(path, allow_missing=True, ignore_extra=True)
    np.testing.assert_array_equal(params['w'].data().asnumpy(), [1.0, 1.0])

    wide = gluon.ParameterDict()
    wide.get('w', shape=(2,), dtype='float64')
    with pytest.raises(AssertionError, match='cast_dtype=True'):
        wide.load(path, ignore_extra=True)
    wide.load(path, ignore_extra=True, cast_dtype=True)
    assert wide['w'].data().dtype == np.float64


def test_load_dict_strips_arg_aux():
    params = gluon.ParameterDict('net_')
    params.get('weight', shape=(1, 2))
    params.get('running_mean', shape=(2,))
    params.load_dict({'arg:net_weight': nd.array([[1.0, 2.0]]),
                      'aux:net_running_mean': nd.array([3.0, 4.0])})
    np.testing.assert_array_equal(params['net_weight'].data().asnumpy(), [[1.0, 2.0]])
    np.testing.assert_array_equal(params['net_running_mean'].data().asnumpy(), [3.0, 4.0])
