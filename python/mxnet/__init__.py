"""mxnet-rs: MXNet 1.x's Python API on a Rust core.

``import mxnet as mx`` gives the familiar modules: ``mx.nd``, ``mx.autograd``, ``mx.gluon``,
``mx.init``, ``mx.optimizer``, ``mx.metric``, ``mx.random`` and ``mx.test_utils``.
"""
__version__ = "0.1.0"

import os as _os

from . import _native
from . import base
from .base import MXNetError
from . import context
from .context import Context, cpu, gpu, cpu_pinned, current_context, num_gpus
from . import ndarray
from . import ndarray as nd
from . import symbol
from . import symbol as sym
from . import executor
from . import model
from . import autograd
from . import random
from . import engine
from . import profiler

for _optional in ("initializer", "init", "optimizer", "lr_scheduler", "metric", "gluon", "test_utils"):
    try:
        __import__(f"{__name__}.{_optional}")
    except ModuleNotFoundError as _e:  # pragma: no cover - only while a module is missing
        if _e.name != f"{__name__}.{_optional}":
            raise
del _optional

if _os.environ.get("MXNET_ENGINE_TYPE"):
    # Raise an invalid engine name at import, naming the valid ones.
    engine.engine_type()
