"""Gluon blocks: :class:`Block`, :class:`HybridBlock` and their naming rules.

Naming (this decides every parameter name, and so the keys of saved files):

* A block created outside any ``name_scope()`` gets the prefix ``<class name lower><n>_``, where
  ``n`` counts blocks of that class created so far in this thread (``dense0_``, ``dense1_``).
* A block created inside ``with parent.name_scope():`` gets ``parent.prefix + <hint><n>_``, where
  ``n`` counts that hint among the children created in that scope (``hybridsequential0_dense0_``).
* A parameter created with ``self.params.get('weight')`` is named ``prefix + 'weight'``.
"""

import os
import re
import threading
import warnings
from collections import OrderedDict, defaultdict

from .. import autograd
from .. import initializer
from .. import ndarray as nd
from .. import symbol as sym
from ..context import current_context
from ..ndarray import NDArray
from ..symbol import Symbol
from . import _cached_graph as _cg
from .parameter import (DeferredInitializationError, Parameter, ParameterDict,
                        _brief_print_list, _shape_is_known)

__all__ = ['Block', 'HybridBlock', 'SymbolBlock']


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

        if any(name.startswith(('arg:', 'aux:')) for name in loaded):
            # NOTE: MXNet 1.9.1 prepends this block's prefix to the full names of an export
            # file ('hybridsequential0_hybridsequential0_dense0_weight') and then fails. The
            # names here are matched as they are, without the 'arg:'/'aux:' markers.
            self._load_exported(loaded, filename, ctx, allow_missing, ignore_extra,
                                cast_dtype, dtype_source)
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

    def _load_exported(self, loaded, filename, ctx, allow_missing, ignore_extra, cast_dtype,
                       dtype_source):
        """Load a file written by export() or save_checkpoint(), matching full names."""
        stripped = {name[4:] if name.startswith(('arg:', 'aux:')) else name: value
                    for name, value in loaded.items()}
        params = self.collect_params()
        missing = [name for name in params.keys() if name not in stripped]
        extra = [name for name in stripped if name not in params]
        if (missing and not allow_missing) or (extra and not ignore_extra):
            file_prefix = _common_name_prefix(stripped.keys())
            raise ValueError(
                "load_parameters: file '%s' was written by export() and contains the full "
                "parameter names %s, which do not match this block's names %s. Load "
                "the exported model with gluon.SymbolBlock.imports(symbol_file, input_names, "
                "'%s'), or build this block with the prefix of the exporting block (the file's "
                "names share the prefix '%s'). allow_missing=True and ignore_extra=True skip "
                "unmatched names."
                % (filename, _brief_print_list(stripped.keys()),
                   _brief_print_list(params.keys()), filename, file_prefix))
        params.load_dict(stripped, ctx, allow_missing, ignore_extra, filename=filename,
                         cast_dtype=cast_dtype, dtype_source=dtype_source)

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
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                hook(self, args)
        out = self.forward(*args)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                hook(self, args, out)
        return out

    def forward(self, *args):
        """Compute the output from the inputs; subclasses must override it."""
        raise NotImplementedError('%s must override forward()' % self.__class__.__name__)

    def summary(self, *inputs):
        """Print each block's output shape and parameter count for one forward of ``inputs``.

        The blocks must not be hybridized: a traced graph runs without calling its children.
        """
        hybridized = []
        self.apply(lambda block: hybridized.append(block.name)
                   if getattr(block, '_active', False) else None)
        if hybridized:
            raise RuntimeError("summary: blocks %s are hybridized; call hybridize(False) before "
                               "summary(), as MXNet 1.9.1 requires" % hybridized)
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


def _freeze(fmt):
    """Return a hashable copy of a format from ``_cached_graph.flatten``."""
    if isinstance(fmt, list):
        return tuple(_freeze(item) for item in fmt)
    return fmt


def _flatten_or_none(args):
    """Return ``(flat, fmt)`` of ``args``, or None when they contain values other than arrays."""
    try:
        return _cg.flatten(args, 'inputs')
    except TypeError:
        return None


