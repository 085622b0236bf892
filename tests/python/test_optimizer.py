"""mx.optimizer: update rules against numpy implementations of MXNet 1.9.1's formulas."""

import math
import pickle

import numpy as np
import pytest

import mxnet as mx
from mxnet import nd


RNG = np.random.RandomState(5)


def _clip(grad, clip_gradient):
    if clip_gradient is None or clip_gradient <= 0:
        return grad
    return np.clip(grad, -clip_gradient, clip_gradient)


def _run(optimizer, weight, grads, index=0):
    """Apply ``grads`` in turn through an Updater; return the final weight as numpy."""
    updater = mx.optimizer.get_updater(optimizer)
    arr = nd.array(weight)
    for grad in grads:
        updater(index, nd.array(grad), arr)
    return arr.asnumpy(), updater


WEIGHT = RNG.randn(3, 4).astype(np.float32)
GRADS = [RNG.randn(3, 4).astype(np.float32) for _ in range(4)]


@pytest.mark.parametrize('clip_gradient', [None, 0.3])
def test_sgd_without_momentum(clip_gradient):
    lr, wd, rescale = 0.1, 0.01, 0.5
    opt = mx.optimizer.SGD(learning_rate=lr, wd=wd, rescale_grad=rescale,
                           clip_gradient=clip_gradient)
    result, updater = _run(opt, WEIGHT, GRADS)
    w = WEIGHT.astype(np.float64)
    for g in GRADS:
        w = (1 - lr * wd) * w - lr * _clip(rescale * g, clip_gradient)
    np.testing.assert_allclose(result, w, rtol=1e-5, atol=1e-6)
    assert updater.states[0] is None


