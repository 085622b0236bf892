"""Basic Gluon layers: containers, Dense, Dropout, BatchNorm, Embedding, Flatten, Lambda."""

import warnings

import numpy as np

from ... import ndarray as nd
from ..block import Block, HybridBlock, _indent
from .activations import Activation

__all__ = ['Sequential', 'HybridSequential', 'Dense', 'Dropout', 'Embedding', 'BatchNorm',
           'Flatten', 'Lambda', 'HybridLambda']


def _chain_children(children, x, args):
    """Feed ``x`` through ``children`` in order; a tuple output becomes the next call's args."""
    for block in children:
        x = block(x, *args)
        args = []
        if isinstance(x, (tuple, list)):
            args = x[1:]
            x = x[0]
    if args:
        x = tuple([x] + list(args))
    return x


def _repr_children(block):
    lines = ['  (%s): %s' % (key, _indent(repr(child), 2))
             for key, child in block._children.items()]
    return '%s(\n%s\n)' % (block.__class__.__name__, '\n'.join(lines))


class Sequential(Block):
    """Stack Blocks to run one after another.

    Example::

        net = nn.Sequential()
        with net.name_scope():
            net.add(nn.Dense(10, activation='relu'))
            net.add(nn.Dense(20))
    """

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self._layers = []

    def add(self, *blocks):
        """Append blocks, registered as children '0', '1', ..."""
        for block in blocks:
            self._layers.append(block)
            self.register_child(block)

    def forward(self, x, *args):
        return _chain_children(self._children.values(), x, args)

    def __repr__(self):
        return _repr_children(self)

    def __getitem__(self, key):
        layers = list(self._children.values())[key]
        if isinstance(layers, list):
            net = type(self)(prefix=self._prefix)
            with net.name_scope():
                net.add(*layers)
            return net
        return layers

    def __len__(self):
        return len(self._children)

    def hybridize(self, active=True, **kwargs):
        """Hybridize the children; warns when all of them are HybridBlocks."""
        if self._children and all(isinstance(c, HybridBlock) for c in self._children.values()):
            warnings.warn("All children of this Sequential layer '%s' are HybridBlocks. Consider "
                          "using HybridSequential for the best performance." % self.prefix,
                          stacklevel=2)
        super().hybridize(active, **kwargs)


class HybridSequential(HybridBlock):
    """Stack HybridBlocks to run one after another.

    Example::

        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Dense(10, activation='relu'))
            net.add(nn.Dense(20))
        net.hybridize()
    """

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self._layers = []

    def add(self, *blocks):
        """Append blocks, registered as children '0', '1', ..."""
        for block in blocks:
            self._layers.append(block)
            self.register_child(block)

    def hybrid_forward(self, F, x, *args):
        return _chain_children(self._children.values(), x, args)

    def __repr__(self):
        return _repr_children(self)

    def __getitem__(self, key):
        layers = list(self._children.values())[key]
        if isinstance(layers, list):
            net = type(self)(prefix=self._prefix)
            with net.name_scope():
                net.add(*layers)
            return net
        return layers

    def __len__(self):
        return len(self._children)


