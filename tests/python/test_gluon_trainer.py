"""Gluon Trainer: rescaling, stale gradients, learning rate, states and a full training loop."""

import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn


def _dense_with_grad(grad_value=1.0, prefix=None):
    """Return an initialized Dense(1, in_units=2) whose weight/bias gradients were computed."""
    layer = nn.Dense(1, in_units=2, prefix=prefix)
    layer.initialize(mx.init.Constant(1.0))
    layer.bias.set_data(nd.zeros((1,)))
    x = nd.array([[grad_value, grad_value]])
    with autograd.record():
        out = layer(x)
    out.backward()
    return layer


def test_step_rescales_by_batch_size():
    layer = _dense_with_grad(4.0)
    trainer = gluon.Trainer(layer.collect_params(), 'sgd', {'learning_rate': 0.5})
    trainer.step(2)
    # w = 1 - lr * grad / batch_size = 1 - 0.5 * 4 / 2
    np.testing.assert_allclose(layer.weight.data().asnumpy(), [[0.0, 0.0]])
    np.testing.assert_allclose(layer.bias.data().asnumpy(), [-0.25])
    assert trainer.optimizer.rescale_grad == 0.5


def test_step_scale_uses_original_rescale_grad():
    layer = _dense_with_grad(1.0)
    optimizer = mx.optimizer.SGD(learning_rate=1.0, rescale_grad=3.0)
    trainer = gluon.Trainer(layer.collect_params(), optimizer)
    trainer.step(4)
    assert trainer.optimizer.rescale_grad == 0.75
    np.testing.assert_allclose(layer.weight.data().asnumpy(), [[0.25, 0.25]])


def test_stale_gradient_raises_user_warning():
    layer = _dense_with_grad(1.0, prefix='stale_')
    trainer = gluon.Trainer(layer.collect_params(), 'sgd', {'learning_rate': 0.1})
    trainer.step(1)
    with pytest.raises(UserWarning) as info:
        trainer.step(1)
    message = str(info.value)
    assert 'Gradient of Parameter `stale_' in message
    assert 'on context cpu(0)' in message
    assert 'ignore_stale_grad=True' in message


def test_ignore_stale_grad_skips_update():
    layer = _dense_with_grad(1.0)
    trainer = gluon.Trainer(layer.collect_params(), 'sgd', {'learning_rate': 0.1})
    trainer.step(1)
    before = layer.weight.data().asnumpy().copy()
    trainer.step(1, ignore_stale_grad=True)
    np.testing.assert_array_equal(layer.weight.data().asnumpy(), before)


def test_null_grad_params_are_skipped():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(2, in_units=2), nn.BatchNorm(in_channels=2))
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), 'sgd')
    with autograd.record():
        out = net(nd.ones((3, 2)))
    out.backward()
    trainer.step(3)
    assert net[1].running_mean.grad_req == 'null'


def test_params_sorted_and_validated():
    params = gluon.ParameterDict()
    params.get('b', shape=(1,))
    params.get('a', shape=(1,))
    trainer = gluon.Trainer(params, 'sgd')
    assert [p.name for p in trainer._params] == ['a', 'b']
    with pytest.raises(ValueError, match='list or dict of Parameters'):
        gluon.Trainer([1, 2], 'sgd')
    with pytest.raises(ValueError, match='optimizer_params must be None'):
        gluon.Trainer(params, mx.optimizer.SGD(), {'learning_rate': 0.1})


def test_learning_rate_property_and_setter():
    layer = _dense_with_grad()
    trainer = gluon.Trainer(layer.collect_params(), 'adam')
    assert trainer.learning_rate == 0.001
    trainer.set_learning_rate(0.25)
    assert trainer.learning_rate == 0.25
    assert trainer.optimizer.lr == 0.25


def test_lr_mult_applies_per_parameter():
    layer = _dense_with_grad(1.0)
    layer.bias.lr_mult = 0.0
    trainer = gluon.Trainer(layer.collect_params(), 'sgd', {'learning_rate': 1.0})
    trainer.step(1)
    np.testing.assert_allclose(layer.bias.data().asnumpy(), [0.0])
    np.testing.assert_allclose(layer.weight.data().asnumpy(), [[0.0, 0.0]])


