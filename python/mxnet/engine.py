"""``mx.engine``: the dependency engine's settings."""
from . import _native


def engine_type():
    """Return the engine in use (``MXNET_ENGINE_TYPE``): ThreadedEnginePerDevice, ThreadedEngine
    or NaiveEngine. An invalid value raises MXNetError listing the valid names."""
    return _native.engine_type()


def _register_fork_handlers():
    # A forked child inherits none of the engine's threads. Finish pending work and stop the
    # workers before fork, and start new ones in both processes after it, so forked children
    # (DataLoader worker processes, multiprocessing) can use NDArrays. Windows has no fork.
    import os
    if hasattr(os, 'register_at_fork'):
        os.register_at_fork(before=_native.prepare_fork,
                            after_in_parent=_native.after_fork_in_parent,
                            after_in_child=_native.after_fork_in_child)


_register_fork_handlers()
