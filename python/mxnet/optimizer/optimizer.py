"""Optimizers (``mx.optimizer``): the base class, the registry, the Updater and the update rules.

An optimizer updates one weight array at a time, identified by an integer index. Gluon's
Trainer passes ``param_dict`` (index -> Parameter) so that each parameter's ``lr_mult`` and
``wd_mult`` apply.
"""

import logging
import math
import pickle
import warnings

import numpy as np

from .. import ndarray as nd
from ..ndarray import NDArray

__all__ = ['Optimizer', 'register', 'create', 'Updater', 'get_updater',
           'SGD', 'NAG', 'Adam', 'RMSProp', 'AdaGrad']

_logger = logging.getLogger(__name__)


class Optimizer:
    """Base class of optimizers.

    Parameters
    ----------
    rescale_grad : float, default 1.0
        Every gradient is multiplied by this before the update (Trainer sets ``1/batch_size``).
    param_idx2name : dict of int to str, optional
        Parameter names by index, used for ``lr_mult``/``wd_mult`` lookups by name.
    wd : float, default 0.0
        Weight decay (L2 penalty) coefficient.
    clip_gradient : float, optional
        Clip the rescaled gradient to ``[-clip_gradient, clip_gradient]``. None or a negative
        value means no clipping.
    learning_rate : float, optional
        Defaults to 0.01 when neither a learning rate nor a scheduler is given.
    lr_scheduler : LRScheduler, optional
        Called with the update count to get the learning rate.
    sym : Symbol, optional
        Not supported yet; must be None.
    begin_num_update : int, default 0
        Starting value of the update count.
    multi_precision : bool, default False
        Keep a float32 master copy of float16 weights and update that copy.
    param_dict : dict of int to Parameter, optional
        Gluon parameters by index; their ``lr_mult`` and ``wd_mult`` take precedence.
    """

    opt_registry = {}

    # Order of the multi-precision state tuple: MXNet 1.9.1 stores (master, state) in the base
    # class but (state, master) for SGD and NAG. Keeping its order keeps pickled states from
    # save_states interchangeable.
    _master_copy_last = False

    def __init__(self, rescale_grad=1.0, param_idx2name=None, wd=0.0, clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None):
        if sym is not None:
            raise NotImplementedError('Optimizer: the sym argument (per-symbol lr_mult/wd_mult '
                                      'attributes) is not supported yet; pass param_idx2name and '
                                      'use set_lr_mult/set_wd_mult instead')
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if lr_scheduler is not None and learning_rate is not None:
            if getattr(lr_scheduler, 'base_lr', learning_rate) != learning_rate:
                warnings.warn('Optimizer: the base_lr of lr_scheduler (%s) is overwritten by '
                              'learning_rate=%s' % (lr_scheduler.base_lr, learning_rate),
                              UserWarning, stacklevel=2)
            lr_scheduler.base_lr = learning_rate

        self.wd = wd
        self.lr_mult = {}
        self.wd_mult = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        self.idx2name = dict(param_idx2name or {})
        self.param_dict = param_dict if param_dict else {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    @staticmethod
    def register(klass):
        """Register an optimizer class under its lower-case class name (a class decorator)."""
        if not (isinstance(klass, type) and issubclass(klass, Optimizer)):
            raise TypeError('Optimizer.register: expected a subclass of Optimizer, got %r'
                            % (klass,))
        name = klass.__name__.lower()
        if name in Optimizer.opt_registry:
            old = Optimizer.opt_registry[name]
            warnings.warn('Optimizer.register: new optimizer %s.%s overrides the existing '
                          'optimizer %s.%s' % (klass.__module__, klass.__name__,
                                               old.__module__, old.__name__),
                          UserWarning, stacklevel=2)
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name, **kwargs):
        """Create an optimizer from its registered name (case-insensitive)."""
        klass = Optimizer.opt_registry.get(name.lower())
        if klass is None:
            raise ValueError('Cannot find optimizer %r. Registered optimizers: %s'
                             % (name, ', '.join(sorted(Optimizer.opt_registry))))
        return klass(**kwargs)

    def __getstate__(self):
        # Parameters hold arrays and a reference to their Trainer: they are not part of the
        # optimizer's saved state, and the Trainer sets param_dict again after loading.
        state = self.__dict__.copy()
        state['param_dict'] = {}
        return state

    # ---- state and update -------------------------------------------------------------------

    def create_state(self, index, weight):
        """Create the auxiliary state (momentum and the like) for one weight; None if none."""
        return None

    def create_state_multi_precision(self, index, weight):
        """Create the state, with a float32 master copy first when the weight is float16."""
        if self.multi_precision and weight.dtype == np.float16:
            master = weight.astype(np.float32)
            if self._master_copy_last:
                return (self.create_state(index, master), master)
            return (master, self.create_state(index, master))
        if weight.dtype == np.float16 and not self.multi_precision:
            warnings.warn('Accumulating with float16 in optimizer can lead to poor accuracy or '
                          'slow convergence. Consider using multi_precision=True option of the '
                          '%s optimizer' % self.__class__.__name__, UserWarning, stacklevel=2)
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        """Update ``weight`` in place from ``grad`` and ``state``."""
        raise NotImplementedError('%s does not implement update' % self.__class__.__name__)

    def update_multi_precision(self, index, weight, grad, state):
        """Update through the float32 master copy when the weight is float16."""
        if self.multi_precision and weight.dtype == np.float16:
            if self._master_copy_last:
                inner_state, master = state
            else:
                master, inner_state = state
            self.update(index, master, grad.astype(np.float32), inner_state)
            weight[:] = master.astype(weight.dtype)
        else:
            self.update(index, weight, grad, state)

    # ---- learning rate and multipliers ------------------------------------------------------

    def set_learning_rate(self, lr):
        """Set the learning rate; not allowed when an lr_scheduler is in charge."""
        if self.lr_scheduler is not None:
            raise UserWarning('LRScheduler of the optimizer has already been defined. Note that '
                              'set_learning_rate can mutate the value of the learning rate of the '
                              'optimizer only when the LRScheduler of the optimizer is undefined.')
        self.lr = lr

    @property
    def learning_rate(self):
        """The learning rate at the current update count."""
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_lr_mult(self, args_lr_mult):
        """Set learning-rate multipliers by parameter name (or index)."""
        self.lr_mult = dict(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Set weight-decay multipliers by parameter name (or index).

        Names from ``param_idx2name`` that end in neither ``_weight`` nor ``_gamma`` get 0, so
        biases and BatchNorm betas are not decayed unless a multiplier is given.
        """
        self.wd_mult = {}
        for name in self.idx2name.values():
            if not (name.endswith('_weight') or name.endswith('_gamma')):
                self.wd_mult[name] = 0.0
        self.wd_mult.update(args_wd_mult)

    def _update_count(self, index):
        """Count one more update of ``index`` (an int or a list of ints)."""
        for idx in index if isinstance(index, (list, tuple)) else (index,):
            count = self._index_update_count.get(idx, self.begin_num_update) + 1
            self._index_update_count[idx] = count
            if count > self.num_update:
                self.num_update = count

    def _get_lrs(self, indices):
        # One scheduler call for the whole list, as in MXNet.
        lr = self.lr if self.lr_scheduler is None else self.lr_scheduler(self.num_update)
        return [self._scaled_lr(index, lr) for index in indices]

    def _get_lr(self, index):
        """Return the learning rate of ``index``, with its multiplier applied."""
        lr = self.lr if self.lr_scheduler is None else self.lr_scheduler(self.num_update)
        return self._scaled_lr(index, lr)

    def _scaled_lr(self, index, lr):
        if index in self.param_dict:
            return lr * self.param_dict[index].lr_mult
        if index in self.lr_mult:
            return lr * self.lr_mult[index]
        if index in self.idx2name:
            return lr * self.lr_mult.get(self.idx2name[index], 1.0)
        return lr

    def _get_wds(self, indices):
        return [self._get_wd(index) for index in indices]

    def _get_wd(self, index):
        """Return the weight decay of ``index``, with its multiplier applied."""
        if index in self.param_dict:
            return self.wd * self.param_dict[index].wd_mult
        if index in self.wd_mult:
            return self.wd * self.wd_mult[index]
        if index in self.idx2name:
            return self.wd * self.wd_mult.get(self.idx2name[index], 1.0)
        return self.wd

    def _clip_kwargs(self):
        # The fused ops treat a negative clip_gradient as "no clipping"; 0 and None mean the same.
        if self.clip_gradient:
            return {'clip_gradient': self.clip_gradient}
        return {}

    def _rescale_and_clip(self, grad):
        """Return ``clip(rescale_grad * grad)`` as a new array (for the plain-arithmetic rules)."""
        grad = grad * self.rescale_grad
        if self.clip_gradient is not None and self.clip_gradient > 0:
            grad = nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        return grad


register = Optimizer.register
create = Optimizer.create_optimizer


def _zeros_like(weight):
    return nd.zeros(weight.shape, ctx=weight.context, dtype=weight.dtype)


@register
class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum.

    Without momentum: ``w = (1 - lr*wd)*w - lr*clip(rescale_grad*g)``.
    With momentum: ``mom = momentum*mom - lr*wd*w - lr*clip(rescale_grad*g)``, then ``w += mom``.

    Parameters
    ----------
    momentum : float, default 0.0
    lazy_update : bool, default True
        Only affects row_sparse gradients; accepted for compatibility.
    """

    _master_copy_last = True

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        if self.momentum == 0.0:
            return None
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        # A clip_gradient of None or 0 drops the attribute (no clipping).
        clip = self.clip_gradient or None
        if state is not None:
            nd.sgd_mom_update(weight, grad, state, out=weight, momentum=self.momentum, lr=lr, wd=wd,
                              rescale_grad=self.rescale_grad, clip_gradient=clip)
        else:
            nd.sgd_update(weight, grad, out=weight, lr=lr, wd=wd, rescale_grad=self.rescale_grad,
                          clip_gradient=clip)


@register
class NAG(Optimizer):
    """Nesterov accelerated gradient.

    With ``g = clip(rescale_grad*grad) + wd*w``: ``mom = momentum*mom - lr*g`` and
    ``w += momentum*mom - lr*g``. Without momentum it is plain SGD.

    Parameters
    ----------
    momentum : float, default 0.0
    """

    _master_copy_last = True

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index, weight):
        if self.momentum == 0.0:
            return None
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        step = self._rescale_and_clip(grad) + wd * weight
        if state is None:
            weight[:] = weight - lr * step
            return
        # NOTE: MXNet 1.9.1's nag_mom_update, called with out=weight, reads the already
        # updated weight for the wd term of the stored momentum. Here both use the old weight,
        # so the momentum differs from MXNet's when wd != 0 (the weight after each step agrees).
        state[:] = self.momentum * state - lr * step
        weight[:] = weight + self.momentum * state - lr * step


