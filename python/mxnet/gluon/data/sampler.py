"""Samplers: iterables of dataset indices, and of batches of indices."""
import numpy as np

__all__ = ['Sampler', 'SequentialSampler', 'RandomSampler', 'FilterSampler', 'BatchSampler']

_LAST_BATCH_MODES = ('keep', 'discard', 'rollover')


class Sampler(object):
    """Base class of samplers: an iterable of indices with a length."""

    def __iter__(self):
        raise NotImplementedError('%s must implement __iter__' % type(self).__name__)

    def __len__(self):
        raise NotImplementedError('%s must implement __len__' % type(self).__name__)


class SequentialSampler(Sampler):
    """Indices ``start, start + 1, ..., start + length - 1`` in order."""

    def __init__(self, length, start=0):
        self._length = length
        self._start = start

    def __iter__(self):
        return iter(range(self._start, self._start + self._length))

    def __len__(self):
        return self._length


class RandomSampler(Sampler):
    """Indices ``0 .. length - 1`` in a new random order (from ``numpy.random``) per pass."""

    def __init__(self, length):
        self._length = length

    def __iter__(self):
        indices = np.arange(self._length)
        np.random.shuffle(indices)
        return iter(indices)

    def __len__(self):
        return self._length


class FilterSampler(Sampler):
    """Indices of the samples of ``dataset`` for which ``fn(sample)`` is true.

    The predicate runs over the whole dataset once, in the constructor.
    """

    def __init__(self, fn, dataset):
        self._fn = fn
        self._dataset = dataset
        self._indices = [i for i in range(len(dataset)) if fn(dataset[i])]

    def __iter__(self):
        return iter(self._indices)

    def __len__(self):
        return len(self._indices)


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    Parameters
    ----------
    sampler : Sampler or iterable of int
        Source of indices.
    batch_size : int
        Size of each batch.
    last_batch : {'keep', 'discard', 'rollover'}
        What happens to a final batch shorter than ``batch_size``: 'keep' yields it,
        'discard' drops it, and 'rollover' puts its indices at the front of the next pass.
    """

    def __init__(self, sampler, batch_size, last_batch='keep'):
        if last_batch not in _LAST_BATCH_MODES:
            raise ValueError("BatchSampler: last_batch must be 'keep', 'discard' or "
                             "'rollover', got %r" % (last_batch,))
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError('BatchSampler: batch_size must be a positive int, got %r'
                             % (batch_size,))
        self._sampler = sampler
        self._batch_size = batch_size
        self._last_batch = last_batch
        self._prev = []

    def __iter__(self):
        batch, self._prev = self._prev, []
        for index in self._sampler:
            batch.append(index)
            if len(batch) == self._batch_size:
                yield batch
                batch = []
        if batch:
            if self._last_batch == 'keep':
                yield batch
            elif self._last_batch == 'rollover':
                self._prev = batch

    def __len__(self):
        if self._last_batch == 'keep':
            return (len(self._sampler) + self._batch_size - 1) // self._batch_size
        if self._last_batch == 'discard':
            return len(self._sampler) // self._batch_size
        return (len(self._prev) + len(self._sampler)) // self._batch_size
