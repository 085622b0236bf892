"""Gluon blocks: :class:`Block`, :class:`HybridBlock` and their naming rules.

Naming (this decides every parameter name, and so the keys of saved files):

* A block created outside any ``name_scope()`` gets the prefix ``<class name lower><n>_``, where
  ``n`` counts blocks of that class created so far in this thread (``dense0_``, ``dense1_``).
* A block created inside ``with parent.name_scope():`` gets ``parent.prefix + <hint><n>_``, where
  ``n`` counts that hint among the children created in that scope (``hybridsequential0_dense0_``).
* A parameter created with ``self.params.get('weight')`` is named ``prefix + 'weight'``.
"""

import re
import threading
import warnings
from collections import OrderedDict, defaultdict

from .. import initializer
from .. import ndarray as nd
from ..ndarray import NDArray
from .parameter import (DeferredInitializationError, Parameter, ParameterDict,
                        _brief_print_list, _shape_is_known)

__all__ = ['Block', 'HybridBlock']


class _NameCounter(threading.local):
    """Per-thread counters behind the default prefixes of blocks created outside a name scope."""

    def __init__(self):
        super().__init__()
        self.counts = {}

    def next_name(self, hint):
        count = self.counts.get(hint, 0)
        self.counts[hint] = count + 1
        return '%s%d' % (hint, count)


_GLOBAL_NAMES = _NameCounter()


class _BlockScope:
    """The name scope of a block: children created inside it get prefixed names."""

    _current = threading.local()

    def __init__(self, block):
        self._block = block
        self._counter = {}
        self._old_scope = None

    @staticmethod
    def create(prefix, params, hint):
        """Return the (prefix, ParameterDict) of a new block, following the naming rules."""
        current = getattr(_BlockScope._current, 'value', None)
        if current is None:
            if prefix is None:
                prefix = _GLOBAL_NAMES.next_name(hint) + '_'
            if params is None:
                params = ParameterDict(prefix)
            else:
                params = ParameterDict(params.prefix, params)
            return prefix, params

        if prefix is None:
            count = current._counter.get(hint, 0)
            prefix = '%s%d_' % (hint, count)
            current._counter[hint] = count + 1
        if params is None:
            parent = current._block.params
            params = ParameterDict(parent.prefix + prefix, parent._shared)
        else:
            params = ParameterDict(params.prefix, params)
        return current._block.prefix + prefix, params

    def __enter__(self):
        if self._block._empty_prefix:
            return self
        self._old_scope = getattr(_BlockScope._current, 'value', None)
        _BlockScope._current.value = self
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if self._block._empty_prefix:
            return
        _BlockScope._current.value = self._old_scope


def _indent(text, num_spaces):
    """Indent every line of ``text`` but the first by ``num_spaces``."""
    lines = text.split('\n')
    if len(lines) == 1:
        return text
    return lines[0] + '\n' + '\n'.join(' ' * num_spaces + line for line in lines[1:])


class HookHandle:
    """Handle returned by the ``register_*_hook`` methods; :meth:`detach` removes the hook."""

    def __init__(self, hooks, key):
        self._hooks = hooks
        self._key = key

    def detach(self):
        """Remove the hook (a no-op when it is already removed)."""
        self._hooks.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.detach()