@register
class Adam(Optimizer):
    """Adam (Kingma and Ba, 2014).

    With ``g = clip(rescale_grad*grad + wd*w)``: ``m = beta1*m + (1-beta1)*g``,
    ``v = beta2*v + (1-beta2)*g^2`` and ``w -= lr_t*m/(sqrt(v) + epsilon)``, where
    ``lr_t = lr*sqrt(1-beta2^t)/(1-beta1^t)`` and ``t`` counts this weight's updates.

    Parameters
    ----------
    learning_rate : float, default 0.001
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-8
    lazy_update : bool, default True
        Only affects row_sparse gradients; accepted for compatibility.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)

        t = self._index_update_count[index]
        lr *= math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)

        mean, var = state
        nd.adam_update(weight, grad, mean, var, lr=lr, beta1=self.beta1, beta2=self.beta2,
                       epsilon=self.epsilon, wd=wd, rescale_grad=self.rescale_grad,
                       out=weight, **self._clip_kwargs())


@register
class RMSProp(Optimizer):
    """RMSProp (Tieleman and Hinton, 2012), or the centered form (Graves, 2013).

    With ``g = clip(rescale_grad*grad + wd*w)``:

    * plain: ``n = (1-gamma1)*g^2 + gamma1*n`` and ``w -= lr*g/sqrt(n + epsilon)``;
    * centered: also ``m = (1-gamma1)*g + gamma1*m``,
      ``delta = gamma2*delta - lr*g/sqrt(n - m^2 + epsilon)`` and ``w += delta``.

    Parameters
    ----------
    learning_rate : float, default 0.001
    gamma1 : float, default 0.9
    gamma2 : float, default 0.9
        Momentum of the centered form.
    epsilon : float, default 1e-8
    centered : bool, default False
    clip_weights : float, optional
        Clip the weights to ``[-clip_weights, clip_weights]`` after each update.
    """

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8,
                 centered=False, clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.epsilon = epsilon
        self.centered = centered
        self.clip_weights = clip_weights

    def create_state(self, index, weight):
        if self.centered:
            return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))
        return (_zeros_like(weight),)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)

        g = grad * self.rescale_grad + wd * weight
        if self.clip_gradient is not None and self.clip_gradient > 0:
            g = nd.clip(g, -self.clip_gradient, self.clip_gradient)

        if not self.centered:
            (n,) = state
            n[:] = (1 - self.gamma1) * g * g + self.gamma1 * n
            weight[:] = weight - lr * g / nd.sqrt(n + self.epsilon)
        else:
            n, m, delta = state
            n[:] = (1 - self.gamma1) * g * g + self.gamma1 * n
            m[:] = (1 - self.gamma1) * g + self.gamma1 * m
            delta[:] = self.gamma2 * delta - lr * g / nd.sqrt(n - m * m + self.epsilon)
            weight[:] = weight + delta

        if self.clip_weights:
            weight[:] = nd.clip(weight, -self.clip_weights, self.clip_weights)


@register
class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al., 2011).

    With ``g = clip(rescale_grad*grad)``: ``h += g^2`` and
    ``w -= lr*(g/sqrt(h + eps) + wd*w)``.

    Parameters
    ----------
    eps : float, default 1e-7
        Added inside the square root for numerical stability.
    """

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)

        g = self._rescale_and_clip(grad)
        state[:] = state + g * g
        weight[:] = weight - lr * (g / nd.sqrt(state + self.float_stable_eps) + wd * weight)