class Dense(HybridBlock):
    """Fully connected layer: ``output = activation(dot(input, weight.T) + bias)``.

    Parameters
    ----------
    units : int
        Output dimension.
    activation : str, optional
        Activation applied to the output (see :class:`Activation`); None means linear.
    use_bias : bool, default True
    flatten : bool, default True
        Flatten all input axes but the first into one. When False, only the last axis is
        transformed.
    dtype : str or numpy dtype, default 'float32'
    weight_initializer : Initializer, optional
    bias_initializer : Initializer or str, default 'zeros'
    in_units : int, default 0
        Input dimension; 0 infers it from the first input.

    Inputs:
        - **data**: ``(batch_size, in_units)`` when flatten is True (any trailing axes are
          flattened), otherwise ``(x1, x2, ..., xn, in_units)``.

    Outputs:
        - **out**: ``(batch_size, units)`` when flatten is True, otherwise
          ``(x1, x2, ..., xn, units)``.
    """

    def __init__(self, units, activation=None, use_bias=True, flatten=True, dtype='float32',
                 weight_initializer=None, bias_initializer='zeros', in_units=0, **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError('Dense: units must be a positive integer, got %r' % (units,))
        if int(in_units) < 0:
            raise ValueError('Dense: in_units must be positive (or 0 to infer it), got %r' % (in_units,))
        self._flatten = flatten
        with self.name_scope():
            self._units = units
            self._in_units = in_units
            self.weight = self.params.get('weight', shape=(units, in_units),
                                          init=weight_initializer, dtype=dtype,
                                          allow_deferred_init=True)
            if use_bias:
                self.bias = self.params.get('bias', shape=(units,), init=bias_initializer,
                                            dtype=dtype, allow_deferred_init=True)
            else:
                self.bias = None
            if activation is not None:
                self.act = Activation(activation, prefix=activation + '_')
            else:
                self.act = None

    def infer_shape(self, x, *args):
        if self._flatten:
            in_units = int(np.prod(x.shape[1:]))
        else:
            in_units = x.shape[-1]
        if in_units <= 0:
            raise ValueError("Dense layer '%s' cannot infer in_units of Parameter '%s' from an "
                             "input of shape %s; pass in_units=" % (self.name, self.weight.name,
                                                                    x.shape))
        self.weight.shape = (self._units, in_units)

    def hybrid_forward(self, F, x, weight, bias=None):
        if bias is None:
            out = F.FullyConnected(x, weight, no_bias=True, num_hidden=self._units,
                                   flatten=self._flatten, name='fwd')
        else:
            out = F.FullyConnected(x, weight, bias, no_bias=False, num_hidden=self._units,
                                   flatten=self._flatten, name='fwd')
        if self.act is not None:
            out = self.act(out)
        return out

    def __repr__(self):
        shape = self.weight.shape
        layout = '%s -> %s' % (shape[1] if shape[1] else None, shape[0])
        return '%s(%s, %s)' % (self.__class__.__name__, layout, self.act if self.act else 'linear')


class Dropout(HybridBlock):
    """Randomly set a fraction ``rate`` of the input to zero during training.

    The kept values are scaled by ``1/(1-rate)``. Outside ``autograd.record()`` (or
    ``autograd.train_mode()``) the layer is the identity.

    Parameters
    ----------
    rate : float
        Fraction of the input units to drop, in ``[0, 1)``.
    axes : tuple of int, default ()
        Axes along which the same mask is shared (variational dropout).

    Inputs:
        - **data**: input of any shape.

    Outputs:
        - **out**: same shape as the input.
    """

    def __init__(self, rate, axes=(), **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError('Dropout: rate must be in [0, 1), got %r' % (rate,))
        self._rate = rate
        self._axes = axes

    def hybrid_forward(self, F, x):
        if self._rate > 0:
            return F.Dropout(x, p=self._rate, axes=self._axes, name='fwd', cudnn_off=False)
        return F.identity(x)

    def __repr__(self):
        return '%s(p = %s, axes=%s)' % (self.__class__.__name__, self._rate, self._axes)


class BatchNorm(HybridBlock):
    """Batch normalization (Ioffe and Szegedy, 2015).

    In training mode (inside ``autograd.record()``) the batch statistics normalize the input
    and the running statistics are updated in place:
    ``running = momentum*running + (1-momentum)*batch``. Otherwise the running statistics
    are used.

    Parameters
    ----------
    axis : int, default 1
        The channel axis (1 for ``NCHW``).
    momentum : float, default 0.9
    epsilon : float, default 1e-5
    center : bool, default True
        Learn the offset ``beta``; when False, beta stays 0.
    scale : bool, default True
        Learn the scale ``gamma``; when False, gamma is fixed at 1.
    use_global_stats : bool, default False
        Use the running statistics in training mode too.
    beta_initializer, gamma_initializer : default 'zeros', 'ones'
    running_mean_initializer, running_variance_initializer : default 'zeros', 'ones'
    in_channels : int, default 0
        Number of channels; 0 infers it from the first input.

    Inputs:
        - **data**: input of any shape with ``in_channels`` entries along ``axis``.

    Outputs:
        - **out**: same shape as the input.
    """

    def __init__(self, axis=1, momentum=0.9, epsilon=1e-5, center=True, scale=True,
                 use_global_stats=False, beta_initializer='zeros', gamma_initializer='ones',
                 running_mean_initializer='zeros', running_variance_initializer='ones',
                 in_channels=0, **kwargs):
        super().__init__(**kwargs)
        self._kwargs = {'axis': axis, 'eps': epsilon, 'momentum': momentum,
                        'fix_gamma': not scale, 'use_global_stats': use_global_stats}
        self._axis = axis
        if in_channels != 0:
            self.in_channels = in_channels

        self.gamma = self.params.get('gamma', grad_req='write' if scale else 'null',
                                     shape=(in_channels,), init=gamma_initializer,
                                     allow_deferred_init=True, differentiable=scale)
        self.beta = self.params.get('beta', grad_req='write' if center else 'null',
                                    shape=(in_channels,), init=beta_initializer,
                                    allow_deferred_init=True, differentiable=center)
        # The running statistics are auxiliary states: the BatchNorm op updates them in place
        # in training mode, and they get no gradient.
        self.running_mean = self.params.get('running_mean', grad_req='null',
                                            shape=(in_channels,),
                                            init=running_mean_initializer,
                                            allow_deferred_init=True, differentiable=False)
        self.running_var = self.params.get('running_var', grad_req='null',
                                           shape=(in_channels,),
                                           init=running_variance_initializer,
                                           allow_deferred_init=True, differentiable=False)

    def cast(self, dtype):
        # The statistics stay float32 when the rest of the network moves to float16.
        if np.dtype(dtype).name == 'float16':
            dtype = 'float32'
        super().cast(dtype)

    def infer_shape(self, x, *args):
        channels = x.shape[self._axis]
        if channels <= 0:
            raise ValueError("BatchNorm layer '%s' cannot infer in_channels of Parameter '%s' "
                             "from an input of shape %s along axis %d; pass in_channels="
                             % (self.name, self.gamma.name, x.shape, self._axis))
        for param in (self.gamma, self.beta, self.running_mean, self.running_var):
            param.shape = (channels,)

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        return F.BatchNorm(x, gamma, beta, running_mean, running_var, name='fwd',
                           **self._kwargs)

    def __repr__(self):
        in_channels = self.gamma.shape[0]
        content = ', '.join('%s=%r' % (key, value) for key, value in self._kwargs.items())
        return '%s(%s, in_channels=%s)' % (self.__class__.__name__, content,
                                           in_channels if in_channels else None)


class Embedding(HybridBlock):
    """Map non-negative integer indices to dense vectors of a fixed size.

    Parameters
    ----------
    input_dim : int
        Size of the vocabulary: indices are in ``[0, input_dim)``.
    output_dim : int
        Dimension of the vectors.
    dtype : str or numpy dtype, default 'float32'
    weight_initializer : Initializer, optional
    sparse_grad : bool, default False
        Row-sparse gradients are not supported yet; must be False.

    Inputs:
        - **data**: indices of any shape ``(x1, ..., xN)``.

    Outputs:
        - **out**: ``(x1, ..., xN, output_dim)``.
    """

    def __init__(self, input_dim, output_dim, dtype='float32', weight_initializer=None,
                 sparse_grad=False, **kwargs):
        super().__init__(**kwargs)
        for key, value in (('input_dim', input_dim), ('output_dim', output_dim)):
            if int(value) <= 0:
                raise ValueError('Embedding: %s must be a positive integer, got %r' % (key, value))
        if sparse_grad:
            raise NotImplementedError('Embedding: sparse_grad=True needs row_sparse gradients, '
                                      'which are not implemented yet; use sparse_grad=False')
        self._kwargs = {'input_dim': input_dim, 'output_dim': output_dim}
        self._dtype = dtype
        self.weight = self.params.get('weight', shape=(input_dim, output_dim),
                                      init=weight_initializer, dtype=dtype,
                                      allow_deferred_init=True)

    def hybrid_forward(self, F, x, weight):
        return F.Embedding(x, weight, name='fwd', **self._kwargs)

    def __repr__(self):
        return '%s(%d -> %d, %s)' % (self.__class__.__name__, self._kwargs['input_dim'],
                                     self._kwargs['output_dim'], self._dtype)


class Flatten(HybridBlock):
    """Flatten all axes but the first: ``(N, x1, ..., xk)`` becomes ``(N, x1*...*xk)``.

    Inputs:
        - **data**: input of shape ``(N, x1, x2, ..., xk)``.

    Outputs:
        - **out**: ``(N, x1 * x2 * ... * xk)``.
    """

    def hybrid_forward(self, F, x):
        return F.Flatten(x)

    def __repr__(self):
        return self.__class__.__name__


def _function_name(function):
    return getattr(function, '__name__', repr(function))


class Lambda(Block):
    """Wrap a function (or the name of an ``mx.nd`` operator) as a Block.

    Parameters
    ----------
    function : str or callable
        Either an ``mx.nd`` operator name such as ``'tanh'``, or a function called with the
        block's inputs.

    Example::

        block = Lambda(lambda x: nd.LeakyReLU(x, slope=0.1))
    """

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        if isinstance(function, str):
            if not hasattr(nd, function):
                raise ValueError('Lambda: function name %r is not found in mx.nd' % function)
            self._func_impl = getattr(nd, function)
        elif callable(function):
            self._func_impl = function
        else:
            raise ValueError('Lambda: unrecognized function in lambda: %r of type %s; pass a '
                             'callable or an mx.nd operator name' % (function, type(function)))

    def forward(self, *args):
        return self._func_impl(*args)

    def __repr__(self):
        return '%s(%s)' % (self.__class__.__name__, _function_name(self._func_impl))


class HybridLambda(HybridBlock):
    """Wrap a function of ``(F, x, *args)`` (or an operator name) as a HybridBlock.

    Parameters
    ----------
    function : str or callable
        Either an operator name such as ``'tanh'`` (looked up on ``F``), or a function called
        as ``function(F, *inputs)``.

    Example::

        block = HybridLambda(lambda F, x: F.LeakyReLU(x, slope=0.1))
    """

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        if isinstance(function, str):
            if not hasattr(nd, function):
                raise ValueError('HybridLambda: function name %r is not found in mx.nd'
                                 % function)
            self._func = lambda F, *args: getattr(F, function)(*args)
            self._func_name = function
        elif callable(function):
            self._func = function
            self._func_name = _function_name(function)
        else:
            raise ValueError('HybridLambda: unrecognized function in lambda: %r of type %s; '
                             'pass a callable or an operator name'
                             % (function, type(function)))

    def hybrid_forward(self, F, x, *args):
        return self._func(F, x, *args)

    def __repr__(self):
        return '%s(%s)' % (self.__class__.__name__, self._func_name)
