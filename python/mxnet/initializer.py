"""Weight initializers (``mx.init`` / ``mx.initializer``).

An initializer is called as ``init(desc, arr)`` and fills ``arr`` in place. ``desc`` is an
:class:`InitDesc`, a ``str`` subclass carrying the parameter name and its attributes. When
``desc.attrs['__init__']`` names an initializer, that initializer's ``_init_weight`` fills the
array whatever the name. Otherwise the name suffix picks the rule: ``weight`` uses this
initializer, ``bias``/``beta``/``min`` get zeros and ``gamma``/``max`` get ones.
"""

import json
import logging
import re

import numpy as np

from . import ndarray as nd
from .ndarray import NDArray

__all__ = ['InitDesc', 'Initializer', 'register', 'alias', 'create',
           'Zero', 'One', 'Constant', 'Uniform', 'Normal', 'Orthogonal', 'Xavier',
           'MSRAPrelu', 'Bilinear', 'LSTMBias', 'Mixed', 'Load']

_logger = logging.getLogger(__name__)

# Lower-case name (class name or alias) -> Initializer subclass.
_REGISTRY = {}


class InitDesc(str):
    """Name of a parameter to initialize, with its attributes.

    Parameters
    ----------
    name : str
        Full parameter name, such as ``dense0_weight``.
    attrs : dict of str to str or Initializer, optional
        Attributes of the parameter. ``'__init__'`` selects the initializer.
    global_init : Initializer, optional
        The initializer the call started from.
    """

    def __new__(cls, name, attrs=None, global_init=None):
        desc = super().__new__(cls, name)
        desc.attrs = attrs or {}
        desc.global_init = global_init
        return desc


def register(klass):
    """Register an Initializer subclass under its lower-case class name (a class decorator)."""
    if not (isinstance(klass, type) and issubclass(klass, Initializer)):
        raise TypeError('register: expected a subclass of Initializer, got %r' % (klass,))
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


def alias(*aliases):
    """Return a class decorator that registers an Initializer under extra names."""
    def decorate(klass):
        register(klass)
        for name in aliases:
            _REGISTRY[name.lower()] = klass
        return klass
    return decorate


def create(init, **kwargs):
    """Create an initializer from an instance, a registered name or a ``dumps()`` JSON string.

    Examples: ``create('xavier', magnitude=2)``, ``create('["normal", {"sigma": 0.1}]')``.
    """
    if isinstance(init, Initializer):
        if kwargs:
            raise ValueError('create: keyword arguments %s cannot be applied to an existing '
                             'initializer instance %r' % (sorted(kwargs), init))
        return init
    if isinstance(init, type) and issubclass(init, Initializer):
        return init(**kwargs)
    if not isinstance(init, str):
        raise TypeError('create: expected an Initializer, a name or a JSON string, got %r'
                        % (init,))

    name = init
    if init.startswith('['):
        parsed = json.loads(init)
        if not (isinstance(parsed, list) and len(parsed) == 2 and isinstance(parsed[1], dict)):
            raise ValueError('create: JSON initializer must be ["name", {kwargs}], got %r' % init)
        name, json_kwargs = parsed
        kwargs = dict(json_kwargs, **kwargs)
    klass = _REGISTRY.get(name.lower())
    if klass is None:
        raise ValueError('create: unknown initializer %r. Registered names: %s'
                         % (name, ', '.join(sorted(_REGISTRY))))
    return klass(**kwargs)