class HybridBlock(Block):
    """A Block whose computation is written once, against ``F``, in :meth:`hybrid_forward`.

    ``hybrid_forward(F, x, *args, **params)`` receives this block's own parameters by their
    attribute names (``weight=...``). Called with NDArrays it gets ``F = mx.nd`` and the
    parameters' data. Called with Symbols it gets ``F = mx.sym`` and the parameters' variables,
    and returns a Symbol.

    After :meth:`hybridize`, an NDArray call traces the block once into a Symbol and runs it as
    a cached ``mxnet._native.Graph``; :meth:`export` then writes that graph and the parameters.
    Layers whose parameter shapes depend on the input (``in_units=0``) override
    :meth:`infer_shape` to fill them in at the first forward.
    """

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self._active = False
        self._flags = {}
        self._clear_cached_graph()

    def _clear_cached_graph(self):
        # Traced symbols by (input format, training mode), and compiled graphs by
        # (input format, input shapes and dtypes, context, training mode).
        self._traced_symbols = {}
        self._cached_graphs = {}
        self._last_input_format = None

    def register_child(self, block, name=None):
        if not isinstance(block, HybridBlock):
            raise ValueError('Children of HybridBlock must also be HybridBlock, but %s has type '
                             '%s. If you are using Sequential, please try HybridSequential '
                             'instead.' % (block, type(block)))
        super().register_child(block, name)
        self._clear_cached_graph()

    def hybridize(self, active=True, backend=None, clear=True, static_alloc=False,
                  static_shape=False, inline_limit=2, forward_bulk_size=None,
                  backward_bulk_size=None, **kwargs):
        """Run this block and its children as a traced graph (``active=True``) or imperatively.

        Parameters
        ----------
        active : bool, default True
        backend : None
            Subgraph backends do not exist in this package; only None is accepted.
        clear : bool, default True
            Drop the graphs traced so far, so the next call traces again.
        static_alloc : bool, default False
            Let the graph reuse its intermediate buffers across calls outside
            ``autograd.record()``.
        static_shape : bool, default False
            Accepted for compatibility; graphs are cached per input shape anyway.
        inline_limit, forward_bulk_size, backward_bulk_size
            Accepted for compatibility; they have no effect here.
        """
        if backend is not None:
            raise ValueError("hybridize: backend=%r is not available; this package has no "
                             "subgraph backends, so pass backend=None" % (backend,))
        self._active = active
        self._flags = dict(kwargs, backend=backend, static_alloc=static_alloc,
                           static_shape=static_shape, inline_limit=inline_limit,
                           forward_bulk_size=forward_bulk_size,
                           backward_bulk_size=backward_bulk_size)
        if clear or not active:
            self._clear_cached_graph()
        if active and (self._forward_hooks or self._forward_pre_hooks):
            warnings.warn("Block '%s' is hybridized and has forward hooks. If it is the child of "
                          "another hybridized block, its hooks run only while that block is "
                          "traced, with Symbol arguments." % self.name, stacklevel=2)
        super().hybridize(active, backend=backend, clear=clear, static_alloc=static_alloc,
                          static_shape=static_shape, inline_limit=inline_limit,
                          forward_bulk_size=forward_bulk_size,
                          backward_bulk_size=backward_bulk_size, **kwargs)

    def cast(self, dtype):
        self._clear_cached_graph()
        super().cast(dtype)

    def infer_shape(self, *args):
        """Fill in the unknown parameter shapes of this block from the inputs ``args``.

        Layers with input-dependent parameters override this and set ``param.shape``. The
        default infers the shapes from the traced graph of :meth:`hybrid_forward`.
        """
        unknown = [param for param in self._reg_params.values()
                   if not _shape_is_known(param.shape)]
        if not unknown:
            return
        reason = ''
        flattened = _flatten_or_none(list(args))
        if flattened is not None and all(isinstance(a, NDArray) for a in flattened[0]):
            try:
                self._infer_shapes_from_graph(*flattened)
            except Exception as error:  # pylint: disable=broad-except
                # The error raised below reports a failed trace or shape inference.
                reason = ' Inference from the traced graph failed: %s' % error
        unknown = [param for param in unknown if not _shape_is_known(param.shape)]
        if unknown:
            raise DeferredInitializationError(
                "Cannot infer the shape of Parameter %s (shape %s) of block '%s' (%s) from its "
                "inputs. Give the layer its input size (in_units, in_channels, ...) when "
                "constructing it, or override infer_shape(*args) to set param.shape.%s"
                % (_brief_print_list(p.name for p in unknown), unknown[0].shape, self.name,
                   self.__class__.__name__, reason))

    def _infer_shapes_from_graph(self, flat, fmt):
        """Set unknown shapes of this block's parameters from the traced graph's inference."""
        symbol, _ = self._trace(fmt, autograd.is_training())
        shapes = dict(zip(_cg.input_names(len(flat)), (a.shape for a in flat)))
        arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**shapes)
        inferred = dict(zip(symbol.list_arguments(), arg_shapes))
        inferred.update(zip(symbol.list_auxiliary_states(), aux_shapes))
        for param in self._reg_params.values():
            shape = inferred.get(param.name)
            if _shape_is_known(param.shape) or not shape or not _shape_is_known(shape):
                continue
            # Broadcasting operators infer a full-rank guess for a parameter of lower rank;
            # only a shape that agrees with the declared one is taken.
            declared = param.shape
            if declared is None or (len(declared) == len(shape) and all(
                    old in (0, -1, new) for old, new in zip(declared, shape))):
                param.shape = shape

    def infer_type(self, *args):
        """Check that parameter dtypes are known; dtypes are fixed at construction here."""

    def _deferred_init_params(self, *args):
        """Finish the deferred initialization of this block's own parameters."""
        self.infer_shape(*args)
        for param in self._reg_params.values():
            param._finish_deferred_init()

    def forward(self, x, *args):
        """Run :meth:`hybrid_forward` on NDArrays (through the cached graph when hybridized),
        or build its Symbol when the inputs are Symbols."""
        if type(x) is NDArray and not self._active:
            # The usual eager call (NDArray inputs only): skip the input flattening below.
            for arg in args:
                if type(arg) is not NDArray:
                    break
            else:
                return self._forward_imperative(x, *args)
        flattened = _flatten_or_none([x] + list(args))
        if flattened is not None:
            flat, fmt = flattened
            if any(isinstance(a, Symbol) for a in flat):
                if not all(isinstance(a, Symbol) for a in flat):
                    raise TypeError('%s: inputs mix Symbols and NDArrays; pass only one kind'
                                    % self.__class__.__name__)
                return self._forward_symbolic(flat, x, *args)
            if self._active and flat and _cg.STATE.imperative_depth == 0:
                return self._call_cached_graph(flat, fmt, x, *args)
        elif self._active:
            raise TypeError('%s is hybridized, so its inputs must be NDArrays, None or (nested) '
                            'lists of them, got types %s. Call hybridize(False) to pass other '
                            'values.' % (self.__class__.__name__,
                                         [type(a).__name__ for a in (x,) + args]))
        return self._forward_imperative(x, *args)

    def _forward_imperative(self, x, *args):
        first = x if type(x) is NDArray else _first_ndarray((x,) + args)
        if first is None:
            raise ValueError('In HybridBlock %s, there must be one NDArray in the input, got '
                             'types %s' % (self.name, [type(a).__name__ for a in (x,) + args]))
        ctx = first.context
        # Arrays created inside hybrid_forward (F.zeros and the like) default to the input's
        # context. It usually is the default already, and the `with` block costs more than the
        # rest of this method.
        if current_context() is ctx:
            return self._run_hybrid_forward(ctx, x, args)
        with ctx:
            return self._run_hybrid_forward(ctx, x, args)

    def _run_hybrid_forward(self, ctx, x, args):
        try:
            params = {name: param.data(ctx) for name, param in self._reg_params.items()}
        except DeferredInitializationError:
            self._deferred_init_params(x, *args)
            params = {name: param.data(ctx) for name, param in self._reg_params.items()}
        return self.hybrid_forward(nd, x, *args, **params)

    def _forward_symbolic(self, flat, x, *args):
        params = {name: _cg.parameter_variable(param)
                  for name, param in self._reg_params.items()}
        with _cg.SymbolicCall(self, flat) as call:
            try:
                out = self.hybrid_forward(sym, x, *args, **params)
            except Exception as error:  # pylint: disable=broad-except
                _cg.raise_if_value_use(self, error)
                raise
            outputs, _ = _cg.flatten(out, 'outputs')
            call.name_outputs(outputs)
        return out

    def _trace(self, fmt, training):
        """Return ``(symbol, output format)`` of hybrid_forward for inputs shaped like ``fmt``,
        traced once per training mode."""
        # NOTE: MXNet 1.9.1 keeps the graph of its first trace, so a hybrid_forward that
        # branches on autograd.is_training() runs that branch in both modes. Tracing once per
        # mode returns the right branch in each.
        key = (_freeze(fmt), training)
        if key in self._traced_symbols:
            return self._traced_symbols[key]
        variables = [sym.var(name) for name in _cg.input_names(_cg.count_arrays(fmt))]
        grouped, _ = _cg.regroup(variables, fmt)
        params = {name: _cg.parameter_variable(param)
                  for name, param in self._reg_params.items()}
        with _cg.SymbolicCall(self, variables) as call:
            try:
                out = self.hybrid_forward(sym, *grouped, **params)
            except Exception as error:  # pylint: disable=broad-except
                _cg.raise_if_value_use(self, error)
                raise
            outputs, out_fmt = _cg.flatten(out, 'outputs')
            call.name_outputs(outputs)
        traced = (sym.Group(outputs), out_fmt)
        self._traced_symbols[key] = traced
        return traced

    def _has_deferred_params(self):
        return any(param._data is None and param._deferred_init
                   for param in self.collect_params().values())

    def _call_cached_graph(self, flat, fmt, x, *args):
        ctx = flat[0].context
        for array in flat[1:]:
            if array.context != ctx:
                raise ValueError('%s: all inputs of a hybridized block must be on one context, '
                                 'got %s and %s' % (self.__class__.__name__, ctx, array.context))
        training = autograd.is_training()
        # NOTE: one compiled graph is kept per input shape and is never evicted, so inputs of
        # many different shapes (variable sequence lengths) keep adding graphs.
        key = (_freeze(fmt), _cg.array_signature(flat), ctx, training)
        entry = self._cached_graphs.get(key)
        # Deferred parameters are checked on a cache miss only: a compiled graph implies
        # they were initialized, and collect_params() on every call cost as much as the
        # graph itself for a batch-1 LeNet.
        if entry is None and self._has_deferred_params():
            # Parameter shapes come from the imperative path, which runs this call once. Its
            # result is returned as is, so BatchNorm statistics and the random state advance
            # once, as they would in a graph run.
            _cg.STATE.imperative_depth += 1
            try:
                out = self._forward_imperative(x, *args)
            finally:
                _cg.STATE.imperative_depth -= 1
            self._trace(fmt, training)
            self._last_input_format = fmt
            return out
        if entry is None:
            symbol, out_fmt = self._trace(fmt, training)
            params = {param.name: param for param in self.collect_params().values()}
            graph = _cg.CachedGraph(symbol, _cg.input_names(len(flat)), params, self.name)
            entry = self._cached_graphs[key] = (graph, out_fmt)
        self._last_input_format = fmt
        graph, out_fmt = entry
        outputs = graph(flat, ctx, static_alloc=bool(self._flags.get('static_alloc')))
        return _cg.regroup(outputs, out_fmt)[0]

    def hybrid_forward(self, F, x, *args, **kwargs):
        """Compute the output with the operators of ``F``; subclasses must override it."""
        raise NotImplementedError('%s must override hybrid_forward()' % self.__class__.__name__)

    def export(self, path, epoch=0, remove_amp_cast=True):
        """Write the traced graph to ``path-symbol.json`` and the parameters to
        ``path-%04d.params`` (keys ``arg:<name>`` and ``aux:<name>``), as MXNet 1.9.1 does.

        The graph is traced in predict mode, which is what a deployed model runs. Parameters
        that the graph does not use are left out with a warning.
        """
        if self._last_input_format is None:
            raise RuntimeError("export: block '%s' has no traced graph yet. Call hybridize() and "
                               "run one forward with this block before export()." % self.name)
        with autograd.predict_mode():
            symbol, _ = self._trace(self._last_input_format, False)
        symbol.save('%s-symbol.json' % path, remove_amp_cast=remove_amp_cast)

        arg_names = set(symbol.list_arguments())
        aux_names = set(symbol.list_auxiliary_states())
        arg_dict = {}
        for name, param in self.collect_params().items():
            if name in arg_names:
                arg_dict['arg:%s' % name] = param._reduce()
            elif name in aux_names:
                arg_dict['aux:%s' % name] = param._reduce()
            else:
                warnings.warn("export: Parameter '%s' is not used by the graph of block '%s', "
                              "so it is not saved." % (name, self.name), stacklevel=2)
        nd.save('%s-%04d.params' % (path, epoch), arg_dict)