def test_save_and_load_states(tmp_path):
    layer = _dense_with_grad(1.0)
    trainer = gluon.Trainer(layer.collect_params(), 'sgd',
                            {'learning_rate': 0.1, 'momentum': 0.9})
    trainer.step(1)
    path = str(tmp_path / 'trainer.states')
    trainer.save_states(path)
    momentum = trainer._updaters[0].states[0].asnumpy().copy()

    other = gluon.Trainer(layer.collect_params(), 'sgd', {'learning_rate': 0.5})
    other.load_states(path)
    assert other.learning_rate == 0.1
    assert other.optimizer.momentum == 0.9
    np.testing.assert_array_equal(other._updaters[0].states[0].asnumpy(), momentum)
    assert other.optimizer.param_dict[0] is other._params[0]


def test_set_loss_and_begin_epoch():
    layer = _dense_with_grad()
    trainer = gluon.Trainer(layer.collect_params(), 'sgd')
    assert trainer.loss is None
    loss = gluon.loss.L2Loss()
    trainer.set_loss(loss)
    assert trainer.loss is loss
    trainer.begin_epoch(3)
    assert trainer.epoch == 3
    with pytest.raises(ValueError, match='non-negative int'):
        trainer.begin_epoch(-1)

    class EpochScheduler:
        base_lr = 0.1

        def __init__(self):
            self.epochs = []

        def begin_epoch(self, epoch):
            self.epochs.append(epoch)

        def __call__(self, num_update):
            return self.base_lr

    scheduler = EpochScheduler()
    scheduled = gluon.Trainer(layer.collect_params(), 'sgd', {'lr_scheduler': scheduler})
    scheduled.begin_epoch(0)
    scheduled.begin_epoch(1)
    assert scheduler.epochs == [0, 1]


def _has_second_cpu_context():
    """Return True when arrays created on cpu(1) keep that context (MXNet 1.9.1 does)."""
    try:
        return nd.zeros((1,), ctx=mx.cpu(1)).context == mx.cpu(1)
    except mx.base.MXNetError:
        return False


@pytest.mark.skipif(not _has_second_cpu_context(),
                    reason='arrays created on cpu(1) do not keep that context')
def test_multiple_contexts_sum_gradients():
    ctxs = [mx.cpu(0), mx.cpu(1)]
    layer = nn.Dense(1, in_units=2, use_bias=False)
    layer.initialize(mx.init.One(), ctx=ctxs)
    trainer = gluon.Trainer(layer.collect_params(), 'sgd', {'learning_rate': 1.0})
    data = nd.array([[1.0, 2.0], [3.0, 4.0]])
    parts = gluon.utils.split_and_load(data, ctxs)
    with autograd.record():
        outs = [layer(part) for part in parts]
    autograd.backward(outs)
    trainer.step(2)
    # Summed gradient is [4, 6]; divided by the batch size 2.
    for weight in layer.weight.list_data():
        np.testing.assert_allclose(weight.asnumpy(), [[-1.0, -2.0]])


def test_mlp_script_loss_decreases():
    mx.random.seed(42)
    symbol = nn.Sequential()
    with symbol.name_scope():
        symbol.add(nn.Dense(10, activation='relu'))
        symbol.add(nn.Dense(1, activation='sigmoid'))
    symbol.initialize()
    data = nd.random.uniform(shape=(100, 10))
    label = nd.random.uniform(shape=(100, 1)) > 0.5
    batch_size = 100
    trainer = gluon.Trainer(symbol.collect_params(), optimizer='sgd',
                            optimizer_params={'learning_rate': 0.01})
    trainer.set_loss(gluon.loss.BinaryCrossEntropyLoss())
    trainer.begin_epoch(0)
    losses = []
    for _ in range(100):
        with autograd.record():
            output = symbol(data)
            loss = gluon.loss.BinaryCrossEntropyLoss()(output, label)
        loss.backward()
        trainer.step(batch_size)
        losses.append(float(loss.mean().asscalar()))
    assert losses[-1] < losses[0]
    assert all(np.isfinite(losses))


def test_mlp_script_fails_without_initialize_or_backward():
    symbol = nn.Sequential(prefix='script_')
    with symbol.name_scope():
        symbol.add(nn.Dense(10, activation='relu'))
    with pytest.raises(RuntimeError, match="'script_dense0_weight'.*initialize"):
        symbol(nd.ones((2, 10)))

    symbol.initialize()
    trainer = gluon.Trainer(symbol.collect_params(), 'sgd')
    with autograd.record():
        symbol(nd.ones((2, 10)))
    with pytest.raises(UserWarning, match='backward'):
        trainer.step(2)