class Initializer:
    """Base class of initializers.

    Subclasses override ``_init_weight(name, arr)``. The keyword arguments given to the
    constructor are stored for :meth:`dumps`.
    """

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Log a summary of every initialized array when ``verbose`` is true.

        ``print_func(arr)`` returns the summary string; the default is the array's L2 norm
        divided by the square root of its size.
        """
        self._verbose = verbose
        if print_func is None:
            def print_func(arr):
                values = arr.asnumpy().astype(np.float64)
                return 'Norm: %g' % (np.linalg.norm(values) / np.sqrt(max(values.size, 1)))
        self._print_func = print_func
        return self

    def _verbose_print(self, desc, init, arr):
        if self._verbose and self._print_func:
            _logger.info('Initialized %s as %s: %s', desc, init, self._print_func(arr))

    def dumps(self):
        """Return the JSON form ``["name", {kwargs}]`` that :func:`create` accepts."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __repr__(self):
        args = ', '.join('%s=%r' % item for item in sorted(self._kwargs.items()))
        return '%s(%s)' % (self.__class__.__name__, args)

    def __call__(self, desc, arr):
        """Fill ``arr`` in place according to ``desc`` (an InitDesc or a plain name)."""
        if not isinstance(desc, InitDesc):
            self._legacy_init(desc, arr)
            return
        if desc.global_init is None:
            desc.global_init = self

        init = desc.attrs.get('__init__', '')
        if init:
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
            return

        if desc.endswith('weight'):
            self._init_weight(desc, arr)
            self._verbose_print(desc, 'weight', arr)
        elif desc.endswith('bias'):
            self._init_bias(desc, arr)
            self._verbose_print(desc, 'bias', arr)
        elif desc.endswith('gamma'):
            self._init_gamma(desc, arr)
            self._verbose_print(desc, 'gamma', arr)
        elif desc.endswith('beta'):
            self._init_beta(desc, arr)
            self._verbose_print(desc, 'beta', arr)
        elif desc.endswith('min'):
            self._init_zero(desc, arr)
            self._verbose_print(desc, 'min', arr)
        elif desc.endswith('max'):
            self._init_one(desc, arr)
            self._verbose_print(desc, 'max', arr)
        else:
            self._init_default(desc, arr)

    def _legacy_init(self, name, arr):
        """Initialize by name patterns alone, as the symbolic Module API did."""
        if not isinstance(name, str):
            raise TypeError('Initializer: name must be a str, got %r' % (name,))
        if not isinstance(arr, NDArray):
            raise TypeError('Initializer: arr must be an NDArray, got %r' % (type(arr),))

        if name.startswith('upsampling'):
            self._init_bilinear(name, arr)
        elif name.startswith('stn_loc') and name.endswith('weight'):
            self._init_zero(name, arr)
        elif name.startswith('stn_loc') and name.endswith('bias'):
            self._init_loc_bias(name, arr)
        elif name.endswith('bias'):
            self._init_bias(name, arr)
        elif name.endswith('gamma'):
            self._init_gamma(name, arr)
        elif name.endswith('beta'):
            self._init_beta(name, arr)
        elif name.endswith('weight'):
            self._init_weight(name, arr)
        elif name.endswith(('moving_mean', 'moving_inv_var', 'moving_avg', 'min')):
            self._init_zero(name, arr)
        elif name.endswith(('moving_var', 'max')):
            self._init_one(name, arr)
        else:
            self._init_default(name, arr)

    def _init_bilinear(self, _, arr):
        arr[:] = _bilinear_kernel(arr.shape)

    def _init_loc_bias(self, _, arr):
        if arr.shape[0] != 6:
            raise ValueError('Initializer: stn_loc bias must have 6 elements, got shape %s'
                             % (arr.shape,))
        arr[:] = np.array([1.0, 0, 0, 0, 1.0, 0])

    def _init_zero(self, _, arr):
        arr[:] = 0.0

    def _init_one(self, _, arr):
        arr[:] = 1.0

    def _init_bias(self, _, arr):
        arr[:] = 0.0

    def _init_gamma(self, _, arr):
        arr[:] = 1.0

    def _init_beta(self, _, arr):
        arr[:] = 0.0

    def _init_weight(self, name, arr):
        raise NotImplementedError('%s does not implement _init_weight (needed for %s)'
                                  % (self.__class__.__name__, name))

    def _init_default(self, name, _):
        raise ValueError(
            'Unknown initialization pattern for %s. Without an "__init__" attribute only names '
            'ending in "weight", "bias", "gamma" (1.0), "beta" (0.0), "min" (0.0) and "max" (1.0) '
            'can be initialized. Set the parameter\'s init (for example init=mx.init.Zero()) '
            'to choose an initializer.' % name)


