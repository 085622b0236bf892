"""Tests of mx.lr_scheduler against hand-computed values and NumPy formulas."""
import json
import math
import os

import numpy as np
import pytest

from mxnet import lr_scheduler


def _run(scheduler, updates):
    return [scheduler(n) for n in updates]


def test_base_class_call_not_implemented():
    with pytest.raises(NotImplementedError):
        lr_scheduler.LRScheduler()(0)


def test_linear_warmup_values():
    sched = lr_scheduler.FactorScheduler(step=5, factor=0.5, base_lr=1.0, warmup_steps=4,
                                         warmup_begin_lr=0.2)
    np.testing.assert_allclose(_run(sched, range(4)), [0.2, 0.4, 0.6, 0.8])
    assert sched(4) == 1.0


def test_constant_warmup_values():
    sched = lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, warmup_steps=3,
                                       warmup_begin_lr=0.05, warmup_mode='constant')
    assert _run(sched, range(3)) == [0.05, 0.05, 0.05]


def test_get_warmup_lr_outside_warmup():
    sched = lr_scheduler.FactorScheduler(step=5, warmup_steps=2)
    with pytest.raises(ValueError, match='not inside the warmup'):
        sched.get_warmup_lr(2)


def test_factor_scheduler_values():
    sched = lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    # lr(n) = 0.5 ** floor((n - 1) / 2) for n >= 1, and 1 at n = 0.
    expected = [1.0] + [0.5 ** ((n - 1) // 2) for n in range(1, 12)]
    np.testing.assert_allclose(_run(sched, range(12)), expected)


def test_factor_scheduler_stop_factor_lr():
    sched = lr_scheduler.FactorScheduler(step=1, factor=0.1, stop_factor_lr=1e-3, base_lr=1.0)
    np.testing.assert_allclose(_run(sched, range(1, 8)),
                               [1.0, 0.1, 0.01, 0.001, 1e-3, 1e-3, 1e-3])


def test_factor_scheduler_resume_late_update():
    sched = lr_scheduler.FactorScheduler(step=3, factor=0.5, base_lr=2.0)
    # Updates 4, 7 and 10 each passed a boundary: three decays at once.
    assert sched(10) == pytest.approx(2.0 * 0.5 ** 3)
    assert sched.count == 9


def test_factor_scheduler_is_monotonic_state():
    sched = lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    sched(9)
    # The state does not move back for an earlier update index.
    assert sched(1) == pytest.approx(0.0625)


def test_multifactor_scheduler_values():
    sched = lr_scheduler.MultiFactorScheduler(step=[3, 6], factor=0.1, base_lr=1.0)
    expected = [1.0] * 4 + [0.1] * 3 + [0.01] * 3
    np.testing.assert_allclose(_run(sched, range(10)), expected)
    assert sched.cur_step_ind == 2
    assert sched.count == 6


def test_multifactor_scheduler_with_warmup():
    sched = lr_scheduler.MultiFactorScheduler(step=[5], factor=0.5, base_lr=0.4,
                                              warmup_steps=2, warmup_begin_lr=0.0)
    np.testing.assert_allclose(_run(sched, range(8)), [0.0, 0.2, 0.4, 0.4, 0.4, 0.4, 0.2, 0.2])


def _poly_reference(n, max_update, base_lr, pwr, final_lr, warmup_steps):
    n = np.minimum(np.asarray(n, dtype=np.float64), max_update)
    progress = (n - warmup_steps) / (max_update - warmup_steps)
    return final_lr + (base_lr - final_lr) * (1 - progress) ** pwr


def _cosine_reference(n, max_update, base_lr, final_lr, warmup_steps):
    n = np.minimum(np.asarray(n, dtype=np.float64), max_update)
    progress = (n - warmup_steps) / (max_update - warmup_steps)
    return final_lr + (base_lr - final_lr) * (1 + np.cos(np.pi * progress)) / 2


def test_poly_scheduler_hand_value():
    sched = lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, pwr=2, final_lr=0.1)
    assert sched(5) == pytest.approx(0.1 + 0.9 * 0.25)
    assert sched(10) == pytest.approx(0.1)
    assert sched(20) == pytest.approx(0.1)


@pytest.mark.parametrize('pwr,warmup_steps', [(1, 0), (2, 0), (3, 4), (0.5, 2)])
def test_poly_scheduler_matches_numpy(pwr, warmup_steps):
    sched = lr_scheduler.PolyScheduler(max_update=30, base_lr=0.5, pwr=pwr, final_lr=0.01,
                                       warmup_steps=warmup_steps, warmup_begin_lr=0.0)
    updates = np.arange(warmup_steps, 40)
    expected = _poly_reference(updates, 30, 0.5, pwr, 0.01, warmup_steps)
    np.testing.assert_allclose(_run(sched, updates), expected, rtol=1e-12)


def test_cosine_scheduler_hand_values():
    sched = lr_scheduler.CosineScheduler(max_update=10, base_lr=1.0, final_lr=0.0)
    assert sched(0) == pytest.approx(1.0)
    assert sched(5) == pytest.approx(0.5)
    assert sched(3) == pytest.approx((1 + math.cos(0.3 * math.pi)) / 2)
    assert sched(10) == pytest.approx(0.0, abs=1e-15)
    assert sched(11) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize('warmup_steps', [0, 5])
def test_cosine_scheduler_matches_numpy(warmup_steps):
    sched = lr_scheduler.CosineScheduler(max_update=25, base_lr=0.1, final_lr=0.001,
                                         warmup_steps=warmup_steps, warmup_begin_lr=0.01)
    warmup = _run(sched, range(warmup_steps))
    np.testing.assert_allclose(warmup, 0.01 + (0.1 - 0.01) * np.arange(warmup_steps)
                               / max(warmup_steps, 1))
    updates = np.arange(warmup_steps, 30)
    expected = _cosine_reference(updates, 25, 0.1, 0.001, warmup_steps)
    np.testing.assert_allclose(_run(sched, updates), expected, rtol=1e-12)


def test_poly_scheduler_keeps_constructor_base_lr():
    # MXNet 1.9.1 behaviour: assigning base_lr afterwards (as an optimizer does) is
    # overwritten by the next call, which uses the constructor's base_lr.
    sched = lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, pwr=1)
    sched.base_lr = 0.3
    assert sched(0) == pytest.approx(1.0)


