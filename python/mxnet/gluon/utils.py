"""Helpers for data-parallel training: splitting batches and clipping gradients."""

import hashlib
import math
import warnings

from .. import ndarray as nd
from ..ndarray import NDArray

__all__ = ['split_data', 'split_and_load', 'clip_global_norm', 'check_sha1']


def split_data(data, num_slice, batch_axis=0, even_split=True):
    """Split ``data`` into ``num_slice`` slices along ``batch_axis``.

    Parameters
    ----------
    data : NDArray
    num_slice : int
    batch_axis : int, default 0
    even_split : bool, default True
        Raise when the axis length is not a multiple of ``num_slice``. When False, the first
        ``length % num_slice`` slices get one extra element.

    Returns
    -------
    list of NDArray
    """
    size = data.shape[batch_axis]
    if even_split and size % num_slice != 0:
        raise ValueError(
            'data with shape %s cannot be evenly split into %d slices along axis %d. Use a '
            'batch size that is a multiple of %d or set even_split=False to allow uneven '
            'partitioning of data.' % (data.shape, num_slice, batch_axis, num_slice))
    if size < num_slice:
        raise ValueError('Too many slices for data with shape %s: num_slice=%d is larger than '
                         'the %d entries along batch_axis=%d.'
                         % (data.shape, num_slice, size, batch_axis))
    if num_slice == 1:
        return [data]

    base, extra = divmod(size, num_slice)
    bounds = [0]
    for i in range(num_slice):
        bounds.append(bounds[-1] + base + (1 if i < extra else 0))

    if batch_axis == 0:
        return [data[bounds[i]:bounds[i + 1]] for i in range(num_slice)]
    return [nd.slice_axis(data, axis=batch_axis, begin=bounds[i], end=bounds[i + 1])
            for i in range(num_slice)]


def split_and_load(data, ctx_list, batch_axis=0, even_split=True):
    """Split ``data`` along ``batch_axis`` and copy one slice to each context of ``ctx_list``.

    ``data`` may be an NDArray or anything ``mx.nd.array`` accepts. With a single context the
    whole batch is returned as ``[data.as_in_context(ctx)]``.
    """
    if not isinstance(data, NDArray):
        data = nd.array(data, ctx=ctx_list[0])
    if len(ctx_list) == 1:
        return [data.as_in_context(ctx_list[0])]
    slices = split_data(data, len(ctx_list), batch_axis, even_split)
    return [piece.as_in_context(ctx) for piece, ctx in zip(slices, ctx_list)]


def clip_global_norm(arrays, max_norm, check_isfinite=True):
    """Scale ``arrays`` in place so that their joint L2 norm is at most ``max_norm``.

    ``total = sqrt(sum of ||a||^2)``; every array is multiplied by
    ``min(max_norm / (total + 1e-8), 1)``.

    Returns
    -------
    float or NDArray
        The norm before clipping: a Python float when ``check_isfinite`` (a UserWarning is
        issued if it is nan or inf), otherwise a 1-element NDArray (no synchronization).
    """
    if not arrays:
        raise ValueError('clip_global_norm: arrays must contain at least one NDArray')
    ctx = arrays[0].context
    total = None
    for arr in arrays:
        square_sum = nd.sum(nd.square(arr)).reshape((1,)).as_in_context(ctx)
        total = square_sum if total is None else total + square_sum
    total_norm = nd.sqrt(total)
    if check_isfinite and not math.isfinite(float(total_norm.asscalar())):
        warnings.warn(UserWarning('nan or inf is detected. Clipping results will be undefined.'),
                      stacklevel=2)
    scale = nd.minimum(max_norm / (total_norm + 1e-8), 1.0)
    for arr in arrays:
        arr *= scale.as_in_context(arr.context)
    if check_isfinite:
        return float(total_norm.asscalar())
    return total_norm


def check_sha1(filename, sha1_hash):
    """Return True when the SHA-1 of the file ``filename`` equals the hex string ``sha1_hash``."""
    sha1 = hashlib.sha1()
    with open(filename, 'rb') as fin:
        for chunk in iter(lambda: fin.read(1 << 20), b''):
            sha1.update(chunk)
    return sha1.hexdigest() == sha1_hash