def _bilinear_kernel(shape):
    """Return a numpy array of ``shape`` holding a bilinear upsampling kernel."""
    if len(shape) != 4:
        raise ValueError('Bilinear initializer needs a 4-D weight (N, C, H, W), got shape %s'
                         % (shape,))
    height, width = shape[2], shape[3]
    f = np.ceil(width / 2.0)
    center = (2 * f - 1 - f % 2) / (2.0 * f)
    x = np.arange(width)
    y = np.arange(height)
    kernel = np.outer(1 - np.abs(y / f - center), 1 - np.abs(x / f - center))
    return np.broadcast_to(kernel, shape).astype(np.float32)


@alias('zeros')
class Zero(Initializer):
    """Initialize to zero."""

    def _init_weight(self, _, arr):
        arr[:] = 0.0


@alias('ones')
class One(Initializer):
    """Initialize to one."""

    def _init_weight(self, _, arr):
        arr[:] = 1.0


@register
class Constant(Initializer):
    """Initialize to a constant.

    Parameters
    ----------
    value : float or NDArray or array-like
        The value to fill the array with (broadcast to its shape).
    """

    def __init__(self, value):
        json_value = value.asnumpy().tolist() if isinstance(value, NDArray) else value
        if isinstance(json_value, np.ndarray):
            json_value = json_value.tolist()
        super().__init__(value=json_value)
        self.value = value

    def _init_weight(self, _, arr):
        if isinstance(self.value, NDArray):
            self.value.copyto(arr)
        else:
            arr[:] = self.value


@register
class Uniform(Initializer):
    """Initialize with values drawn uniformly from ``[-scale, scale]``.

    Parameters
    ----------
    scale : float, default 0.07
        Bound of the interval.
    """

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        nd.random.uniform(-self.scale, self.scale, out=arr)


@register
class Normal(Initializer):
    """Initialize with values drawn from ``N(0, sigma^2)``.

    Parameters
    ----------
    sigma : float, default 0.01
        Standard deviation.
    """

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        nd.random.normal(0, self.sigma, out=arr)


@register
class Orthogonal(Initializer):
    """Initialize with a scaled (semi-)orthogonal matrix (Saxe et al., 2013).

    The weight is viewed as ``(shape[0], prod(shape[1:]))``; a random matrix of that shape
    is factored by SVD and the factor with that shape is used.

    Parameters
    ----------
    scale : float, default 1.414
        Multiplier of the orthogonal matrix.
    rand_type : {'uniform', 'normal'}, default 'uniform'
        Distribution of the random matrix before the SVD.
    """

    def __init__(self, scale=1.414, rand_type='uniform'):
        if rand_type not in ('uniform', 'normal'):
            raise ValueError("Orthogonal: rand_type must be 'uniform' or 'normal', got %r"
                             % (rand_type,))
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _, arr):
        rows = arr.shape[0]
        cols = int(np.prod(arr.shape[1:]))
        if self.rand_type == 'uniform':
            sample = nd.random.uniform(-1.0, 1.0, shape=(rows, cols)).asnumpy()
        else:
            sample = nd.random.normal(0.0, 1.0, shape=(rows, cols)).asnumpy()
        u, _, vt = np.linalg.svd(sample, full_matrices=False)
        basis = u if u.shape == sample.shape else vt
        arr[:] = (self.scale * basis).reshape(arr.shape)


@register
class Xavier(Initializer):
    """Xavier/Glorot initialization, keeping activation variance about equal across layers.

    With ``fan_in = shape[1] * prod(shape[2:])`` and ``fan_out = shape[0] * prod(shape[2:])``,
    ``factor`` is ``fan_in``, ``fan_out`` or their mean, and ``scale = sqrt(magnitude / factor)``.
    Values are drawn from ``U[-scale, scale]`` or ``N(0, scale^2)``.

    Parameters
    ----------
    rnd_type : {'uniform', 'gaussian'}, default 'uniform'
    factor_type : {'avg', 'in', 'out'}, default 'avg'
    magnitude : float, default 3
    """

    def __init__(self, rnd_type='uniform', factor_type='avg', magnitude=3):
        if rnd_type not in ('uniform', 'gaussian'):
            raise ValueError("Xavier: rnd_type must be 'uniform' or 'gaussian', got %r"
                             % (rnd_type,))
        if factor_type not in ('avg', 'in', 'out'):
            raise ValueError("Xavier: factor_type must be 'avg', 'in' or 'out', got %r"
                             % (factor_type,))
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise ValueError('Xavier initializer cannot be applied to %s with shape %s: it needs '
                             'at least 2 dimensions. Use another initializer for vectors.'
                             % (name, shape))
        receptive_field = float(np.prod(shape[2:])) if len(shape) > 2 else 1.0
        fan_in = shape[1] * receptive_field
        fan_out = shape[0] * receptive_field
        if self.factor_type == 'avg':
            factor = (fan_in + fan_out) / 2.0
        elif self.factor_type == 'in':
            factor = fan_in
        else:
            factor = fan_out
        scale = float(np.sqrt(self.magnitude / factor))

        if self.rnd_type == 'uniform':
            nd.random.uniform(-scale, scale, out=arr)
        else:
            nd.random.normal(0, scale, out=arr)