class Block:
    """Base class of all layers and models.

    Subclasses create their parameters and child blocks in ``__init__`` (inside
    ``with self.name_scope():``) and override :meth:`forward`.

    Parameters
    ----------
    prefix : str, optional
        Prefix of the names of this block's parameters and children; chosen automatically
        when omitted (see the module docstring).
    params : ParameterDict, optional
        Share these parameters instead of creating new ones.
    """

    def __init__(self, prefix=None, params=None):
        self._empty_prefix = prefix == ''
        self._prefix, self._params = _BlockScope.create(prefix, params, self._alias())
        self._name = self._prefix[:-1] if self._prefix.endswith('_') else self._prefix
        self._scope = _BlockScope(self)
        self._children = OrderedDict()
        self._reg_params = {}
        self._forward_hooks = OrderedDict()
        self._forward_pre_hooks = OrderedDict()
        self._next_hook_id = 0

    def __repr__(self):
        lines = ['  (%s): %s' % (key, _indent(repr(block), 2))
                 for key, block in self.__dict__.items() if isinstance(block, Block)]
        return '%s(\n%s\n)' % (self.__class__.__name__, '\n'.join(lines))

    def __setattr__(self, name, value):
        """Register child Blocks and Parameters assigned as attributes."""
        if hasattr(self, name):
            existing = getattr(self, name)
            if isinstance(existing, (Parameter, Block)) and not isinstance(value, type(existing)):
                raise TypeError('Changing attribute type for %s from %s to %s is not allowed.'
                                % (name, type(existing), type(value)))

        if isinstance(value, Block):
            self.register_child(value, name)
        elif isinstance(value, Parameter):
            if name in self._reg_params:
                raise ValueError("Overriding Parameter attribute %s is not allowed. To share "
                                 "parameters between blocks, pass 'params' at Block "
                                 "construction instead." % name)
            self._reg_params[name] = value

        super().__setattr__(name, value)

    def _alias(self):
        return self.__class__.__name__.lower()

    @property
    def prefix(self):
        """Prefix of this block's parameter and child names."""
        return self._prefix

    @property
    def name(self):
        """Name of this block: the prefix without its trailing underscore."""
        return self._name

    @property
    def params(self):
        """The ParameterDict of this block alone (children not included)."""
        return self._params

    def name_scope(self):
        """Return a context manager inside which new blocks become children in name."""
        return self._scope

    def collect_params(self, select=None):
        """Return a ParameterDict with the parameters of this block and all its children.

        Parameters
        ----------
        select : str, optional
            Regular expression applied with ``re.match`` to full names, so it must match from
            the start: use ``'.*weight'`` rather than ``'weight'``.
        """
        self._check_container_with_block()
        result = ParameterDict(self._params.prefix)
        if not select:
            result.update(self.params)
        else:
            pattern = re.compile(select)
            result.update({name: value for name, value in self.params.items()
                           if pattern.match(name)})
        for child in self._children.values():
            result.update(child.collect_params(select=select))
        return result

    def _collect_params_with_prefix(self, prefix=''):
        """Return parameters by structural name ('0.weight', 'features.1.bias')."""
        if prefix:
            prefix += '.'
        result = {prefix + key: value for key, value in self._reg_params.items()}
        for name, child in self._children.items():
            result.update(child._collect_params_with_prefix(prefix + name))
        return result

    def _check_container_with_block(self):
        # Blocks kept in a plain list, tuple or dict attribute are invisible to collect_params.
        # Warn about them, as MXNet 1.x does, so that their parameters are not lost silently.
        children = set(self._children.values())

        def find_unregistered(data):
            if isinstance(data, (list, tuple)):
                return any(find_unregistered(item) for item in data)
            if isinstance(data, dict):
                return any(find_unregistered(item) for item in data.values())
            return isinstance(data, Block) and data not in children

        for name, value in self.__dict__.items():
            if isinstance(value, (list, tuple, dict)) and not name.startswith('__') \
                    and name not in ('_children', '_reg_params', '_forward_hooks',
                                     '_forward_pre_hooks', '_layers'):
                if find_unregistered(value):
                    warnings.warn('"%s" is an unregistered container with Blocks. Its Blocks '
                                  'are not registered as children, so their parameters are '
                                  'missing from collect_params(). Register them with '
                                  'register_child() or use Sequential.' % name, stacklevel=3)

    def save_parameters(self, filename, deduplicate=False):
        """Save the parameters under structural names ('0.weight') with ``mx.nd.save``.

        Parameters
        ----------
        filename : str
        deduplicate : bool, default False
            Save a parameter shared by several blocks once, under the last of its structural
            names (as MXNet 1.9.1 does). Without it, every name gets a copy.
        """
        params = self._collect_params_with_prefix()
        if deduplicate:
            last_name = {}
            for name, param in params.items():
                last_name[param] = name
            params = {name: param for param, name in last_name.items()}
        arg_dict = {name: param._reduce() for name, param in params.items()}
        nd.save(filename, arg_dict)

    def save_params(self, filename):
        """Deprecated: saves with full parameter names; use :meth:`save_parameters`."""
        warnings.warn('save_params is deprecated. Please use save_parameters. Note that if you '
                      'want to load from SymbolBlock later, please use export instead.',
                      DeprecationWarning, stacklevel=2)
        self.collect_params().save(filename, strip_prefix=self.prefix)

    def load_parameters(self, filename, ctx=None, allow_missing=False, ignore_extra=False,
                        cast_dtype=False, dtype_source='current'):
        """Load parameters written by :meth:`save_parameters` (or the legacy full-name form).

        Parameters
        ----------
        filename : str
        ctx : Context or list of Context, optional
            Defaults to the CPU for parameters that are not initialized yet.
        allow_missing : bool, default False
            Do not raise when a parameter of this block is missing from the file.
        ignore_extra : bool, default False
            Do not raise when the file has names that this block does not have.
        cast_dtype : bool, default False
            Cast the loaded arrays when their dtype differs.
        dtype_source : {'current', 'saved'}, default 'current'
            With ``cast_dtype``, which dtype wins.
        """
        loaded = nd.load(filename)
        if not isinstance(loaded, dict):
            raise ValueError("load_parameters: file '%s' contains a list of arrays without names; "
                             "expected a file written by save_parameters" % filename)
        params = self._collect_params_with_prefix()
        if not loaded and not params:
            return

        if not any('.' in name for name in loaded.keys()):
            # Files written by save_params, ParameterDict.save or export use full names
            # ('dense0_weight', 'arg:dense0_weight'); structural names always contain a dot.
            del loaded
            self.collect_params().load(filename, ctx, allow_missing, ignore_extra, self.prefix,
                                       cast_dtype=cast_dtype, dtype_source=dtype_source)
            return

        if not allow_missing:
            names_of = defaultdict(list)
            for name, param in params.items():
                names_of[param].append(name)
            for name, param in params.items():
                if not any(alias in loaded for alias in names_of[param]):
                    raise AssertionError(
                        "Parameter '%s' is missing in file '%s', which contains parameters: %s. "
                        "Set allow_missing=True to ignore missing parameters."
                        % (name, filename, _brief_print_list(loaded.keys())))
        for name, value in loaded.items():
            if name not in params:
                if not ignore_extra:
                    raise ValueError(
                        "Parameter '%s' loaded from file '%s' is not present in this Block, "
                        "which contains parameters %s. Set ignore_extra=True to ignore."
                        % (name, filename, _brief_print_list(params.keys())))
                continue
            params[name]._load_init(value, ctx, cast_dtype=cast_dtype,
                                    dtype_source=dtype_source)

    def load_params(self, filename, ctx=None, allow_missing=False, ignore_extra=False):
        """Deprecated alias of :meth:`load_parameters`."""
        warnings.warn('load_params is deprecated. Please use load_parameters.',
                      DeprecationWarning, stacklevel=2)
        self.load_parameters(filename, ctx, allow_missing, ignore_extra)

    def register_child(self, block, name=None):
        """Register ``block`` as a child; ``name`` defaults to the number of children so far."""
        if name is None:
            name = str(len(self._children))
        self._children[name] = block

    def _add_hook(self, hooks, hook):
        key = self._next_hook_id
        self._next_hook_id += 1
        hooks[key] = hook
        return HookHandle(hooks, key)

    def register_forward_pre_hook(self, hook):
        """Call ``hook(block, inputs)`` before each forward; returns a HookHandle."""
        return self._add_hook(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook):
        """Call ``hook(block, inputs, outputs)`` after each forward; returns a HookHandle."""
        return self._add_hook(self._forward_hooks, hook)

    def apply(self, fn):
        """Call ``fn(block)`` on every child (recursively) and then on self; returns self."""
        for child in self._children.values():
            child.apply(fn)
        fn(self)
        return self

    def initialize(self, init=initializer.Uniform(), ctx=None, verbose=False,
                   force_reinit=False):
        """Initialize the parameters of this block and its children.

        ``init`` applies to parameters that have no initializer of their own (for example a
        Dense weight); biases keep their 'zeros' initializer.
        """
        self.collect_params().initialize(init, ctx, verbose, force_reinit)

    def hybridize(self, active=True, **kwargs):
        """Set the hybridize flags on every HybridBlock in the tree."""
        for child in self._children.values():
            child.hybridize(active, **kwargs)

    def cast(self, dtype):
        """Cast the parameters of this block and its children to ``dtype``."""
        for child in self._children.values():
            child.cast(dtype)
        for param in self.params.values():
            param.cast(dtype)

    def __call__(self, *args):
        """Run the forward pre-hooks, :meth:`forward` and the forward hooks."""
        for hook in list(self._forward_pre_hooks.values()):
            hook(self, args)
        out = self.forward(*args)
        for hook in list(self._forward_hooks.values()):
            hook(self, args, out)
        return out

    def forward(self, *args):
        """Compute the output from the inputs; subclasses must override it."""
        raise NotImplementedError('%s must override forward()' % self.__class__.__name__)

    def summary(self, *inputs):
        """Print each block's output shape and parameter count for one forward of ``inputs``."""
        rows = []

        def record(block, _, outputs):
            shapes = [o.shape for o in (outputs if isinstance(outputs, (list, tuple))
                                        else [outputs]) if isinstance(o, NDArray)]
            count = 0
            for param in block.params.values():
                if _shape_is_known(param.shape):
                    size = 1
                    for dim in param.shape:
                        size *= dim
                    count += size
            rows.append((block.name, block.__class__.__name__, shapes, count))

        handles = []
        self.apply(lambda block: handles.append(block.register_forward_hook(record)))
        try:
            self(*inputs)
        finally:
            for handle in handles:
                handle.detach()
        print('%-30s %-20s %-25s %s' % ('Layer (name)', 'Type', 'Output shape', 'Params'))
        for name, kind, shapes, count in rows:
            print('%-30s %-20s %-25s %d' % (name, kind, shapes, count))
        print('Total params: %d' % sum(param.data().size for param in
                                       self.collect_params().values()
                                       if param._data is not None))


