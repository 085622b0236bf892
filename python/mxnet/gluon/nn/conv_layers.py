"""Convolution and pooling layers (1-D and 2-D)."""

from ..block import HybridBlock
from .activations import Activation

__all__ = ['Conv1D', 'Conv2D', 'MaxPool1D', 'MaxPool2D', 'AvgPool1D', 'AvgPool2D',
           'GlobalMaxPool1D', 'GlobalMaxPool2D', 'GlobalAvgPool1D', 'GlobalAvgPool2D']


def _as_tuple(value, ndim, name, layer):
    """Return ``value`` as a tuple of ``ndim`` ints (an int is repeated)."""
    if isinstance(value, int):
        return (value,) * ndim
    value = tuple(value)
    if len(value) != ndim or not all(isinstance(v, int) for v in value):
        raise ValueError('%s: %s must be an int or a tuple of %d ints, got %r'
                         % (layer, name, ndim, value))
    return value


def _check_positive(layer, **values):
    """Reject non-positive layer arguments at construction, naming the layer and the value."""
    for key, value in values.items():
        if int(value) <= 0:
            raise ValueError('%s: %s must be a positive integer, got %r' % (layer, key, value))


class _Conv(HybridBlock):
    """N-D convolution lowered to the Convolution operator.

    The weight has shape ``(channels, in_channels // groups, *kernel_size)`` for channel-first
    layouts and ``(channels, *kernel_size, in_channels // groups)`` for channel-last ones.
    """

    def __init__(self, channels, kernel_size, strides, padding, dilation, groups, layout,
                 in_channels=0, activation=None, use_bias=True, weight_initializer=None,
                 bias_initializer='zeros', **kwargs):
        super().__init__(**kwargs)
        ndim = len(kernel_size)
        name = self.__class__.__name__
        _check_positive(name, channels=channels, groups=groups)
        _check_positive(name, **{'kernel_size[%d]' % i: k for i, k in enumerate(kernel_size)})
        _check_positive(name, **{'strides[%d]' % i: k for i, k in enumerate(_as_tuple(strides, ndim, 'strides', name))})
        _check_positive(name, **{'dilation[%d]' % i: k for i, k in enumerate(_as_tuple(dilation, ndim, 'dilation', name))})
        if in_channels < 0:
            raise ValueError('%s: in_channels must be positive (or 0 to infer it), got %d'
                             % (name, in_channels))
        if in_channels % groups != 0:
            raise ValueError('%s: in_channels (%d) must be divisible by groups (%d)'
                             % (name, in_channels, groups))
        if channels % groups != 0:
            raise ValueError('%s: channels (%d) must be divisible by groups (%d)'
                             % (name, channels, groups))
        with self.name_scope():
            self._channels = channels
            self._in_channels = in_channels
            self._groups = groups
            self._layout = layout
            self._kwargs = {
                'kernel': tuple(kernel_size),
                'stride': _as_tuple(strides, ndim, 'strides', name),
                'dilate': _as_tuple(dilation, ndim, 'dilation', name),
                'pad': _as_tuple(padding, ndim, 'padding', name),
                'num_filter': channels, 'num_group': groups,
                'no_bias': not use_bias, 'layout': layout}
            self.weight = self.params.get('weight', shape=self._weight_shape(in_channels),
                                          init=weight_initializer, allow_deferred_init=True)
            if use_bias:
                self.bias = self.params.get('bias', shape=(channels,), init=bias_initializer,
                                            allow_deferred_init=True)
            else:
                self.bias = None
            if activation is not None:
                self.act = Activation(activation, prefix=activation + '_')
            else:
                self.act = None

    def _alias(self):
        return 'conv'

    def _weight_shape(self, in_channels):
        per_group = in_channels // self._groups
        kernel = self._kwargs['kernel']
        if self._layout.startswith('NC'):
            return (self._channels, per_group) + kernel
        return (self._channels,) + kernel + (per_group,)

    def infer_shape(self, x, *args):
        in_channels = x.shape[self._layout.find('C')]
        if len(x.shape) != len(self._layout):
            raise ValueError("%s layer '%s' expects %d-D input in layout %s, got shape %s"
                             % (self.__class__.__name__, self.name, len(self._layout),
                                self._layout, x.shape))
        if in_channels <= 0 or in_channels % self._groups != 0:
            raise ValueError("%s layer '%s' cannot infer in_channels of Parameter '%s' from an "
                             "input of shape %s (layout %s): the input has %d channels, which "
                             "must be positive and divisible by groups=%d; check the input or "
                             "pass in_channels= to the layer"
                             % (self.__class__.__name__, self.name, self.weight.name, x.shape,
                                self._layout, in_channels, self._groups))
        self.weight.shape = self._weight_shape(in_channels)

    def hybrid_forward(self, F, x, weight, bias=None):
        if bias is None:
            out = F.Convolution(x, weight, name='fwd', **self._kwargs)
        else:
            out = F.Convolution(x, weight, bias, name='fwd', **self._kwargs)
        if self.act is not None:
            out = self.act(out)
        return out

    def __repr__(self):
        kwargs = self._kwargs
        ndim = len(kwargs['kernel'])
        shape = self.weight.shape
        in_channels = shape[1] if self._layout.startswith('NC') else shape[-1]
        if in_channels:
            in_channels *= self._groups
        text = '%s(%s -> %s, kernel_size=%s, stride=%s' % (
            self.__class__.__name__, in_channels if in_channels else None, shape[0],
            kwargs['kernel'], kwargs['stride'])
        if kwargs['pad'] != (0,) * ndim:
            text += ', padding=%s' % (kwargs['pad'],)
        if kwargs['dilate'] != (1,) * ndim:
            text += ', dilation=%s' % (kwargs['dilate'],)
        if kwargs['num_group'] != 1:
            text += ', groups=%s' % kwargs['num_group']
        if self.bias is None:
            text += ', bias=False'
        if self.act:
            text += ', %s' % self.act
        return text + ')'


