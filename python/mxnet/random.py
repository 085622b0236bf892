"""``mx.random``: the global seed and sampling shortcuts."""
from . import _native
from .ndarray.random import uniform, normal, randn, randint, shuffle  # noqa: F401


def seed(seed_state, ctx="all"):
    """Seed the generator behind every random operator, so runs repeat exactly."""
    if not isinstance(seed_state, int):
        raise ValueError(f"seed: expected an integer seed, got {type(seed_state).__name__}")
    _native.seed(seed_state & 0xFFFFFFFFFFFFFFFF)
