"""DataLoader: batches of dataset samples, optionally loaded by worker processes."""
import collections
import functools
import multiprocessing
import multiprocessing.pool

import numpy as np

from . import _worker
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ['DataLoader', 'default_batchify_fn', 'default_mp_batchify_fn']


def default_batchify_fn(data):
    """Stack a list of samples into a batch.

    NDArrays are stacked with ``nd.stack``, tuple samples give a list with one batch per
    tuple position, and NumPy arrays or scalars become ``nd.array(np.asarray(data))`` with
    their dtype kept.
    """
    from ... import ndarray as nd
    first = data[0]
    if isinstance(first, nd.NDArray):
        return nd.stack(*data)
    if isinstance(first, tuple):
        return [default_batchify_fn(list(column)) for column in zip(*data)]
    array = np.asarray(data)
    return nd.array(array, dtype=array.dtype)


def default_mp_batchify_fn(data):
    """Stack a list of samples into NumPy batches, for use inside worker processes.

    Tuple samples give a list with one batch per tuple position; NDArray samples are copied
    out with ``asnumpy``. The parent process turns the NumPy batches into NDArrays, so
    batches cross the process boundary as pickled NumPy arrays.
    """
    first = data[0]
    if isinstance(first, tuple):
        return [default_mp_batchify_fn(list(column)) for column in zip(*data)]
    if hasattr(first, 'asnumpy'):
        return np.stack([item.asnumpy() for item in data])
    return np.asarray(data)


def _to_ndarrays(batch):
    """Turn the NumPy leaves of a batch from a worker process into NDArrays."""
    from ... import ndarray as nd
    if isinstance(batch, (np.ndarray, np.generic)):
        array = np.asarray(batch)
        return nd.array(array, dtype=array.dtype)
    if isinstance(batch, list):
        return [_to_ndarrays(item) for item in batch]
    if isinstance(batch, tuple):
        return tuple(_to_ndarrays(item) for item in batch)
    return batch


# State of a worker process, set once by the pool initializer. With the 'fork' start
# method the arguments are inherited rather than pickled, so lambdas work as transforms.
_worker_dataset = None
_worker_batchify_fn = None


def _init_worker_process(dataset, batchify_fn):
    global _worker_dataset, _worker_batchify_fn
    _worker.mark_worker_process()
    _worker_dataset = dataset
    _worker_batchify_fn = batchify_fn


def _load_batch_in_process(indices):
    return _worker_batchify_fn([_worker_dataset[i] for i in indices])


def _load_batch(dataset, batchify_fn, indices):
    return batchify_fn([dataset[i] for i in indices])


class _MultiWorkerIter(object):
    """Iterator that keeps up to ``prefetch + 1`` batches in flight and yields in order."""

    def __init__(self, pool, load_fn, batch_sampler, prefetch, timeout, convert_fn, owner=None):
        # The loader owns the pool and terminates it when collected, so the iterator keeps
        # it alive: `for batch in DataLoader(...)` holds no other reference to it.
        self._owner = owner
        self._pool = pool
        self._load_fn = load_fn
        self._indices = iter(batch_sampler)
        self._timeout = timeout
        self._convert_fn = convert_fn
        self._pending = collections.deque()
        for _ in range(prefetch):
            self._submit_next()

    def _submit_next(self):
        indices = next(self._indices, None)
        if indices is not None:
            self._pending.append(self._pool.apply_async(self._load_fn, (indices,)))

    def __iter__(self):
        return self

    def __next__(self):
        self._submit_next()
        if not self._pending:
            raise StopIteration
        result = self._pending.popleft()
        try:
            batch = result.get(self._timeout)
        except multiprocessing.TimeoutError:
            raise RuntimeError('DataLoader: timed out after %s seconds waiting for a batch '
                               'from a worker; raise timeout or check the dataset for a hang'
                               % self._timeout)
        return self._convert_fn(batch)

    next = __next__