class Conv1D(_Conv):
    """1-D convolution, e.g. over time.

    Parameters
    ----------
    channels : int
        Number of output channels (filters).
    kernel_size : int or tuple of 1 int
    strides : int or tuple of 1 int, default 1
    padding : int or tuple of 1 int, default 0
        Zero padding added on both sides.
    dilation : int or tuple of 1 int, default 1
    groups : int, default 1
        Split input and output channels into this many groups convolved separately.
    layout : {'NCW', 'NWC'}, default 'NCW'
    activation : str, optional
    use_bias : bool, default True
    weight_initializer : Initializer, optional
    bias_initializer : Initializer or str, default 'zeros'
    in_channels : int, default 0
        Number of input channels; 0 infers it from the first input.

    Inputs:
        - **data**: ``(batch_size, in_channels, width)`` for layout NCW.

    Outputs:
        - **out**: ``(batch_size, channels, out_width)`` for layout NCW, where
          ``out_width = floor((width + 2*padding - dilation*(kernel_size-1) - 1)/stride) + 1``.
    """

    def __init__(self, channels, kernel_size, strides=1, padding=0, dilation=1, groups=1,
                 layout='NCW', activation=None, use_bias=True, weight_initializer=None,
                 bias_initializer='zeros', in_channels=0, **kwargs):
        if layout not in ('NCW', 'NWC'):
            raise ValueError("Conv1D: only the 'NCW' and 'NWC' layouts are supported, got %r"
                             % (layout,))
        kernel_size = _as_tuple(kernel_size, 1, 'kernel_size', 'Conv1D')
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout,
                         in_channels, activation, use_bias, weight_initializer,
                         bias_initializer, **kwargs)


class Conv2D(_Conv):
    """2-D convolution, e.g. over images.

    Parameters
    ----------
    channels : int
        Number of output channels (filters).
    kernel_size : int or tuple of 2 ints
    strides : int or tuple of 2 ints, default (1, 1)
    padding : int or tuple of 2 ints, default (0, 0)
        Zero padding added on both sides of each spatial axis.
    dilation : int or tuple of 2 ints, default (1, 1)
    groups : int, default 1
        Split input and output channels into this many groups convolved separately.
    layout : {'NCHW', 'NHWC'}, default 'NCHW'
    activation : str, optional
    use_bias : bool, default True
    weight_initializer : Initializer, optional
    bias_initializer : Initializer or str, default 'zeros'
    in_channels : int, default 0
        Number of input channels; 0 infers it from the first input.

    Inputs:
        - **data**: ``(batch_size, in_channels, height, width)`` for layout NCHW.

    Outputs:
        - **out**: ``(batch_size, channels, out_height, out_width)`` for layout NCHW, where
          ``out_height = floor((height + 2*padding[0] - dilation[0]*(kernel_size[0]-1) - 1)
          / stride[0]) + 1`` and likewise for the width.
    """

    def __init__(self, channels, kernel_size, strides=(1, 1), padding=(0, 0),
                 dilation=(1, 1), groups=1, layout='NCHW', activation=None, use_bias=True,
                 weight_initializer=None, bias_initializer='zeros', in_channels=0, **kwargs):
        if layout not in ('NCHW', 'NHWC'):
            raise ValueError("Conv2D: only the 'NCHW' and 'NHWC' layouts are supported, got %r"
                             % (layout,))
        kernel_size = _as_tuple(kernel_size, 2, 'kernel_size', 'Conv2D')
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout,
                         in_channels, activation, use_bias, weight_initializer,
                         bias_initializer, **kwargs)


