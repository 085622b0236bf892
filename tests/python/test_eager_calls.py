"""Operator functions called eagerly: every form of call gives numpy's result, whichever of the
native and the Python argument paths serves it, and operators made for one attribute set are
never used for another."""
import numpy as np
import pytest

import mxnet as mx

RNG = np.random.default_rng(7)
X = RNG.standard_normal((3, 4)).astype(np.float32)
W = RNG.standard_normal((5, 4)).astype(np.float32)
B = RNG.standard_normal(5).astype(np.float32)
FC = X @ W.T + B


def test_alternating_attribute_sets_keep_their_own_operator():
    x = mx.nd.array(X)
    expected = {"relu": np.maximum(X, 0), "tanh": np.tanh(X), "sigmoid": 1 / (1 + np.exp(-X))}
    for _ in range(3):
        for act, want in expected.items():
            got = mx.nd.Activation(x, act_type=act).asnumpy()
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_more_attribute_sets_than_the_cache_holds():
    x = mx.nd.array(X)
    for i in range(150):
        bound = i / 100.0
        got = mx.nd.clip(x, a_min=-bound, a_max=bound).asnumpy()
        np.testing.assert_array_equal(got, np.clip(X, -bound, bound))


def test_invalid_attributes_raise_on_every_call():
    x = mx.nd.array(X)
    for _ in range(2):
        with pytest.raises(ValueError, match="Activation: invalid act_type"):
            mx.nd.Activation(x, act_type="no_such_activation")
    np.testing.assert_array_equal(mx.nd.Activation(x, act_type="relu").asnumpy(), np.maximum(X, 0))


@pytest.mark.parametrize("call", [
    lambda x, w, b: mx.nd.FullyConnected(x, w, b, num_hidden=5),
    lambda x, w, b: mx.nd.FullyConnected(x, w, b, 5),
    lambda x, w, b: mx.nd.FullyConnected(data=x, weight=w, bias=b, num_hidden=5),
    lambda x, w, b: mx.nd.FullyConnected(x, weight=w, bias=b, num_hidden=5),
    lambda x, w, b: mx.nd.FullyConnected(x, w, b, num_hidden=5, name="fc", ctx=mx.cpu()),
    lambda x, w, b: mx.nd.FullyConnected(x, w, b, num_hidden=np.int64(5), flatten=True),
    lambda x, w, b: mx.nd.FullyConnected(x, w, b, out=mx.nd.zeros((3, 5)), num_hidden=5),
], ids=["positional", "positional-attribute", "keywords", "mixed", "ignored-keywords",
        "numpy-attribute", "out"])
def test_every_call_form_gives_the_same_result(call):
    got = call(mx.nd.array(X), mx.nd.array(W), mx.nd.array(B))
    np.testing.assert_allclose(got.asnumpy(), FC, rtol=1e-5, atol=1e-5)


def test_absent_optional_input_and_subclass_inputs():
    class Tagged(mx.nd.NDArray):
        pass

    x = mx.nd.array(X)
    no_bias = mx.nd.FullyConnected(x, mx.nd.array(W), None, num_hidden=5, no_bias=True)
    np.testing.assert_allclose(no_bias.asnumpy(), X @ W.T, rtol=1e-5, atol=1e-5)
    tagged = Tagged(x.handle)
    np.testing.assert_array_equal(mx.nd.relu(tagged).asnumpy(), np.maximum(X, 0))


def test_several_outputs_and_variadic_inputs():
    parts = mx.nd.split(mx.nd.array(X), num_outputs=2, axis=1)
    assert isinstance(parts, list) and len(parts) == 2
    np.testing.assert_array_equal(parts[1].asnumpy(), X[:, 2:])
    total = mx.nd.add_n(mx.nd.array(X), mx.nd.array(X), mx.nd.array(X))
    np.testing.assert_allclose(total.asnumpy(), 3 * X, rtol=1e-6)


def test_operator_functions_keep_name_and_doc():
    fc = mx.nd.FullyConnected
    assert fc.__name__ == "FullyConnected"
    assert "Inputs: data, weight, bias" in fc.__doc__
    assert callable(fc.__wrapped__)


def test_results_are_plain_ndarrays_recorded_by_autograd():
    x = mx.nd.array(X)
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.relu(x) + x
    assert type(y) is mx.nd.NDArray
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), (X > 0) + 1.0)


def test_operator_functions_copy_pickle_and_inspect_as_functions():
    import copy
    import inspect
    import pickle

    relu = mx.nd.relu
    assert copy.copy(relu) is relu
    assert copy.deepcopy({"act": relu})["act"] is relu
    assert pickle.loads(pickle.dumps(relu)) is relu
    assert pickle.loads(pickle.dumps(mx.nd._plus_scalar)) is mx.nd._plus_scalar
    assert inspect.isroutine(relu)
    lam = copy.deepcopy(mx.gluon.nn.Lambda(relu))
    np.testing.assert_array_equal(lam(mx.nd.array(X)).asnumpy(), np.maximum(X, 0))

    class Holder:
        act = relu

    # Read through an instance it stays the same function, as a built-in function does.
    assert Holder().act is relu


def test_every_namespace_holds_the_same_function():
    import pickle

    assert mx.nd.op.relu is mx.nd.relu
    assert mx.nd._internal._plus_scalar is mx.nd._plus_scalar
    assert pickle.loads(pickle.dumps(mx.nd.op.relu)) is mx.nd.relu