def _common_name_prefix(names):
    """Return the longest common prefix of ``names`` that ends with '_' (or '')."""
    prefix = os.path.commonprefix(list(names))
    return prefix[:prefix.rfind('_') + 1]


class SymbolBlock(HybridBlock):
    """A block that runs a given Symbol, such as a graph loaded from ``-symbol.json``.

    Every variable that is not an input becomes a parameter of the same name (auxiliary states
    such as BatchNorm's running statistics get ``grad_req='null'``). Use :meth:`imports` to load
    a graph and its parameters written by :meth:`HybridBlock.export`.

    Parameters
    ----------
    outputs : Symbol or list of Symbol
        The graph's outputs.
    inputs : Symbol or list of Symbol
        The input variables, in call order.
    params : ParameterDict, optional
        Parameters to share; the others are created.
    """

    def __init__(self, outputs, inputs, params=None):
        super().__init__(prefix=None, params=None)
        self._prefix = ''
        self._params = ParameterDict('', params)
        if isinstance(inputs, Symbol) and len(inputs) == 1:
            inputs = [inputs]
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            outputs = outputs[0]
        input_symbols, self._in_format = _cg.flatten(inputs, 'inputs')
        output_symbols, self._out_format = _cg.flatten(outputs, 'outputs')
        if not all(isinstance(s, Symbol) for s in input_symbols + output_symbols):
            raise TypeError('SymbolBlock: inputs and outputs must be Symbols')
        for s in input_symbols:
            if len(s) != 1 or s._outputs[0][0].op is not None:
                raise ValueError('SymbolBlock: inputs must be variables (mx.sym.var), but %r is '
                                 'the output of an operator' % (s,))
        self._input_names = [s.name for s in input_symbols]
        if len(set(self._input_names)) != len(self._input_names):
            raise ValueError('SymbolBlock: input names %s contain duplicates' % self._input_names)
        self._symbol = sym.Group(output_symbols)
        graph_inputs = self._symbol.list_inputs()
        missing = [name for name in self._input_names if name not in graph_inputs]
        if missing:
            raise ValueError('SymbolBlock: inputs %s are not variables of the graph, whose '
                             'variables are %s' % (missing, graph_inputs))

        for name in self._symbol.list_arguments():
            if name not in self._input_names:
                self.params.get(name, allow_deferred_init=True)
        for name in self._symbol.list_auxiliary_states():
            if name not in self._input_names:
                self.params.get(name, grad_req='null', allow_deferred_init=True)
        prefix_length = len(_common_name_prefix(self._params.keys()))
        self._reg_params = {name[prefix_length:]: param for name, param in self._params.items()}

    @staticmethod
    def imports(symbol_file, input_names, param_file=None, ctx=None, allow_missing=False,
                ignore_extra=False):
        """Load a graph (``-symbol.json``) and optionally its parameters (``-NNNN.params``).

        Parameters
        ----------
        symbol_file : str
        input_names : str or list of str
            Names of the input variables, such as ``'data'``.
        param_file : str, optional
            Without it, call :meth:`initialize` before the first forward.
        ctx : Context or list of Context, optional
        allow_missing, ignore_extra : bool, default False
            As in :meth:`ParameterDict.load`.
        """
        symbol = sym.load(symbol_file)
        if isinstance(input_names, str):
            input_names = [input_names]
        block = SymbolBlock(symbol, [sym.var(name) for name in input_names])
        if param_file is not None:
            block.collect_params().load(param_file, ctx, allow_missing, ignore_extra,
                                        cast_dtype=True, dtype_source='saved')
        return block

    def forward(self, x, *args):
        """Run the graph on NDArrays, or compose it with Symbol inputs."""
        flat, fmt = _cg.flatten([x] + list(args), 'inputs')
        if _freeze(fmt) != _freeze(self._in_format):
            raise ValueError('SymbolBlock: expected inputs laid out as %s (one array per name '
                             'of %s), got %s' % (self._in_format, self._input_names, fmt))
        if all(isinstance(a, Symbol) for a in flat):
            with _cg.SymbolicCall(self, flat) as call:
                composed = self._symbol.__copy__()
                composed._compose(**dict(zip(self._input_names, flat)))
                call.keep_names([composed])
            return _cg.regroup(list(composed), self._out_format)[0]
        if not all(isinstance(a, NDArray) for a in flat):
            raise TypeError('SymbolBlock: inputs mix Symbols and NDArrays; pass only one kind')

        ctx = flat[0].context
        if self._has_deferred_params():
            self._deferred_init_params(*flat)
        key = (_cg.array_signature(flat), ctx, autograd.is_training())
        graph = self._cached_graphs.get(key)
        if graph is None:
            params = {param.name: param for param in self.params.values()}
            graph = _cg.CachedGraph(self._symbol, self._input_names, params, 'SymbolBlock')
            self._cached_graphs[key] = graph
        self._last_input_format = fmt
        outputs = graph(flat, ctx, static_alloc=bool(self._flags.get('static_alloc')))
        return _cg.regroup(outputs, self._out_format)[0]

    def _trace(self, fmt, training):
        return self._symbol, self._out_format

    def infer_shape(self, *args):
        """Set the unknown parameter shapes from the graph's shape inference on ``args``."""
        shapes = dict(zip(self._input_names, (a.shape for a in args)))
        arg_shapes, _, aux_shapes = self._symbol.infer_shape_partial(**shapes)
        inferred = dict(zip(self._symbol.list_arguments(), arg_shapes))
        inferred.update(zip(self._symbol.list_auxiliary_states(), aux_shapes))
        unknown = []
        for param in self.params.values():
            shape = inferred.get(param.name)
            if not _shape_is_known(param.shape):
                if shape and _shape_is_known(shape):
                    param.shape = shape
                else:
                    unknown.append(param.name)
        if unknown:
            raise DeferredInitializationError(
                'SymbolBlock: cannot infer the shapes of parameters %s from input shapes %s. '
                'Load them from a file (imports with param_file) or set their shapes.'
                % (_brief_print_list(unknown), shapes))

    def hybrid_forward(self, F, x, *args, **kwargs):
        raise NotImplementedError('SymbolBlock runs its Symbol directly and has no '
                                  'hybrid_forward')
