"""Dataset base class and the in-memory datasets."""

from ._worker import in_worker_process

__all__ = ['Dataset', 'SimpleDataset', 'ArrayDataset']


class Dataset(object):
    """Base class of datasets: an indexable collection of samples with a length.

    Subclasses implement ``__getitem__`` and ``__len__``.
    """

    def __getitem__(self, idx):
        raise NotImplementedError('%s must implement __getitem__' % type(self).__name__)

    def __len__(self):
        raise NotImplementedError('%s must implement __len__' % type(self).__name__)

    def filter(self, fn):
        """Return a dataset of the samples for which ``fn(sample)`` is true."""
        from .sampler import FilterSampler
        return _SampledDataset(self, FilterSampler(fn, self))

    def shard(self, num_shards, index):
        """Return shard ``index`` of ``num_shards`` contiguous, nearly equal shards.

        The first ``len(self) % num_shards`` shards have one sample more than the others.
        """
        if num_shards <= 0:
            raise ValueError('shard: num_shards must be positive, got %d' % num_shards)
        if not 0 <= index < num_shards:
            raise ValueError('shard: index must be in [0, %d), got %d' % (num_shards, index))
        length = len(self)
        shard_len = length // num_shards
        rest = length % num_shards
        start = shard_len * index + min(index, rest)
        end = start + shard_len + (index < rest)
        from .sampler import SequentialSampler
        return _SampledDataset(self, SequentialSampler(end - start, start))

    def take(self, count):
        """Return a dataset of the first ``count`` samples (all of them when None)."""
        if count is None or count > len(self):
            count = len(self)
        from .sampler import SequentialSampler
        return _SampledDataset(self, SequentialSampler(count))

    def sample(self, sampler):
        """Return a dataset of the samples at the indices that ``sampler`` yields."""
        from .sampler import Sampler
        if not isinstance(sampler, Sampler):
            raise TypeError('sample: expected a gluon.data.Sampler, got %s'
                            % type(sampler).__name__)
        return _SampledDataset(self, sampler)

    def transform(self, fn, lazy=True):
        """Return a dataset whose samples are ``fn(sample)``.

        A tuple sample is unpacked into the arguments of ``fn``. With ``lazy=False`` every
        sample is transformed now and kept in memory, so a random transform is drawn once.
        """
        transformed = _LazyTransformDataset(self, fn)
        if lazy:
            return transformed
        return SimpleDataset([transformed[i] for i in range(len(transformed))])

    def transform_first(self, fn, lazy=True):
        """Return a dataset that applies ``fn`` to the first element of each sample only
        (usually the data, leaving the label)."""
        return self.transform(_TransformFirstClosure(fn), lazy)


class SimpleDataset(Dataset):
    """Dataset over any object with ``__getitem__`` and ``__len__`` (a list, an array)."""

    def __init__(self, data):
        self._data = data

    def __len__(self):
        return len(self._data)

    def __getitem__(self, idx):
        return self._data[idx]


class _LazyTransformDataset(Dataset):
    def __init__(self, data, fn):
        self._data = data
        self._fn = fn

    def __len__(self):
        return len(self._data)

    def __getitem__(self, idx):
        item = self._data[idx]
        if isinstance(item, tuple):
            return self._fn(*item)
        return self._fn(item)


class _TransformFirstClosure(object):
    """Picklable callable that transforms the first element (for worker processes)."""

    def __init__(self, fn):
        self._fn = fn

    def __call__(self, x, *args):
        if args:
            return (self._fn(x),) + args
        return self._fn(x)


class _SampledDataset(Dataset):
    """Samples of ``dataset`` at the indices of ``sampler``, collected once."""

    def __init__(self, dataset, sampler):
        self._dataset = dataset
        self._sampler = sampler
        self._indices = list(iter(sampler))

    def __len__(self):
        return len(self._indices)

    def __getitem__(self, idx):
        return self._dataset[self._indices[idx]]


class ArrayDataset(Dataset):
    """Dataset that zips arrays of equal length.

    A sample is the tuple of the arrays' elements at one index, or the element itself
    when there is only one array. Like MXNet, 1-D NDArrays are turned into NumPy arrays
    so that a sample is a NumPy scalar rather than a one-element NDArray.
    """

    def __init__(self, *args):
        if not args:
            raise ValueError('ArrayDataset: needs at least one array')
        self._length = len(args[0])
        self._data = []
        # Columns given as NDArrays of 2 or more dims are kept as NumPy copies, so that
        # DataLoader worker processes can index them without the native engine. The
        # parent process gets NDArrays back from __getitem__.
        self._returns_ndarray = []
        for i, data in enumerate(args):
            if len(data) != self._length:
                raise ValueError('ArrayDataset: all arrays must have the same length; array 0 '
                                 'has length %d while array %d has %d'
                                 % (self._length, i, len(data)))
            is_ndarray = hasattr(data, 'asnumpy')
            if is_ndarray:
                self._returns_ndarray.append(len(data.shape) > 1)
                data = data.asnumpy()
            else:
                self._returns_ndarray.append(False)
            self._data.append(data)

    def _column_item(self, column, idx):
        item = self._data[column][idx]
        if self._returns_ndarray[column] and not in_worker_process():
            from ... import ndarray as nd
            return nd.array(item, dtype=item.dtype)
        return item

    def __getitem__(self, idx):
        if len(self._data) == 1:
            return self._column_item(0, idx)
        return tuple(self._column_item(column, idx) for column in range(len(self._data)))

    def __len__(self):
        return self._length
