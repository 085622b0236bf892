"""Per-process state of DataLoader worker processes.

Batches travel from worker processes to the parent as pickled NumPy arrays, so datasets that
hold their samples as NDArrays check ``in_worker_process()`` and hand out NumPy arrays there,
which spares a copy. NDArrays work in worker processes too (the engine restarts its
threads after ``fork``).
"""

_in_worker = False


def in_worker_process():
    """Return True inside a DataLoader worker process (not in worker threads)."""
    return _in_worker


def mark_worker_process():
    """Mark the current process as a DataLoader worker; called once by the pool initializer."""
    global _in_worker
    _in_worker = True
