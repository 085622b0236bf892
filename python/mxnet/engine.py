"""``mx.engine``: the dependency engine's settings."""
from . import _native


def engine_type():
    """Return the engine in use (``MXNET_ENGINE_TYPE``): ThreadedEnginePerDevice, ThreadedEngine
    or NaiveEngine. An invalid value raises MXNetError listing the valid names."""
    return _native.engine_type()
