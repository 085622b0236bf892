"""Gluon :class:`Trainer`: applies an optimizer to a set of Parameters."""

from .. import _native
from .. import optimizer as opt
from .parameter import Parameter, ParameterDict

__all__ = ['Trainer']


class Trainer:
    """Apply an optimizer to a set of parameters after each backward pass.

    Parameters
    ----------
    params : ParameterDict or dict of str to Parameter or list of Parameter
        The parameters to update. A dict is sorted by name, which fixes each parameter's index.
    optimizer : str or Optimizer
        An optimizer name (``'sgd'``, ``'adam'``, ...) or instance.
    optimizer_params : dict, optional
        Keyword arguments of the optimizer, e.g. ``{'learning_rate': 0.1}``. Only valid with an
        optimizer name.
    kvstore : str or KVStore, default 'device'
        How gradients are combined across contexts. With a single context no store is used.
        With several, the gradients are summed here and copied back to every context, which is
        what MXNet's 'device' and 'local' stores do without 'dist'.
    compression_params : dict, optional
        Gradient compression is not supported; must be None.
    update_on_kvstore : bool, optional
        Updating on a distributed store is not supported; None or False.

    Notes
    -----
    ``step(batch_size)`` sets ``optimizer.rescale_grad = scale / batch_size`` (``scale`` is the
    optimizer's rescale_grad at construction), so gradients of a loss summed over the batch
    become a batch mean.
    """

    def __init__(self, params, optimizer, optimizer_params=None, kvstore='device',
                 compression_params=None, update_on_kvstore=None):
        self._params = self._check_params(params)
        if compression_params is not None:
            raise NotImplementedError('Trainer: gradient compression (compression_params=%r) is '
                                      'not supported yet; pass compression_params=None'
                                      % (compression_params,))
        if update_on_kvstore:
            raise NotImplementedError('Trainer: update_on_kvstore=True needs a distributed '
                                      'KVStore, which is not supported yet; pass None or False')
        self._kvstore_type = kvstore
        self._update_on_kvstore = False
        self._kv_initialized = False
        self._contexts = None

        optimizer_params = optimizer_params if optimizer_params else {}
        self._init_optimizer(optimizer, optimizer_params)
        self._scale = self._optimizer.rescale_grad
        self._loss = None
        self._epoch = None
        for param in self._params:
            param._trainer = self

    @staticmethod
    def _check_params(params):
        if isinstance(params, (dict, ParameterDict)):
            params = [params[name] for name in sorted(params.keys())]
        if not isinstance(params, (list, tuple)):
            raise ValueError('Trainer: first argument must be a list or dict of Parameters, got '
                             '%s' % type(params))
        checked = []
        seen = set()
        for param in params:
            if not isinstance(param, Parameter):
                raise ValueError('Trainer: first argument must be a list or dict of Parameters, '
                                 'got list of %s' % type(param))
            if id(param) in seen:
                continue
            seen.add(id(param))
            checked.append(param)
        return checked

    def _init_optimizer(self, optimizer, optimizer_params):
        param_dict = {i: param for i, param in enumerate(self._params)}
        if isinstance(optimizer, opt.Optimizer):
            if optimizer_params:
                raise ValueError('Trainer: optimizer_params must be None when optimizer is an '
                                 'Optimizer instance; set its attributes instead')
            self._optimizer = optimizer
            self._optimizer.param_dict = param_dict
        else:
            self._optimizer = opt.create(optimizer, param_dict=param_dict, **optimizer_params)
        self._updaters = None

    def _init_contexts(self):
        """Find the common contexts of the parameters and create one Updater per context."""
        contexts = None
        for param in self._params:
            param_ctx = param.list_ctx()
            if contexts is None:
                contexts = list(param_ctx)
            elif list(param_ctx) != contexts:
                raise ValueError("All Parameters must be initialized on the same set of "
                                 "contexts, but Parameter '%s' is initialized on %s while "
                                 "previous Parameters are initialized on %s."
                                 % (param.name, param_ctx, contexts))
        self._contexts = contexts or []
        self._updaters = [opt.get_updater(self._optimizer) for _ in self._contexts]

    # ---- properties -------------------------------------------------------------------------

    @property
    def optimizer(self):
        """The Optimizer instance."""
        return self._optimizer

    @property
    def learning_rate(self):
        """The optimizer's current learning rate."""
        return self._optimizer.learning_rate

    def set_learning_rate(self, lr):
        """Set the optimizer's learning rate (not allowed with an lr_scheduler)."""
        self._optimizer.set_learning_rate(lr)

    @property
    def loss(self):
        """The loss given to :meth:`set_loss`, or None."""
        return self._loss

    def set_loss(self, loss):
        """Store ``loss`` (a gluon Loss) for training helpers that read :attr:`loss`.

        This is an extension used by existing scripts; MXNet 1.9.1's Trainer has no loss.
        The Trainer itself never calls it.
        """
        self._loss = loss

    @property
    def epoch(self):
        """The epoch given to the last :meth:`begin_epoch`, or None."""
        return self._epoch

    def begin_epoch(self, epoch):
        """Record the start of ``epoch`` and tell the optimizer's lr_scheduler about it.

        This is an extension used by existing scripts; MXNet 1.9.1's Trainer has no epochs and
        its schedulers count updates. Semantics: when the scheduler has a callable
        ``begin_epoch``, it is called with ``epoch``; otherwise, when it has an ``epoch``
        attribute, that attribute is set. Built-in schedulers have neither and keep scheduling
        by update count, so this call does not change their learning rate.
        """
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError('Trainer.begin_epoch: epoch must be a non-negative int, got %r'
                             % (epoch,))
        self._epoch = epoch
        scheduler = self._optimizer.lr_scheduler
        if scheduler is None:
            return
        if callable(getattr(scheduler, 'begin_epoch', None)):
            scheduler.begin_epoch(epoch)
        elif hasattr(scheduler, 'epoch'):
            scheduler.epoch = epoch

    # ---- steps ------------------------------------------------------------------------------

    def step(self, batch_size, ignore_stale_grad=False):
        """Sum gradients across contexts and update the parameters, for one batch.

        Parameters
        ----------
        batch_size : int
            Gradients are divided by this (through ``rescale_grad``).
        ignore_stale_grad : bool, default False
            Skip parameters whose gradient was not computed by a backward since the last step,
            instead of raising.
        """
        rescale_grad = self._scale / batch_size
        self._optimizer.rescale_grad = rescale_grad
        if self._updaters is None:
            self._init_contexts()
        self._allreduce_grads()
        self._update(ignore_stale_grad)

    def allreduce_grads(self):
        """Sum the gradients across contexts (for use with :meth:`update`)."""
        if self._updaters is None:
            self._init_contexts()
        self._allreduce_grads()

    def _allreduce_grads(self):
        if len(self._contexts) <= 1:
            return
        for param in self._params:
            if param.grad_req == 'null':
                continue
            grads = param.list_grad()
            total = grads[0].copy()
            for grad in grads[1:]:
                total += grad.as_in_context(total.context)
            for grad in grads:
                total.copyto(grad)

    def update(self, batch_size, ignore_stale_grad=False):
        """Update the parameters (call :meth:`allreduce_grads` first with several contexts)."""
        self._optimizer.rescale_grad = self._scale / batch_size
        if self._updaters is None:
            self._init_contexts()
        self._update(ignore_stale_grad)

    def _update(self, ignore_stale_grad=False):
        pending = []
        for index, param in enumerate(self._params):
            if param.grad_req == 'null':
                continue
            if not ignore_stale_grad:
                for data in param.list_data():
                    if not data._fresh_grad:
                        raise UserWarning(
                            "Gradient of Parameter `%s` on context %s has not been updated by "
                            "backward since last `step`. This could mean a bug in your model "
                            "that made it only use a subset of the Parameters (Blocks) for this "
                            "iteration. If you are intentionally only using a subset, call step "
                            "with ignore_stale_grad=True to suppress this warning and skip "
                            "updating of Parameters with stale gradient"
                            % (param.name, str(data.context)))
            datas, grads = param.list_data(), param.list_grad()
            if not ignore_stale_grad or datas[0]._fresh_grad:
                # One update on the first context, then copies to the others, as MXNet's
                # kvstore updates once and every device pulls the result: replicas stay equal
                # bit for bit, even across devices whose kernels round differently.
                pending.append((index, grads[0], datas[0], datas[1:]))
            for data in datas:
                data._fresh_grad = False

        # Priority -index, as MXNet's kvstore pushes them: when several updates are ready, the
        # first layers' run first, because the next forward pass needs them first. Set
        # directly rather than with `engine.priority`, whose checks cost more than an update.
        previous = _native.set_priority(0)
        try:
            for index, grad, data, replicas in pending:
                _native.set_priority(-index)
                self._updaters[0](index, grad, data)
                for replica in replicas:
                    data.copyto(replica)
        finally:
            _native.set_priority(previous)

    # ---- states -----------------------------------------------------------------------------

    def save_states(self, fname):
        """Save the optimizer and its per-parameter states (pickled) to ``fname``."""
        if self._updaters is None:
            self._init_contexts()
        if not self._updaters:
            raise RuntimeError('Trainer.save_states: no parameters are initialized, so there is '
                               'no optimizer state to save')
        with open(fname, 'wb') as fout:
            fout.write(self._updaters[0].get_states(dump_optimizer=True))

    def load_states(self, fname):
        """Load the optimizer and its states saved by :meth:`save_states`."""
        if self._updaters is None:
            self._init_contexts()
        with open(fname, 'rb') as fin:
            states = fin.read()
        for updater in self._updaters:
            updater.set_states(states)
            updater.optimizer = self._updaters[0].optimizer
        if self._updaters:
            self._optimizer = self._updaters[0].optimizer
        self._optimizer.param_dict = {i: param for i, param in enumerate(self._params)}