@register
class MSRAPrelu(Xavier):
    """He/MSRA initialization for PReLU networks.

    It is Gaussian Xavier with ``magnitude = 2 / (1 + slope^2)``.

    Parameters
    ----------
    factor_type : {'avg', 'in', 'out'}, default 'avg'
    slope : float, default 0.25
        Negative slope of the PReLU that follows the layer.
    """

    def __init__(self, factor_type='avg', slope=0.25):
        magnitude = 2.0 / (1 + slope ** 2)
        super().__init__('gaussian', factor_type, magnitude)
        self._kwargs = {'factor_type': factor_type, 'slope': slope}


@register
class Bilinear(Initializer):
    """Initialize a 4-D weight as a bilinear upsampling kernel (for Deconvolution)."""

    def _init_weight(self, _, arr):
        arr[:] = _bilinear_kernel(arr.shape)


@register
class LSTMBias(Initializer):
    """Initialize an LSTM bias to zero except the forget gate, which gets ``forget_bias``.

    The bias contains the gates in the order ``[input, forget, cell, output]``.
    """

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        if arr.shape[0] % 4 != 0:
            raise ValueError('LSTMBias: the bias %s must have a multiple of 4 rows, got shape %s'
                             % (name, arr.shape))
        hidden = arr.shape[0] // 4
        arr[:] = 0.0
        arr[hidden:2 * hidden] = self.forget_bias


class Mixed:
    """Initialize each parameter with the first initializer whose regex matches its name.

    Parameters
    ----------
    patterns : list of str
        Regular expressions, applied with ``re.match``.
    initializers : list of Initializer
        One initializer per pattern.
    """

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise ValueError('Mixed: got %d patterns but %d initializers; pass one initializer '
                             'per pattern' % (len(patterns), len(initializers)))
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        for pattern, init in self.map:
            if pattern.match(name):
                init(name, arr)
                return
        raise ValueError('Mixed: parameter name %s matches none of the patterns %s. Add a ".*" '
                         'pattern at the end with a default initializer.'
                         % (name, [p.pattern for p, _ in self.map]))


class Load:
    """Initialize parameters from saved arrays, falling back to ``default_init``.

    Parameters
    ----------
    param : str or dict of str to NDArray
        A file written by ``mx.nd.save`` or the loaded dict. Leading ``arg:``/``aux:`` are removed
        from the names.
    default_init : Initializer, optional
        Used for names missing from ``param``.
    verbose : bool, default False
        Log each loaded name.
    """

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            param = nd.load(param)
        if not isinstance(param, dict):
            raise TypeError('Load: param must be a file name or a dict of str to NDArray, got %r'
                            % (type(param),))
        self.param = {}
        for name, arr in param.items():
            if name.startswith('arg:') or name.startswith('aux:'):
                name = name[4:]
            self.param[name] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr):
        if name in self.param:
            saved = self.param[name]
            if tuple(arr.shape) != tuple(saved.shape):
                raise ValueError('Load: parameter %s has shape %s but the saved array has shape %s'
                                 % (name, arr.shape, saved.shape))
            arr[:] = saved
            if self.verbose:
                _logger.info('Initialized %s by loading', name)
            return
        if self.default_init is None:
            raise ValueError('Load: cannot initialize %s because it is not in the loaded params '
                             'and no default_init was given' % name)
        self.default_init(name, arr)
        if self.verbose:
            _logger.info('Initialized %s by default', name)
