"""``mx.engine``: the dependency engine's settings."""
import contextlib
import numbers

from . import _native


def engine_type():
    """Return the engine in use (``MXNET_ENGINE_TYPE``): ThreadedEnginePerDevice, ThreadedEngine
    or NaiveEngine. An invalid value raises MXNetError listing the valid names."""
    return _native.engine_type()


@contextlib.contextmanager
def priority(value):
    """Push the operations of this thread inside the block with engine priority ``value``.

    Among operations whose inputs are ready, the engine runs higher priorities first (the
    ``priority`` argument of MXNet's engine pushes). The default is 0. This is an mxnet-rs
    addition; MXNet 1.x sets priorities only inside kvstore and the trainer.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not -2**31 <= value < 2**31:
        raise ValueError("engine.priority: priority must be an int in [-2**31, 2**31), got %r"
                         % (value,))
    previous = _native.set_priority(int(value))
    try:
        yield
    finally:
        _native.set_priority(previous)


def _warn_on_invalid_counts():
    # The engine reads these when it starts and falls back to its defaults on values that are
    # not positive integers. Warn, so that the setting does not change silently.
    import os
    import warnings
    defaults = {'MXNET_CPU_WORKER_NTHREADS': '1', 'MXNET_ENGINE_MAX_INFLIGHT_OPS': '4096',
                'MXNET_ENGINE_MAX_INFLIGHT_BYTES': '268435456'}
    for name, default in defaults.items():
        value = os.environ.get(name)
        if value is not None and not (value.isdigit() and int(value) > 0):
            warnings.warn('%s=%r is not a positive integer; using the default %s'
                          % (name, value, default), RuntimeWarning, stacklevel=2)


def _register_fork_handlers():
    # A forked child inherits none of the engine's threads. Finish pending work before fork
    # and let pushes through again in both processes after it (the child on a new thread
    # pool), so forked children (DataLoader worker processes, multiprocessing) can use
    # NDArrays. Windows has no fork.
    import os
    if hasattr(os, 'register_at_fork'):
        os.register_at_fork(before=_native.prepare_fork,
                            after_in_parent=_native.after_fork_in_parent,
                            after_in_child=_native.after_fork_in_child)


def _register_exit_handler():
    # Daemon threads still inside native calls when the interpreter exits must not take the
    # GIL back (CPython would end them with pthread_exit, which aborts through Rust frames).
    import atexit
    atexit.register(_native.mark_exiting)


_warn_on_invalid_counts()
_register_fork_handlers()
_register_exit_handler()
