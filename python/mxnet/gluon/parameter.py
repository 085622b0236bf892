"""Gluon parameters: :class:`Parameter`, :class:`Constant` and :class:`ParameterDict`.

A Parameter keeps one copy of its data (and of its gradient) per context. A dimension of 0 in
its shape means "unknown": a parameter created with ``allow_deferred_init=True`` stays
uninitialized until the owning layer receives its first input and fills in the shape.
"""

import warnings
from collections import OrderedDict

import numpy as np

from .. import autograd
from .. import initializer
from .. import ndarray as nd
from ..base import MXNetError
from ..context import Context, cpu, current_context, interned
from ..ndarray import NDArray

__all__ = ['DeferredInitializationError', 'Parameter', 'Constant', 'ParameterDict',
           'tensor_types']

tensor_types = (NDArray,)

_GRAD_REQS = ('write', 'add', 'null')


class DeferredInitializationError(MXNetError):
    """Error raised when a parameter whose initialization was deferred is accessed too early."""


def _shape_is_known(shape):
    """Return True when every dimension of ``shape`` is known (no 0 or -1)."""
    if shape is None:
        return False
    return all(dim > 0 for dim in shape)


def _brief_print_list(names, limit=7):
    """Return a short, quoted listing of ``names`` for error messages."""
    names = list(names)
    if len(names) > limit:
        return _brief_print_list(names[:limit // 2], limit) + ', ..., ' + \
            _brief_print_list(names[-limit // 2:], limit)
    return ', '.join("'%s'" % str(name) for name in names)


def _as_ctx_list(ctx):
    if ctx is None:
        return [current_context()]
    if isinstance(ctx, Context):
        return [ctx]
    return list(ctx)


class Parameter:
    """A weight of a Block, with one data array and one gradient array per context.

    Parameters
    ----------
    name : str
        Full name, such as ``dense0_weight``.
    grad_req : {'write', 'add', 'null'}, default 'write'
        How backward stores the gradient: overwrite it, add to it (call :meth:`zero_grad`
        yourself) or compute none.
    shape : int or tuple of int, optional
        A dimension of 0 means unknown until deferred initialization fills it in.
    dtype : numpy dtype or str, default 'float32'
    lr_mult : float, default 1.0
        Multiplier of the optimizer's learning rate for this parameter.
    wd_mult : float, default 1.0
        Multiplier of the optimizer's weight decay for this parameter.
    init : Initializer or str, optional
        Initializer of this parameter; the one passed to :meth:`initialize` is the fallback.
    allow_deferred_init : bool, default False
        Allow :meth:`initialize` while the shape is unknown, finishing at the first forward.
    differentiable : bool, default True
        False forces ``grad_req`` to ``'null'``.
    stype, grad_stype : str, default 'default'
        Storage types. Only ``'default'`` (dense) is supported.
    """

    def __init__(self, name, grad_req='write', shape=None, dtype=np.float32,
                 lr_mult=1.0, wd_mult=1.0, init=None, allow_deferred_init=False,
                 differentiable=True, stype='default', grad_stype='default'):
        self._var = None
        self._data = None
        self._grad = None
        self._ctx_list = None
        self._deferred_init = ()
        self._differentiable = differentiable
        self._allow_deferred_init = allow_deferred_init
        self._grad_req = None
        self._trainer = None
        if isinstance(shape, int):
            shape = (shape,)
        self._shape = tuple(shape) if shape is not None else None
        self.name = name
        self._dtype = dtype
        self.lr_mult = lr_mult
        self.wd_mult = wd_mult
        self.init = init
        for kind, value in (('stype', stype), ('grad_stype', grad_stype)):
            if value != 'default':
                raise NotImplementedError(
                    "Parameter '%s': %s=%r is not supported yet; only 'default' (dense) storage "
                    "is implemented" % (name, kind, value))
        self._stype = stype
        self._grad_stype = grad_stype
        self.grad_req = grad_req

    def __repr__(self):
        return 'Parameter %s (shape=%s, dtype=%s)' % (self.name, self.shape, self.dtype)

    # ---- attributes -------------------------------------------------------------------------

    @property
    def grad_req(self):
        """How backward stores the gradient: 'write', 'add' or 'null'."""
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req):
        if req not in _GRAD_REQS:
            raise ValueError("Parameter '%s': grad_req must be one of 'write', 'add' or 'null', "
                             "got %r" % (self.name, req))
        if not self._differentiable:
            req = 'null'
        if self._grad_req == req:
            return
        self._grad_req = req
        if req == 'null' and self._grad is not None:
            self._grad = None
            self._data = [arr.detach() for arr in self._data]
        elif self._data is not None:
            self._init_grad()

    @property
    def dtype(self):
        """The data type of the parameter."""
        return self._dtype

    @dtype.setter
    def dtype(self, dtype):
        self._dtype = dtype

    @property
    def shape(self):
        """The shape; 0 marks a dimension that is still unknown."""
        return self._shape

    @shape.setter
    def shape(self, new_shape):
        if isinstance(new_shape, int):
            new_shape = (new_shape,)
        new_shape = tuple(new_shape)
        if self._shape is None:
            self._shape = new_shape
            return
        compatible = len(self._shape) == len(new_shape) and all(
            old in (-1, 0, new) for new, old in zip(new_shape, self._shape))
        if not compatible:
            raise ValueError("Parameter '%s': expected shape %s is incompatible with given shape "
                             "%s. Only unknown (0) dimensions can be changed."
                             % (self.name, self._shape, new_shape))
        self._shape = new_shape

    @property
    def stype(self):
        """The storage type of the data."""
        return self._stype

    # ---- initialization ---------------------------------------------------------------------

    def initialize(self, init=None, ctx=None, default_init=initializer.Uniform(),
                   force_reinit=False):
        """Allocate and initialize the data (and gradient) on each context.

        Parameters
        ----------
        init : Initializer, optional
            Overrides both ``self.init`` and ``default_init``.
        ctx : Context or list of Context, optional
            Defaults to the current context.
        default_init : Initializer, default Uniform()
            Used when neither ``init`` nor ``self.init`` is given.
        force_reinit : bool, default False
            Re-initialize even when already initialized.
        """
        if self._data is not None and not force_reinit:
            warnings.warn("Parameter '%s' is already initialized, ignoring. Set "
                          "force_reinit=True to re-initialize." % self.name, stacklevel=2)
            return
        self._data = self._grad = None
        ctx = _as_ctx_list(ctx)
        if init is None:
            init = default_init if self.init is None else self.init

        if not _shape_is_known(self.shape):
            if self._allow_deferred_init:
                self._deferred_init = (init, ctx, default_init, None)
                return
            raise ValueError("Cannot initialize Parameter '%s' because it has invalid shape: %s. "
                             "Give every dimension a positive size."
                             % (self.name, self.shape))

        self._deferred_init = (init, ctx, default_init, None)
        self._finish_deferred_init()

    def _finish_deferred_init(self):
        """Allocate the data once the shape is known (called at the first forward)."""
        if not self._deferred_init:
            return
        init, ctx, default_init, data = self._deferred_init
        self._deferred_init = ()
        if not _shape_is_known(self.shape):
            self._deferred_init = (init, ctx, default_init, data)
            raise DeferredInitializationError(
                "Cannot initialize Parameter '%s' because its shape %s is still unknown. "
                "Specify in_units, in_channels, etc. for the layer that owns it."
                % (self.name, self.shape))

        with autograd.pause():
            if data is None:
                data = nd.zeros(self.shape, ctx=cpu(), dtype=self.dtype)
                initializer.create(default_init)(
                    initializer.InitDesc(self.name, {'__init__': init}), data)
            self._init_impl(data, ctx)

    def _init_impl(self, data, ctx_list):
        """Copy ``data`` to every context and allocate the gradients."""
        # Shared Context objects, so that `data(ctx)` with the context of an input array (the
        # eager forward of every layer) matches by identity.
        self._ctx_list = [interned(ctx) for ctx in ctx_list]
        self._data = [data.copyto(ctx) for ctx in self._ctx_list]
        self._init_grad()

    def _init_grad(self):
        if self.grad_req == 'null':
            self._grad = None
            return
        self._grad = [nd.zeros(arr.shape, ctx=arr.context, dtype=arr.dtype)
                      for arr in self._data]
        autograd.mark_variables(self._data, self._grad, self.grad_req)

    def _load_init(self, data, ctx, cast_dtype=False, dtype_source='current'):
        """Initialize (or overwrite) the parameter from a loaded array."""
        if cast_dtype and dtype_source not in ('current', 'saved'):
            raise ValueError("Parameter '%s': dtype_source must be 'current' or 'saved', got %r"
                             % (self.name, dtype_source))
        if self.shape:
            for own_dim, saved_dim in zip(self.shape, data.shape):
                if own_dim not in (0, -1, saved_dim) or len(self.shape) != len(data.shape):
                    raise AssertionError(
                        "Failed loading Parameter '%s' from saved params: shape incompatible "
                        "expected %s vs saved %s" % (self.name, self.shape, data.shape))
            self.shape = tuple(saved if own in (0, -1) else own
                               for own, saved in zip(self.shape, data.shape))
        if self.dtype is not None and np.dtype(self.dtype) != np.dtype(data.dtype):
            if not cast_dtype:
                raise AssertionError(
                    "Failed loading Parameter '%s' from saved params: dtype incompatible "
                    "expected %s vs saved %s. Set cast_dtype=True to cast the dtype of saved "
                    "params." % (self.name, np.dtype(self.dtype), np.dtype(data.dtype)))
            if dtype_source == 'current':
                data = data.astype(self.dtype)
            else:
                self.dtype = data.dtype

        if isinstance(ctx, Context):
            ctx = [ctx]
        if self._data is None:
            if self._deferred_init:
                deferred_ctx = self._deferred_init[1]
                if ctx is not None and set(ctx) != set(deferred_ctx):
                    raise AssertionError("Failed to load Parameter '%s' on %s because it was "
                                         "previously initialized on %s."
                                         % (self.name, ctx, deferred_ctx))
                ctx = deferred_ctx
            elif ctx is None:
                ctx = [cpu()]
            self._init_impl(data, ctx)
        else:
            if ctx is not None and set(ctx) != set(self.list_ctx()):
                raise AssertionError("Failed to load Parameter '%s' on %s because it was "
                                     "previously initialized on %s."
                                     % (self.name, ctx, self.list_ctx()))
            self.set_data(data)
        self._deferred_init = ()

    # ---- access -----------------------------------------------------------------------------

    def _check_and_get(self, arr_list, ctx):
        if arr_list is not None:
            if ctx is list:
                return arr_list
            if len(arr_list) == 1 and (ctx is None or ctx is self._ctx_list[0]):
                return arr_list[0]
            if ctx is None:
                ctx = current_context()
            for own_ctx, arr in zip(self._ctx_list, arr_list):
                if own_ctx == ctx:
                    return arr
            raise RuntimeError("Parameter '%s' was not initialized on context %s. It was only "
                               "initialized on %s." % (self.name, ctx, self._ctx_list))
        if self._deferred_init:
            raise DeferredInitializationError(
                "Parameter '%s' has not been initialized yet because initialization was "
                "deferred. Actual initialization happens during the first forward pass. Pass "
                "one batch of data through the network before accessing Parameters, or avoid "
                "deferred initialization by specifying in_units, in_channels, etc. for the "
                "layer." % self.name)
        raise RuntimeError("Parameter '%s' has not been initialized. Call initialize() on the "
                           "Block (or its collect_params()) before using it. Note that "
                           "Block.params does not include the Parameters of child Blocks; use "
                           "Block.collect_params() to initialize them and to create a Trainer."
                           % self.name)

    def data(self, ctx=None):
        """Return the data array on ``ctx`` (the only context when there is one)."""
        return self._check_and_get(self._data, ctx)

    def list_data(self):
        """Return the data arrays on all contexts, in the order of :meth:`list_ctx`."""
        return self._check_and_get(self._data, list)

    def grad(self, ctx=None):
        """Return the gradient array on ``ctx``."""
        if self._data is not None and self._grad is None:
            raise RuntimeError("Cannot get gradient array for Parameter '%s' because "
                               "grad_req='null'" % self.name)
        return self._check_and_get(self._grad, ctx)

    def list_grad(self):
        """Return the gradient arrays on all contexts."""
        if self._data is not None and self._grad is None:
            raise RuntimeError("Cannot get gradient array for Parameter '%s' because "
                               "grad_req='null'" % self.name)
        return self._check_and_get(self._grad, list)

    def list_ctx(self):
        """Return the contexts the parameter is (or will be, when deferred) initialized on."""
        if self._data is None:
            if self._deferred_init:
                return self._deferred_init[1]
            raise RuntimeError("Parameter '%s' has not been initialized. Call initialize() "
                               "first." % self.name)
        return self._ctx_list

    def set_data(self, data):
        """Copy ``data`` into the parameter on every context."""
        self.shape = data.shape
        if self._data is None:
            if not self._deferred_init:
                raise RuntimeError("Parameter '%s' has not been initialized. Call initialize() "
                                   "before set_data()." % self.name)
            self._deferred_init = self._deferred_init[:3] + (data,)
            return
        for arr in self._data:
            arr[:] = data

    def zero_grad(self):
        """Set the gradient to 0 on every context (needed with ``grad_req='add'``)."""
        if self._grad is None:
            return
        for grad in self._grad:
            grad[:] = 0

    def reset_ctx(self, ctx):
        """Move the parameter to other context(s), keeping its (averaged) value."""
        ctx = _as_ctx_list(ctx)
        if self._data:
            data = self._reduce()
            with autograd.pause():
                self._init_impl(data, ctx)
        elif self._deferred_init:
            init, _, default_init, data = self._deferred_init
            self._deferred_init = (init, ctx, default_init, data)
        else:
            raise ValueError("Cannot reset context for Parameter '%s' because it has not been "
                             "initialized. Call initialize() first." % self.name)

    def _reduce(self):
        """Return the data averaged over all contexts, on the CPU."""
        arrays = self.list_data()
        if len(arrays) == 1:
            return arrays[0].copyto(cpu())
        total = arrays[0].copyto(cpu())
        for arr in arrays[1:]:
            total = total + arr.copyto(cpu())
        return total / len(arrays)

    def cast(self, dtype):
        """Cast the data and gradient to ``dtype``."""
        self.dtype = dtype
        if self._data is None:
            return
        with autograd.pause():
            self._data = [arr.astype(dtype) for arr in self._data]
            if self._grad is None:
                return
            self._grad = [arr.astype(dtype) for arr in self._grad]
            autograd.mark_variables(self._data, self._grad, self.grad_req)

    def var(self):
        """Return the ``mx.sym`` variable of this parameter, with its shape, dtype, lr_mult
        and wd_mult attributes, cached so that blocks sharing the parameter share the node."""
        from . import _cached_graph
        return _cached_graph.parameter_variable(self)


class Constant(Parameter):
    """A parameter with a fixed value and ``grad_req='null'``.

    Parameters
    ----------
    name : str
    value : NDArray or array-like
    """

    def __init__(self, name, value):
        if not isinstance(value, NDArray):
            value = nd.array(value)
        self.value = value
        super().__init__(name, grad_req='null', shape=value.shape, dtype=value.dtype,
                         init=initializer.Constant(value))

    def __repr__(self):
        return 'Constant %s (shape=%s, dtype=%s)' % (self.name, self.shape, self.dtype)

    @property
    def grad_req(self):
        return 'null'

    @grad_req.setter
    def grad_req(self, req):
        if req != 'null':
            warnings.warn("Constant parameter '%s' does not support grad_req other than 'null'; "
                          "the new value %r is ignored." % (self.name, req), stacklevel=2)


class ParameterDict:
    """An ordered dict of Parameters by full name, sharing a name prefix.

    Parameters
    ----------
    prefix : str, default ''
        Prefix prepended to names passed to :meth:`get`.
    shared : ParameterDict, optional
        :meth:`get` returns the parameters of ``shared`` when they exist there.
    """

    def __init__(self, prefix='', shared=None):
        self._prefix = prefix
        self._params = OrderedDict()
        self._shared = shared

    def __repr__(self):
        name = self._prefix + ' ' if self._prefix else ''
        content = '\n'.join('  %s' % param for param in self.values())
        return '%s(\n%s\n)' % (name, content)

    def __getitem__(self, key):
        return self._params[key]

    def __iter__(self):
        return iter(self._params)

    def __len__(self):
        return len(self._params)

    def __contains__(self, key):
        return key in self._params

    def items(self):
        return self._params.items()

    def keys(self):
        return self._params.keys()

    def values(self):
        return self._params.values()

    @property
    def prefix(self):
        """Prefix prepended to names passed to :meth:`get`."""
        return self._prefix

    def _get_impl(self, name):
        if name in self._params:
            return self._params[name]
        if self._shared is not None and name in self._shared._params:
            self._params[name] = self._shared._params[name]
            return self._params[name]
        return None

    def get(self, name, **kwargs):
        """Return the parameter ``prefix + name``, creating it with ``kwargs`` when missing.

        For an existing parameter, each keyword must match its attribute, except that unknown
        (0) dimensions of the shape are filled in from the requested shape.
        """
        name = self.prefix + name
        param = self._get_impl(name)
        if param is None:
            param = Parameter(name, **kwargs)
            self._params[name] = param
            return param

        for key, value in kwargs.items():
            existing = getattr(param, key, None)
            if existing is None:
                setattr(param, key, value)
                continue
            if key == 'shape' and value is not None:
                merged = _merge_shapes(value, existing)
                if merged is not None:
                    param._shape = merged
                    continue
            elif key == 'dtype' and value is not None and np.dtype(value) == np.dtype(existing):
                continue
            if value is not None and value != existing:
                raise AssertionError(
                    "Cannot retrieve Parameter '%s' because desired attribute does not match "
                    "with stored for attribute '%s': desired '%s' vs stored '%s'."
                    % (name, key, value, existing))
        return param

    def get_constant(self, name, value=None):
        """Return the Constant ``prefix + name``, creating it from ``value`` when missing."""
        name = self.prefix + name
        param = self._get_impl(name)
        if param is None:
            if value is None:
                raise KeyError("No constant named '%s'. Pass value to create a new Constant."
                               % name)
            param = Constant(name, value)
            self._params[name] = param
        elif value is not None:
            if not isinstance(param, Constant):
                raise TypeError("Parameter '%s' already exists but is not a Constant" % name)
            if not isinstance(value, NDArray):
                value = nd.array(value)
            if tuple(param.value.shape) != tuple(value.shape) or \
                    not np.array_equal(param.value.asnumpy(), value.asnumpy()):
                raise AssertionError("Constant '%s' already exists with a different value"
                                     % name)
        return param

    def update(self, other):
        """Copy the parameters of ``other`` into self (same name must mean same object)."""
        for name, param in other.items():
            if name in self._params:
                if self._params[name] is not param:
                    raise ValueError("Cannot update self with other because they have different "
                                     "Parameters with the same name '%s'" % name)
            else:
                self._params[name] = param

    def initialize(self, init=initializer.Uniform(), ctx=None, verbose=False,
                   force_reinit=False):
        """Initialize every parameter; ``init`` is the default for those without their own."""
        if verbose and hasattr(init, 'set_verbosity'):
            init.set_verbosity(verbose=verbose)
        for param in self.values():
            param.initialize(None, ctx, init, force_reinit=force_reinit)

    def zero_grad(self):
        """Set every gradient to 0."""
        for param in self.values():
            param.zero_grad()

    def reset_ctx(self, ctx):
        """Move every parameter to ``ctx``."""
        for param in self.values():
            param.reset_ctx(ctx)

    def list_ctx(self):
        """Return the union of the parameters' contexts."""
        contexts = []
        for param in self.values():
            for ctx in param.list_ctx():
                if ctx not in contexts:
                    contexts.append(ctx)
        return contexts

    def setattr(self, name, value):
        """Set an attribute on every parameter, e.g. ``setattr('grad_req', 'add')``."""
        for param in self.values():
            setattr(param, name, value)

    def save(self, filename, strip_prefix=''):
        """Save the parameters with ``mx.nd.save`` under their full names minus ``strip_prefix``."""
        arg_dict = {}
        for param in self.values():
            if not param.name.startswith(strip_prefix):
                raise ValueError("Prefix '%s' is to be stripped before saving, but Parameter's "
                                 "name '%s' does not start with '%s'. Pass a strip_prefix that "
                                 "every parameter name starts with."
                                 % (strip_prefix, param.name, strip_prefix))
            arg_dict[param.name[len(strip_prefix):]] = param._reduce()
        nd.save(filename, arg_dict)

    def load(self, filename, ctx=None, allow_missing=False, ignore_extra=False,
             restore_prefix='', cast_dtype=False, dtype_source='current'):
        """Load parameters saved by :meth:`save` (names get ``restore_prefix`` prepended)."""
        if restore_prefix:
            for name in self.keys():
                if not name.startswith(restore_prefix):
                    raise ValueError(
                        "restore_prefix is '%s' but Parameter name '%s' does not start with "
                        "'%s'. When using Block.load_parameters, the loaded Parameters must be "
                        "created within the same name_scope." % (restore_prefix, name,
                                                                 restore_prefix))
        loaded = nd.load(filename)
        self.load_dict(loaded, ctx, allow_missing, ignore_extra, restore_prefix, filename,
                       cast_dtype, dtype_source)

    def load_dict(self, param_dict, ctx=None, allow_missing=False, ignore_extra=False,
                  restore_prefix='', filename=None, cast_dtype=False, dtype_source='current'):
        """Load parameters from a dict of name to NDArray, removing ``arg:``/``aux:`` prefixes."""
        if not isinstance(param_dict, dict):
            raise TypeError('ParameterDict.load_dict: expected a dict of str to NDArray (a file '
                            'saved from a list has no names), got %r' % (type(param_dict),))
        arg_dict = {}
        for key, value in param_dict.items():
            if key.startswith('arg:') or key.startswith('aux:'):
                key = key[4:]
            arg_dict[restore_prefix + key] = value
        source = "file '%s'" % filename if filename else 'param_dict'
        prefix_len = len(restore_prefix)

        if not allow_missing:
            for name in self.keys():
                if name not in arg_dict:
                    raise AssertionError(
                        "Parameter '%s' is missing in %s, which contains parameters: %s. Make "
                        "sure source and target networks have the same prefix, or set "
                        "allow_missing=True." % (name[prefix_len:], source,
                                                 _brief_print_list(arg_dict.keys())))
        for name, value in arg_dict.items():
            if name not in self._params:
                if not ignore_extra:
                    raise AssertionError(
                        "Parameter '%s' loaded from %s is not present in ParameterDict, choices "
                        "are: %s. Set ignore_extra=True to ignore. Make sure source and target "
                        "networks have the same prefix." % (name[prefix_len:], source,
                                                            _brief_print_list(self.keys())))
                continue
            self._params[name]._load_init(value, ctx, cast_dtype=cast_dtype,
                                          dtype_source=dtype_source)


def _merge_shapes(requested, existing):
    """Return the shape agreeing with both (0 = unknown), or None when they conflict."""
    if isinstance(requested, int):
        requested = (requested,)
    if len(requested) != len(existing):
        return None
    merged = []
    for want, have in zip(requested, existing):
        if want == have or want in (0, -1):
            merged.append(have)
        elif have in (0, -1):
            merged.append(want)
        else:
            return None
    return tuple(merged)
