"""Learning-rate schedules, called as ``scheduler(num_update)``.

The formulas and the stateful update rules follow Apache MXNet 1.9.1 exactly, so a
training script gets the same learning rate at every step as it did with MXNet.
"""
import logging
import math

__all__ = ['LRScheduler', 'FactorScheduler', 'MultiFactorScheduler', 'PolyScheduler',
           'CosineScheduler']

_log = logging.getLogger(__name__)


class LRScheduler(object):
    """Base class of learning-rate schedules, with an optional warmup phase.

    Parameters
    ----------
    base_lr : float
        Learning rate reached at the end of the warmup.
    warmup_steps : int
        Number of updates that use the warmup rate.
    warmup_begin_lr : float
        Learning rate at update 0 of the warmup.
    warmup_mode : {'linear', 'constant'}
        'linear' ramps from ``warmup_begin_lr`` to ``base_lr``, 'constant' stays at
        ``warmup_begin_lr`` during the whole warmup.
    """

    def __init__(self, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0, warmup_mode='linear'):
        self.base_lr = base_lr
        if not isinstance(warmup_steps, int):
            raise TypeError('LRScheduler: warmup_steps must be an int, got %r of type %s'
                            % (warmup_steps, type(warmup_steps).__name__))
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        if self.warmup_begin_lr > self.warmup_final_lr:
            raise ValueError('LRScheduler: warmup_begin_lr (%g) must not exceed base_lr (%g)'
                             % (warmup_begin_lr, base_lr))
        if self.warmup_steps < 0:
            raise ValueError('LRScheduler: warmup_steps must be 0 or positive, got %d'
                             % warmup_steps)
        if warmup_mode not in ('linear', 'constant'):
            raise ValueError("LRScheduler: warmup_mode must be 'linear' or 'constant', got %r"
                             % (warmup_mode,))
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update):
        """Return the warmup learning rate for an update index below ``warmup_steps``."""
        if num_update >= self.warmup_steps:
            raise ValueError('get_warmup_lr: num_update %d is not inside the warmup of %d steps'
                             % (num_update, self.warmup_steps))
        if self.warmup_mode == 'linear':
            increase = ((self.warmup_final_lr - self.warmup_begin_lr)
                        * float(num_update) / float(self.warmup_steps))
            return self.warmup_begin_lr + increase
        return self.warmup_begin_lr

    def __call__(self, num_update):
        """Return the learning rate for update ``num_update`` (counted from 0)."""
        raise NotImplementedError('%s must implement __call__' % type(self).__name__)


class FactorScheduler(LRScheduler):
    """Multiply the learning rate by ``factor`` every ``step`` updates.

    The rate after ``n`` updates is ``base_lr * factor ** floor((n - 1) / step)``, floored
    at ``stop_factor_lr``. The scheduler is stateful: it only moves forward, so calling it
    with a smaller ``num_update`` after a larger one returns the later rate.
    """

    def __init__(self, step, factor=1, stop_factor_lr=1e-8, base_lr=0.01, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode='linear'):
        super(FactorScheduler, self).__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise ValueError('FactorScheduler: step must be at least 1 update, got %r' % (step,))
        if factor > 1.0:
            raise ValueError('FactorScheduler: factor must be at most 1 so the rate decreases, '
                             'got %r' % (factor,))
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)

        # A loop, not a single check, so that resuming at a late update applies every
        # decay that was skipped.
        while num_update > self.count + self.step:
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                _log.info('Update[%d]: learning rate reached stop_factor_lr %0.5e and will '
                          'not change any more', num_update, self.base_lr)
            else:
                _log.info('Update[%d]: changed learning rate to %0.5e', num_update, self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the learning rate by ``factor`` once the update count passes each entry of
    ``step`` (a strictly increasing list of update indices)."""

    def __init__(self, step, factor=1, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode='linear'):
        super(MultiFactorScheduler, self).__init__(base_lr, warmup_steps, warmup_begin_lr,
                                                   warmup_mode)
        if not isinstance(step, list) or len(step) < 1:
            raise ValueError('MultiFactorScheduler: step must be a non-empty list of update '
                             'indices, got %r' % (step,))
        for i, boundary in enumerate(step):
            if i != 0 and step[i] <= step[i - 1]:
                raise ValueError('MultiFactorScheduler: step must be strictly increasing, got %r'
                                 % (step,))
            if boundary < 1:
                raise ValueError('MultiFactorScheduler: every step must be at least 1, got %r'
                                 % (step,))
        if factor > 1.0:
            raise ValueError('MultiFactorScheduler: factor must be at most 1 so the rate '
                             'decreases, got %r' % (factor,))
        self.step = step
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)

        # A loop so that resuming at a late update applies every boundary it passed.
        while self.cur_step_ind <= len(self.step) - 1:
            if num_update > self.step[self.cur_step_ind]:
                self.count = self.step[self.cur_step_ind]
                self.cur_step_ind += 1
                self.base_lr *= self.factor
                _log.info('Update[%d]: changed learning rate to %0.5e', num_update, self.base_lr)
            else:
                return self.base_lr
        return self.base_lr


class PolyScheduler(LRScheduler):
    """Polynomial decay from ``base_lr`` to ``final_lr`` over ``max_update`` updates.

    After the warmup, ``lr = final_lr + (base_lr - final_lr) * (1 - t / T) ** pwr`` with
    ``t = num_update - warmup_steps`` and ``T = max_update - warmup_steps``. Past
    ``max_update`` the last computed rate is kept.
    """

    def __init__(self, max_update, base_lr=0.01, pwr=2, final_lr=0, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode='linear'):
        super(PolyScheduler, self).__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(max_update, int):
            raise TypeError('PolyScheduler: max_update must be an int, got %r' % (max_update,))
        if max_update < 1:
            raise ValueError('PolyScheduler: max_update must be at least 1, got %d' % max_update)
        self.power = pwr
        # NOTE: like MXNet 1.9.1, the curve uses the base_lr given here. An optimizer that
        # later assigns scheduler.base_lr only changes the rate until the next call.
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            progress = float(num_update - self.warmup_steps) / float(self.max_steps)
            self.base_lr = (self.final_lr
                            + (self.base_lr_orig - self.final_lr) * pow(1 - progress, self.power))
        return self.base_lr


class CosineScheduler(LRScheduler):
    """Cosine decay from ``base_lr`` to ``final_lr`` over ``max_update`` updates.

    After the warmup, ``lr = final_lr + (base_lr - final_lr) * (1 + cos(pi * t / T)) / 2``
    with ``t = num_update - warmup_steps`` and ``T = max_update - warmup_steps``. Past
    ``max_update`` the last computed rate is kept.
    """

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode='linear'):
        super(CosineScheduler, self).__init__(base_lr, warmup_steps, warmup_begin_lr,
                                              warmup_mode)
        if not isinstance(max_update, int):
            raise TypeError('CosineScheduler: max_update must be an int, got %r' % (max_update,))
        if max_update < 1:
            raise ValueError('CosineScheduler: max_update must be at least 1, got %d'
                             % max_update)
        # NOTE: as in PolyScheduler, the curve uses the base_lr given to the constructor.
        self.base_lr_orig = base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            progress = float(num_update - self.warmup_steps) / float(self.max_steps)
            self.base_lr = (self.final_lr
                            + (self.base_lr_orig - self.final_lr)
                            * (1 + math.cos(math.pi * progress)) / 2)
        return self.base_lr