class _Pooling(HybridBlock):
    """Pooling lowered to the Pooling operator."""

    def __init__(self, pool_size, strides, padding, ceil_mode, global_pool, pool_type, layout,
                 count_include_pad=None, **kwargs):
        super().__init__(**kwargs)
        ndim = len(pool_size)
        name = self.__class__.__name__
        if strides is None:
            strides = pool_size
        self._kwargs = {
            'kernel': tuple(pool_size),
            'stride': _as_tuple(strides, ndim, 'strides', name),
            'pad': _as_tuple(padding, ndim, 'padding', name),
            'global_pool': global_pool, 'pool_type': pool_type, 'layout': layout,
            'pooling_convention': 'full' if ceil_mode else 'valid'}
        if count_include_pad is not None:
            self._kwargs['count_include_pad'] = count_include_pad

    def _alias(self):
        return 'pool'

    def hybrid_forward(self, F, x):
        return F.Pooling(x, name='fwd', **self._kwargs)

    def __repr__(self):
        kwargs = self._kwargs
        return ('%s(size=%s, stride=%s, padding=%s, ceil_mode=%s, global_pool=%s, '
                'pool_type=%s, layout=%s)' % (
                    self.__class__.__name__, kwargs['kernel'], kwargs['stride'], kwargs['pad'],
                    kwargs['pooling_convention'] == 'full', kwargs['global_pool'],
                    kwargs['pool_type'], kwargs['layout']))


def _check_layout(layout, allowed, layer):
    if layout not in allowed:
        raise ValueError('%s: only the %s layouts are supported, got %r'
                         % (layer, ' and '.join(repr(a) for a in allowed), layout))


class MaxPool1D(_Pooling):
    """1-D max pooling.

    Parameters
    ----------
    pool_size : int or tuple of 1 int, default 2
    strides : int or tuple of 1 int, optional
        Defaults to ``pool_size``.
    padding : int or tuple of 1 int, default 0
    layout : {'NCW', 'NWC'}, default 'NCW'
    ceil_mode : bool, default False
        Round the output length up instead of down ('full' pooling convention).

    Inputs:
        - **data**: ``(batch_size, channels, width)`` for layout NCW.

    Outputs:
        - **out**: ``(batch_size, channels, out_width)``, where
          ``out_width = floor((width + 2*padding - pool_size)/strides) + 1`` (ceil with
          ceil_mode).
    """

    def __init__(self, pool_size=2, strides=None, padding=0, layout='NCW', ceil_mode=False,
                 **kwargs):
        _check_layout(layout, ('NCW', 'NWC'), 'MaxPool1D')
        pool_size = _as_tuple(pool_size, 1, 'pool_size', 'MaxPool1D')
        super().__init__(pool_size, strides, padding, ceil_mode, False, 'max', layout,
                         **kwargs)