class DataLoader(object):
    """Load batches from a dataset.

    Parameters
    ----------
    dataset : Dataset
        Source of samples; anything with ``__getitem__`` and ``__len__``.
    batch_size : int
        Samples per batch; required unless ``batch_sampler`` is given.
    shuffle : bool
        Visit the samples in a new random order each epoch.
    sampler : Sampler
        Order of the sample indices; excludes ``shuffle``.
    last_batch : {'keep', 'discard', 'rollover'}
        Handling of a final short batch, as in ``BatchSampler`` (default 'keep').
    batch_sampler : Sampler
        Yields lists of indices; excludes ``batch_size``, ``shuffle``, ``sampler`` and
        ``last_batch``.
    batchify_fn : callable
        Turns a list of samples into a batch. The default is ``default_batchify_fn``, or
        ``default_mp_batchify_fn`` with worker processes.
    num_workers : int
        Number of worker processes; 0 loads in the calling thread. Worker processes are
        forked; they may use NDArrays and return NumPy batches that the parent turns
        into NDArrays. A custom ``batchify_fn`` runs in the workers under the same rule.
    pin_memory : bool
        Accepted for compatibility. NOTE: no pinned memory is used; batches stay on cpu().
    pin_device_id : int
        Accepted for compatibility with ``pin_memory``.
    prefetch : int
        Batches requested ahead of the consumer; default ``2 * num_workers``.
    thread_pool : bool
        Use a pool of threads instead of processes. Threads may use NDArrays.
    timeout : float
        Seconds to wait for a worker's batch before raising RuntimeError.
    auto_reload : bool
        Accepted for compatibility; the worker pool is created on the first iteration and
        kept for the lifetime of the loader.
    """

    def __init__(self, dataset, batch_size=None, shuffle=False, sampler=None, last_batch=None,
                 batch_sampler=None, batchify_fn=None, num_workers=0, pin_memory=False,
                 pin_device_id=0, prefetch=None, thread_pool=False, timeout=120,
                 auto_reload=False):
        self._dataset = dataset
        self._pin_memory = pin_memory
        self._pin_device_id = pin_device_id
        self._thread_pool = thread_pool
        self._timeout = timeout
        self._auto_reload = auto_reload

        if batch_sampler is None:
            if batch_size is None:
                raise ValueError('DataLoader: batch_size must be given unless batch_sampler is')
            if sampler is None:
                if shuffle:
                    sampler = RandomSampler(len(dataset))
                else:
                    sampler = SequentialSampler(len(dataset))
            elif shuffle:
                raise ValueError('DataLoader: shuffle must not be given together with sampler')
            batch_sampler = BatchSampler(sampler, batch_size,
                                         last_batch if last_batch else 'keep')
        elif batch_size is not None or shuffle or sampler is not None or last_batch is not None:
            raise ValueError('DataLoader: batch_size, shuffle, sampler and last_batch must not '
                             'be given together with batch_sampler')
        self._batch_sampler = batch_sampler

        self._num_workers = num_workers if num_workers >= 0 else 0
        if prefetch is None:
            self._prefetch = 2 * self._num_workers
        else:
            self._prefetch = max(0, int(prefetch))

        uses_processes = self._num_workers > 0 and not thread_pool
        if batchify_fn is not None:
            self._batchify_fn = batchify_fn
        elif uses_processes:
            self._batchify_fn = default_mp_batchify_fn
        else:
            self._batchify_fn = default_batchify_fn
        self._pool = None

    def _make_pool(self):
        if self._thread_pool:
            return multiprocessing.pool.ThreadPool(self._num_workers)
        # 'fork' explicitly: the default start method differs between platforms and
        # Python versions, and the other methods would have to pickle the dataset.
        context = multiprocessing.get_context('fork')
        return context.Pool(self._num_workers, initializer=_init_worker_process,
                            initargs=(self._dataset, self._batchify_fn))

    def __iter__(self):
        if self._num_workers == 0:
            return self._same_thread_iter()
        if self._pool is None:
            self._pool = self._make_pool()
        if self._thread_pool:
            load_fn = functools.partial(_load_batch, self._dataset, self._batchify_fn)
            convert_fn = _identity
        else:
            load_fn = _load_batch_in_process
            convert_fn = _to_ndarrays
        return _MultiWorkerIter(self._pool, load_fn, self._batch_sampler, self._prefetch,
                                self._timeout, convert_fn, owner=self)

    def _same_thread_iter(self):
        for indices in self._batch_sampler:
            yield self._batchify_fn([self._dataset[i] for i in indices])

    def __len__(self):
        return len(self._batch_sampler)

    def __del__(self):
        pool = getattr(self, '_pool', None)
        if pool is not None:
            pool.terminate()
            self._pool = None


def _identity(batch):
    return batch