@pytest.mark.parametrize('kwargs,error,message', [
    (dict(warmup_begin_lr=0.5, base_lr=0.1), ValueError, 'must not exceed base_lr'),
    (dict(warmup_steps=-1), ValueError, 'warmup_steps must be 0 or positive'),
    (dict(warmup_steps=2.0), TypeError, 'warmup_steps must be an int'),
    (dict(warmup_mode='cosine'), ValueError, "'linear' or 'constant'"),
])
def test_base_argument_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        lr_scheduler.LRScheduler(**kwargs)


def test_subclass_argument_errors():
    with pytest.raises(ValueError, match='step must be at least 1'):
        lr_scheduler.FactorScheduler(step=0)
    with pytest.raises(ValueError, match='factor must be at most 1'):
        lr_scheduler.FactorScheduler(step=1, factor=1.5)
    with pytest.raises(ValueError, match='strictly increasing'):
        lr_scheduler.MultiFactorScheduler(step=[5, 5])
    with pytest.raises(ValueError, match='at least 1'):
        lr_scheduler.MultiFactorScheduler(step=[0, 5])
    with pytest.raises(ValueError, match='non-empty list'):
        lr_scheduler.MultiFactorScheduler(step=(1, 2))
    with pytest.raises(ValueError, match='max_update must be at least 1'):
        lr_scheduler.PolyScheduler(max_update=0)
    with pytest.raises(TypeError, match='max_update must be an int'):
        lr_scheduler.CosineScheduler(max_update=10.0)


def _load_fixture_schedules():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures',
                        'lr_schedulers.json')
    with open(path, encoding='utf-8') as stream:
        return json.load(stream)


@pytest.mark.parametrize('entry', _load_fixture_schedules(),
                         ids=lambda entry: '%s-%s' % (entry['class'], entry['kwargs']))
def test_matches_mxnet_fixture(entry):
    scheduler = getattr(lr_scheduler, entry['class'])(**entry['kwargs'])
    values = [scheduler(n) for n in entry['num_update']]
    np.testing.assert_allclose(values, entry['values'], rtol=1e-12, atol=0)
