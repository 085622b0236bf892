"""mx.model checkpoints against a checkpoint written by MXNet 1.9.1 (tests/fixtures/checkpoint)."""
import os

import numpy as np
import pytest

import mxnet as mx
from mxnet.base import MXNetError

PREFIX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "checkpoint",
                      "checkpoint")


def reference_values():
    # The generator draws these from numpy's RandomState(0), in this order.
    rng = np.random.RandomState(0)
    args = {"fc_weight": rng.randn(3, 4), "fc_bias": rng.randn(3), "bn_gamma": rng.rand(3) + 0.5,
            "bn_beta": rng.randn(3)}
    aux = {"bn_moving_mean": rng.randn(3), "bn_moving_var": rng.rand(3) + 0.5}
    return args, aux


def test_load_mxnet_checkpoint():
    symbol, arg_params, aux_params = mx.model.load_checkpoint(PREFIX, 3)
    args, aux = reference_values()
    assert symbol.list_arguments() == ["data", "fc_weight", "fc_bias", "bn_gamma", "bn_beta", "softmax_label"]
    assert symbol.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert list(arg_params) == list(args)
    assert list(aux_params) == list(aux)
    for name, value in {**args, **aux}.items():
        got = (arg_params if name in arg_params else aux_params)[name]
        np.testing.assert_allclose(got.asnumpy(), value.astype(np.float32))


def test_save_checkpoint_matches_mxnet_bytes(tmp_path):
    symbol, arg_params, aux_params = mx.model.load_checkpoint(PREFIX, 3)
    prefix = str(tmp_path / "again")
    mx.model.save_checkpoint(prefix, 3, symbol, arg_params, aux_params)
    with open(PREFIX + "-0003.params", "rb") as theirs, open(prefix + "-0003.params", "rb") as ours:
        assert ours.read() == theirs.read()
    assert mx.sym.load(prefix + "-symbol.json").tojson() == symbol.tojson()


def test_gluon_parameter_file_is_rejected(tmp_path):
    path = str(tmp_path / "net-0000.params")
    mx.nd.save(path, {"0.weight": mx.nd.ones((2,))})
    with pytest.raises(MXNetError, match="load_parameters"):
        mx.model.load_params(str(tmp_path / "net"), 0)
