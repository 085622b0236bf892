"""Image transforms for Gluon datasets: Compose, Cast, ToTensor and Normalize.

Each transform takes an NDArray and returns an NDArray, or takes a NumPy array and returns a
NumPy array. The NumPy path is what runs inside DataLoader worker processes, which must not
use NDArrays.

NOTE: in MXNet these are gluon Blocks (HybridBlocks). Here they are plain callables with
``forward``; they do not register parameters and cannot be hybridized.
"""
import numpy as np

__all__ = ['Compose', 'Cast', 'ToTensor', 'Normalize']


def _is_ndarray(x):
    return hasattr(x, 'asnumpy')


class _Transform(object):
    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError('%s must implement forward' % type(self).__name__)

    def __repr__(self):
        return '%s(%s)' % (type(self).__name__, self._repr_args())

    def _repr_args(self):
        return ''


class Compose(_Transform):
    """Apply ``transforms`` one after another.

    Parameters
    ----------
    transforms : list of callable
        Each is called with the output of the previous one.
    """

    def __init__(self, transforms):
        self._transforms = list(transforms)
        for i, transform in enumerate(self._transforms):
            if not callable(transform):
                raise TypeError('Compose: transform %d (%r) is not callable' % (i, transform))

    def forward(self, x):
        for transform in self._transforms:
            x = transform(x)
        return x

    def __len__(self):
        return len(self._transforms)

    def __getitem__(self, idx):
        return self._transforms[idx]

    def _repr_args(self):
        return '[%s]' % ', '.join(repr(t) for t in self._transforms)


class Cast(_Transform):
    """Cast the input to ``dtype``."""

    def __init__(self, dtype='float32'):
        self._dtype = dtype

    def forward(self, x):
        return x.astype(self._dtype)

    def _repr_args(self):
        return repr(self._dtype)


class ToTensor(_Transform):
    """Convert an image (H, W, C) or a batch (N, H, W, C) in [0, 255] to float32 (C, H, W)
    or (N, C, H, W) in [0, 1] by dividing by 255."""

    def forward(self, x):
        if x.ndim == 3:
            axes = (2, 0, 1)
        elif x.ndim == 4:
            axes = (0, 3, 1, 2)
        else:
            raise ValueError('ToTensor: input must be HWC (3 dims) or NHWC (4 dims), got shape '
                             '%s' % (tuple(x.shape),))
        if _is_ndarray(x):
            from .... import ndarray as nd
            return nd.transpose(x.astype('float32'), axes=axes) / 255.0
        return np.transpose(np.asarray(x, dtype=np.float32), axes) / np.float32(255.0)


class Normalize(_Transform):
    """Normalize each channel of a (C, H, W) or (N, C, H, W) float tensor:
    ``out[c] = (x[c] - mean[c]) / std[c]``.

    Parameters
    ----------
    mean : float or sequence of float
        One value for all channels or one per channel.
    std : float or sequence of float
        One value for all channels or one per channel.
    """

    def __init__(self, mean=0.0, std=1.0):
        self._mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self._std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        for label, values in (('mean', self._mean), ('std', self._std)):
            if values.ndim != 1:
                raise ValueError('Normalize: %s must be a number or a flat sequence, got %r'
                                 % (label, values.tolist()))
        if np.any(self._std == 0):
            raise ValueError('Normalize: std must not contain 0, got %r' % self._std.tolist())

    def _channel_values(self, values, channels, label):
        if len(values) == 1:
            return np.repeat(values, channels)
        if len(values) != channels:
            raise ValueError('Normalize: %s has %d values but the input has %d channels'
                             % (label, len(values), channels))
        return values

    def forward(self, x):
        if x.ndim == 3:
            channel_axis = 0
        elif x.ndim == 4:
            channel_axis = 1
        else:
            raise ValueError('Normalize: input must be CHW (3 dims) or NCHW (4 dims), got shape '
                             '%s' % (tuple(x.shape),))
        if not np.issubdtype(np.dtype(x.dtype), np.floating):
            raise TypeError('Normalize: input must have a float dtype, got %s; apply ToTensor '
                            'or Cast first' % np.dtype(x.dtype).name)
        channels = x.shape[channel_axis]
        broadcast_shape = [1] * x.ndim
        broadcast_shape[channel_axis] = channels
        mean = self._channel_values(self._mean, channels, 'mean').reshape(broadcast_shape)
        std = self._channel_values(self._std, channels, 'std').reshape(broadcast_shape)

        if _is_ndarray(x):
            from .... import ndarray as nd
            mean = nd.array(mean, dtype=x.dtype)
            std = nd.array(std, dtype=x.dtype)
            return nd.broadcast_div(nd.broadcast_sub(x, mean), std)
        x = np.asarray(x)
        return ((x - mean.astype(x.dtype)) / std.astype(x.dtype)).astype(x.dtype)

    def _repr_args(self):
        return 'mean=%r, std=%r' % (self._mean.tolist(), self._std.tolist())
