"""Skip markers for tests that need operators the core does not register yet.

A test marked ``@requires_ops('FullyConnected', 'random.uniform')`` is skipped, with the
missing operators named, until ``mx.nd`` provides all of them. Names starting with
``random.`` are probed with a one-element call, because ``mx.nd.random`` defines its
functions before the core registers the operators behind them.
"""

import pytest

import mxnet as mx
from mxnet import nd


def _available(name):
    if name.startswith('random.'):
        sampler = getattr(nd.random, name[len('random.'):], None)
        if sampler is None:
            return False
        try:
            sampler(shape=(1,)).asnumpy()
        except mx.base.MXNetError:
            return False
        return True
    return hasattr(nd, name)


_CACHE = {}


def requires_ops(*names):
    """Return a skipif marker listing the operators of ``names`` that are missing."""
    missing = []
    for name in names:
        if name not in _CACHE:
            _CACHE[name] = _available(name)
        if not _CACHE[name]:
            missing.append(name)
    return pytest.mark.skipif(bool(missing),
                              reason='needs mx.nd.%s' % ', mx.nd.'.join(missing))