def _first_ndarray(args):
    """Return the first NDArray in ``args`` (searching nested lists), or None."""
    for arg in args:
        if isinstance(arg, NDArray):
            return arg
        if isinstance(arg, (list, tuple)):
            found = _first_ndarray(arg)
            if found is not None:
                return found
    return None


class HybridBlock(Block):
    """A Block whose computation is written once, against ``F``, in :meth:`hybrid_forward`.

    ``hybrid_forward(F, x, *args, **params)`` receives ``F = mx.nd`` and this block's own
    parameters by their attribute names (``weight=...``). Layers whose parameter shapes depend
    on the input (``in_units=0``) override :meth:`infer_shape` to fill them in at the first
    forward.

    NOTE: hybridize() records its flags but the block still runs imperatively, because the
    symbolic graph executor (mx.sym, CachedOp) does not exist in this package yet.
    """

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self._active = False
        self._flags = {}

    def register_child(self, block, name=None):
        if not isinstance(block, HybridBlock):
            raise ValueError('Children of HybridBlock must also be HybridBlock, but %s has type '
                             '%s. If you are using Sequential, please try HybridSequential '
                             'instead.' % (block, type(block)))
        super().register_child(block, name)

    def hybridize(self, active=True, backend=None, clear=True, static_alloc=False,
                  static_shape=False, inline_limit=2, forward_bulk_size=None,
                  backward_bulk_size=None, **kwargs):
        """Record the hybridize flags on this block and its children.

        The flags are stored for compatibility; execution stays imperative (see the class note).
        """
        self._active = active
        self._flags = dict(kwargs, backend=backend, static_alloc=static_alloc,
                           static_shape=static_shape, inline_limit=inline_limit,
                           forward_bulk_size=forward_bulk_size,
                           backward_bulk_size=backward_bulk_size)
        super().hybridize(active, backend=backend, clear=clear, static_alloc=static_alloc,
                          static_shape=static_shape, inline_limit=inline_limit,
                          forward_bulk_size=forward_bulk_size,
                          backward_bulk_size=backward_bulk_size, **kwargs)

    def infer_shape(self, *args):
        """Fill in the unknown parameter shapes of this block from the inputs ``args``.

        Layers with input-dependent parameters override this and set ``param.shape``. The
        default only checks that nothing is left unknown.
        """
        unknown = [param for param in self._reg_params.values()
                   if not _shape_is_known(param.shape)]
        if unknown:
            raise DeferredInitializationError(
                "Cannot infer the shape of Parameter %s (shape %s) of block '%s' (%s) from its "
                "inputs: %s does not implement infer_shape. Give the layer its input size "
                "(in_units, in_channels, ...) when constructing it, or override "
                "infer_shape(*args) to set param.shape."
                % (_brief_print_list(p.name for p in unknown), unknown[0].shape, self.name,
                   self.__class__.__name__, self.__class__.__name__))

    def infer_type(self, *args):
        """Check that parameter dtypes are known; dtypes are fixed at construction here."""

    def _deferred_init_params(self, *args):
        """Finish the deferred initialization of this block's own parameters."""
        self.infer_shape(*args)
        for param in self._reg_params.values():
            param._finish_deferred_init()

    def forward(self, x, *args):
        """Call :meth:`hybrid_forward` with ``F = mx.nd`` and this block's parameters."""
        first = _first_ndarray((x,) + args)
        if first is None:
            if any(type(arg).__name__ == 'Symbol' for arg in (x,) + args):
                raise NotImplementedError(
                    '%s: Symbol inputs need the symbolic API (mx.sym), which is not implemented '
                    'yet; call the block with NDArray inputs' % self.__class__.__name__)
            raise ValueError('In HybridBlock %s, there must be one NDArray in the input, got '
                             'types %s' % (self.name, [type(a).__name__ for a in (x,) + args]))
        ctx = first.context

        # Arrays created inside hybrid_forward (F.zeros and the like) default to the input's
        # context.
        with ctx:
            try:
                params = {name: param.data(ctx) for name, param in self._reg_params.items()}
            except DeferredInitializationError:
                self._deferred_init_params(x, *args)
                params = {name: param.data(ctx) for name, param in self._reg_params.items()}
            return self.hybrid_forward(nd, x, *args, **params)

    def hybrid_forward(self, F, x, *args, **kwargs):
        """Compute the output with the operators of ``F``; subclasses must override it."""
        raise NotImplementedError('%s must override hybrid_forward()' % self.__class__.__name__)

    def export(self, path, epoch=0, remove_amp_cast=True):
        """Export the graph and parameters (needs the symbolic API; not implemented yet)."""
        raise NotImplementedError('HybridBlock.export needs the symbolic API (mx.sym) to write '
                                  '%s-symbol.json, which is not implemented yet; use '
                                  'save_parameters to save the weights' % path)