@pytest.mark.parametrize('clip_gradient', [None, 0.3])
def test_sgd_with_momentum(clip_gradient):
    lr, wd, rescale, momentum = 0.1, 0.01, 0.5, 0.9
    opt = mx.optimizer.SGD(learning_rate=lr, wd=wd, rescale_grad=rescale, momentum=momentum,
                           clip_gradient=clip_gradient)
    result, _ = _run(opt, WEIGHT, GRADS)
    w = WEIGHT.astype(np.float64)
    mom = np.zeros_like(w)
    for g in GRADS:
        mom = momentum * mom - lr * wd * w - lr * _clip(rescale * g, clip_gradient)
        w = w + mom
    np.testing.assert_allclose(result, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('clip_gradient', [None, 0.3])
def test_adam_with_bias_correction(clip_gradient):
    lr, wd, rescale, beta1, beta2, eps = 0.01, 0.01, 0.5, 0.9, 0.999, 1e-8
    opt = mx.optimizer.Adam(learning_rate=lr, wd=wd, rescale_grad=rescale,
                            clip_gradient=clip_gradient)
    result, _ = _run(opt, WEIGHT, GRADS)
    w = WEIGHT.astype(np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(GRADS, start=1):
        g = _clip(rescale * g + wd * w, clip_gradient)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        lr_t = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        w = w - lr_t * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(result, w, rtol=1e-5, atol=1e-6)


def test_adam_counts_updates_per_index():
    opt = mx.optimizer.Adam()
    updater = mx.optimizer.get_updater(opt)
    first, second = nd.ones((2,)), nd.ones((2,))
    for _ in range(3):
        updater(0, nd.ones((2,)), first)
    updater(1, nd.ones((2,)), second)
    assert opt._index_update_count == {0: 3, 1: 1}
    assert opt.num_update == 3
    # With bias correction the first step moves each weight by about lr.
    np.testing.assert_allclose(second.asnumpy(), [1 - 0.001, 1 - 0.001], rtol=1e-5)


def test_nag_momentum():
    lr, wd, momentum = 0.1, 0.01, 0.9
    opt = mx.optimizer.NAG(learning_rate=lr, wd=wd, momentum=momentum, clip_gradient=0.5)
    result, _ = _run(opt, WEIGHT, GRADS)
    w = WEIGHT.astype(np.float64)
    mom = np.zeros_like(w)
    for g in GRADS:
        step = _clip(g, 0.5) + wd * w
        mom = momentum * mom - lr * step
        w = w + momentum * mom - lr * step
    np.testing.assert_allclose(result, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('centered', [False, True])
def test_rmsprop(centered):
    lr, wd, gamma1, gamma2, eps = 0.01, 0.01, 0.9, 0.8, 1e-8
    opt = mx.optimizer.RMSProp(learning_rate=lr, wd=wd, gamma1=gamma1, gamma2=gamma2,
                               epsilon=eps, centered=centered, clip_weights=0.9)
    result, _ = _run(opt, WEIGHT, GRADS)
    w = WEIGHT.astype(np.float64)
    n = np.zeros_like(w)
    mean = np.zeros_like(w)
    delta = np.zeros_like(w)
    for g in GRADS:
        g = g + wd * w
        n = (1 - gamma1) * g * g + gamma1 * n
        if centered:
            mean = (1 - gamma1) * g + gamma1 * mean
            delta = gamma2 * delta - lr * g / np.sqrt(n - mean * mean + eps)
            w = w + delta
        else:
            w = w - lr * g / np.sqrt(n + eps)
        w = np.clip(w, -0.9, 0.9)
    np.testing.assert_allclose(result, w, rtol=1e-4, atol=1e-6)


def test_adagrad():
    lr, wd, eps = 0.1, 0.01, 1e-7
    opt = mx.optimizer.AdaGrad(learning_rate=lr, wd=wd, eps=eps, rescale_grad=2.0)
    result, _ = _run(opt, WEIGHT, GRADS)
    w = WEIGHT.astype(np.float64)
    history = np.zeros_like(w)
    for g in GRADS:
        g = 2.0 * g
        history += g * g
        w = w - lr * (g / np.sqrt(history + eps) + wd * w)
    np.testing.assert_allclose(result, w, rtol=1e-5, atol=1e-6)


def test_create_and_register():
    assert isinstance(mx.optimizer.create('SGD'), mx.optimizer.SGD)
    assert isinstance(mx.optimizer.Optimizer.create_optimizer('adam'), mx.optimizer.Adam)
    with pytest.raises(ValueError, match='Cannot find optimizer'):
        mx.optimizer.create('no_such_optimizer')

    @mx.optimizer.register
    class HalfStep(mx.optimizer.Optimizer):
        def update(self, index, weight, grad, state):
            weight[:] = weight - 0.5 * grad

    opt = mx.optimizer.create('halfstep')
    result, _ = _run(opt, np.ones(2, dtype=np.float32), [np.ones(2, dtype=np.float32)])
    np.testing.assert_allclose(result, [0.5, 0.5])


def test_default_learning_rates():
    assert mx.optimizer.SGD().learning_rate == 0.01
    assert mx.optimizer.Adam().learning_rate == 0.001
    assert mx.optimizer.RMSProp().learning_rate == 0.001


def test_lr_and_wd_multipliers():
    opt = mx.optimizer.SGD(learning_rate=1.0, wd=0.1,
                           param_idx2name={0: 'fc_weight', 1: 'fc_bias'})
    assert opt._get_wd(1) == 0.0  # names not ending in _weight/_gamma get no decay
    assert opt._get_wd(0) == pytest.approx(0.1)
    opt.set_lr_mult({'fc_weight': 0.5})
    assert opt._get_lr(0) == 0.5
    assert opt._get_lr(1) == 1.0
    opt.set_wd_mult({'fc_bias': 2.0})
    assert opt._get_wd(1) == pytest.approx(0.2)


def test_param_dict_multipliers_take_precedence():
    class FakeParam:
        lr_mult = 0.1
        wd_mult = 3.0

    opt = mx.optimizer.SGD(learning_rate=2.0, wd=0.5, param_dict={0: FakeParam()})
    assert opt._get_lr(0) == pytest.approx(0.2)
    assert opt._get_wd(0) == pytest.approx(1.5)


def test_lr_scheduler_and_set_learning_rate():
    class Halving:
        def __init__(self):
            self.base_lr = 0.01

        def __call__(self, num_update):
            return self.base_lr / (2 ** num_update)

    scheduler = Halving()
    with pytest.warns(UserWarning, match='overwritten by learning_rate=0.8'):
        opt = mx.optimizer.SGD(learning_rate=0.8, lr_scheduler=scheduler)
    assert scheduler.base_lr == 0.8
    opt._update_count(0)
    assert opt.learning_rate == pytest.approx(0.4)
    with pytest.raises(UserWarning, match='LRScheduler'):
        opt.set_learning_rate(0.1)

    plain = mx.optimizer.SGD(learning_rate=0.1)
    plain.set_learning_rate(0.3)
    assert plain.learning_rate == 0.3


def test_begin_num_update():
    opt = mx.optimizer.SGD(begin_num_update=10)
    opt._update_count(0)
    assert opt.num_update == 11
    assert opt._index_update_count[0] == 11


def test_multi_precision_keeps_float32_master():
    opt = mx.optimizer.SGD(learning_rate=0.1, multi_precision=True)
    updater = mx.optimizer.get_updater(opt)
    weight = nd.array([1.0, 2.0], dtype='float16')
    updater(0, nd.array([1.0, 1.0], dtype='float16'), weight)
    # SGD keeps MXNet 1.9.1's state order (momentum, float32 master copy).
    _, master = updater.states[0]
    assert master.dtype == np.float32
    np.testing.assert_allclose(master.asnumpy(), [0.9, 1.9], rtol=1e-6)
    assert weight.dtype == np.float16
    np.testing.assert_allclose(weight.asnumpy(), [0.9, 1.9], rtol=1e-3)

    adam = mx.optimizer.Adam(multi_precision=True)
    state = adam.create_state_multi_precision(0, nd.ones((2,), dtype='float16'))
    assert state[0].dtype == np.float32
    assert len(state[1]) == 2


def test_updater_states_round_trip():
    opt = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9)
    _, updater = _run(opt, WEIGHT, GRADS[:2])
    blob = updater.get_states(dump_optimizer=True)
    restored = mx.optimizer.get_updater(mx.optimizer.SGD())
    restored.set_states(blob)
    assert restored.optimizer.momentum == 0.9
    np.testing.assert_array_equal(restored.states[0].asnumpy(), updater.states[0].asnumpy())
    assert restored.states_synced == {0: False}

    only_states = mx.optimizer.get_updater(mx.optimizer.SGD(momentum=0.5))
    only_states.set_states(updater.get_states())
    assert only_states.optimizer.momentum == 0.5


def test_optimizer_pickle_drops_param_dict():
    opt = mx.optimizer.SGD(param_dict={0: object()})
    restored = pickle.loads(pickle.dumps(opt))
    assert restored.param_dict == {}
    assert restored.lr == opt.lr