class Updater:
    """Apply an optimizer to (index, grad, weight) triples, creating each index's state lazily.

    Parameters
    ----------
    optimizer : Optimizer
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}

    def __call__(self, index, grad, weight):
        """Update ``weight`` (or a list of weights) in place."""
        if isinstance(index, (list, tuple)):
            for idx, g, w in zip(index, grad, weight):
                self._update_one(idx, g, w)
        else:
            self._update_one(index, grad, weight)

    def _update_one(self, index, grad, weight):
        if index not in self.states:
            self.states[index] = self.optimizer.create_state_multi_precision(index, weight)
            self.states_synced[index] = True
        elif not self.states_synced[index]:
            self.states[index] = self.sync_state_context(self.states[index], weight.context)
            self.states_synced[index] = True
        self.optimizer.update_multi_precision(index, weight, grad, self.states[index])

    def sync_state_context(self, state, context):
        """Return ``state`` with every array moved to ``context``."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(item, context) for item in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def set_states(self, states):
        """Load states (and the optimizer, when it was dumped) from :meth:`get_states` bytes."""
        states = pickle.loads(states)
        if isinstance(states, tuple) and len(states) == 2:
            self.states, self.optimizer = states
        else:
            self.states = states
        self.states_synced = dict.fromkeys(self.states.keys(), False)

    def get_states(self, dump_optimizer=False):
        """Return the pickled states, with the optimizer when ``dump_optimizer`` is true."""
        return pickle.dumps((self.states, self.optimizer) if dump_optimizer else self.states)


def get_updater(optimizer):
    """Return an :class:`Updater` for ``optimizer``."""
    return Updater(optimizer)