class MaxPool2D(_Pooling):
    """2-D max pooling.

    Parameters
    ----------
    pool_size : int or tuple of 2 ints, default (2, 2)
    strides : int or tuple of 2 ints, optional
        Defaults to ``pool_size``.
    padding : int or tuple of 2 ints, default 0
    layout : {'NCHW', 'NHWC'}, default 'NCHW'
    ceil_mode : bool, default False
        Round the output size up instead of down ('full' pooling convention).

    Inputs:
        - **data**: ``(batch_size, channels, height, width)`` for layout NCHW.

    Outputs:
        - **out**: ``(batch_size, channels, out_height, out_width)``, where
          ``out_height = floor((height + 2*padding[0] - pool_size[0])/strides[0]) + 1`` and
          likewise for the width (ceil with ceil_mode).
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding=0, layout='NCHW',
                 ceil_mode=False, **kwargs):
        _check_layout(layout, ('NCHW', 'NHWC'), 'MaxPool2D')
        pool_size = _as_tuple(pool_size, 2, 'pool_size', 'MaxPool2D')
        super().__init__(pool_size, strides, padding, ceil_mode, False, 'max', layout,
                         **kwargs)


class AvgPool1D(_Pooling):
    """1-D average pooling.

    Parameters
    ----------
    pool_size : int or tuple of 1 int, default 2
    strides : int or tuple of 1 int, optional
        Defaults to ``pool_size``.
    padding : int or tuple of 1 int, default 0
    layout : {'NCW', 'NWC'}, default 'NCW'
    ceil_mode : bool, default False
    count_include_pad : bool, default True
        Count padded zeros in the averaging window.

    Inputs:
        - **data**: ``(batch_size, channels, width)`` for layout NCW.

    Outputs:
        - **out**: ``(batch_size, channels, out_width)``, computed as for MaxPool1D.
    """

    def __init__(self, pool_size=2, strides=None, padding=0, layout='NCW', ceil_mode=False,
                 count_include_pad=True, **kwargs):
        _check_layout(layout, ('NCW', 'NWC'), 'AvgPool1D')
        pool_size = _as_tuple(pool_size, 1, 'pool_size', 'AvgPool1D')
        super().__init__(pool_size, strides, padding, ceil_mode, False, 'avg', layout,
                         count_include_pad, **kwargs)


class AvgPool2D(_Pooling):
    """2-D average pooling.

    Parameters
    ----------
    pool_size : int or tuple of 2 ints, default (2, 2)
    strides : int or tuple of 2 ints, optional
        Defaults to ``pool_size``.
    padding : int or tuple of 2 ints, default 0
    layout : {'NCHW', 'NHWC'}, default 'NCHW'
    ceil_mode : bool, default False
    count_include_pad : bool, default True
        Count padded zeros in the averaging window.

    Inputs:
        - **data**: ``(batch_size, channels, height, width)`` for layout NCHW.

    Outputs:
        - **out**: ``(batch_size, channels, out_height, out_width)``, computed as for MaxPool2D.
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding=0, layout='NCHW',
                 ceil_mode=False, count_include_pad=True, **kwargs):
        _check_layout(layout, ('NCHW', 'NHWC'), 'AvgPool2D')
        pool_size = _as_tuple(pool_size, 2, 'pool_size', 'AvgPool2D')
        super().__init__(pool_size, strides, padding, ceil_mode, False, 'avg', layout,
                         count_include_pad, **kwargs)


class GlobalMaxPool1D(_Pooling):
    """Max over the whole width: ``(N, C, W)`` becomes ``(N, C, 1)`` for layout NCW."""

    def __init__(self, layout='NCW', **kwargs):
        _check_layout(layout, ('NCW', 'NWC'), 'GlobalMaxPool1D')
        super().__init__((1,), None, 0, True, True, 'max', layout, **kwargs)


class GlobalMaxPool2D(_Pooling):
    """Max over height and width: ``(N, C, H, W)`` becomes ``(N, C, 1, 1)`` for layout NCHW."""

    def __init__(self, layout='NCHW', **kwargs):
        _check_layout(layout, ('NCHW', 'NHWC'), 'GlobalMaxPool2D')
        super().__init__((1, 1), None, 0, True, True, 'max', layout, **kwargs)


class GlobalAvgPool1D(_Pooling):
    """Mean over the whole width: ``(N, C, W)`` becomes ``(N, C, 1)`` for layout NCW."""

    def __init__(self, layout='NCW', **kwargs):
        _check_layout(layout, ('NCW', 'NWC'), 'GlobalAvgPool1D')
        super().__init__((1,), None, 0, True, True, 'avg', layout, **kwargs)


class GlobalAvgPool2D(_Pooling):
    """Mean over height and width: ``(N, C, H, W)`` becomes ``(N, C, 1, 1)`` for layout NCHW."""

    def __init__(self, layout='NCHW', **kwargs):
        _check_layout(layout, ('NCHW', 'NHWC'), 'GlobalAvgPool2D')
        super().__init__((1, 1), None, 0, True, True, 'avg', layout, **kwargs)
