"""Per-process state of DataLoader worker processes.

The native engine's threads do not survive ``fork``, so code that runs in a worker process
must not create or read NDArrays. Datasets check ``in_worker_process()`` and return NumPy
arrays there; the parent process turns the batches into NDArrays.
"""

_in_worker = False


def in_worker_process():
    """Return True inside a DataLoader worker process (not in worker threads)."""
    return _in_worker


def mark_worker_process():
    """Mark the current process as a DataLoader worker; called once by the pool initializer."""
    global _in_worker
    _in_worker = True
