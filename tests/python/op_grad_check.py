"""Gradient checks shared by the operator tests: autograd against central finite differences,
both in float64."""
import numpy as np

import mxnet as mx


def autograd_grads(fn, arrays, head):
    """Return the gradients of sum(fn(*arrays) * head) from autograd, for numpy inputs."""
    xs = [mx.nd.array(a, dtype="float64") for a in arrays]
    for x in xs:
        x.attach_grad()
    with mx.autograd.record():
        y = fn(*xs)
    y.backward(mx.nd.array(head, dtype="float64"))
    return [x.grad.asnumpy() for x in xs]


def finite_difference(fn, arrays, head, eps=1e-6):
    """Return central finite differences of sum(fn(*arrays) * head), using our forward."""
    grads = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            values = []
            for delta in (eps, -eps):
                moved = [x.copy() for x in arrays]
                moved[k][i] += delta
                out = fn(*[mx.nd.array(x, dtype="float64") for x in moved]).asnumpy()
                values.append(np.sum(out * head))
            g[i] = (values[0] - values[1]) / (2 * eps)
        grads.append(g)
    return grads


def check_grad(fn, *arrays, rng=None):
    """Assert that autograd and finite differences agree for fn at the float64 ``arrays``."""
    rng = rng if rng is not None else np.random.default_rng(0)
    out_shape = fn(*[mx.nd.array(a, dtype="float64") for a in arrays]).shape
    head = rng.standard_normal(out_shape)
    got = autograd_grads(fn, arrays, head)
    expected = finite_difference(fn, arrays, head)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def run_fixture_case(case):
    """Replay an MXNet 1.9.1 fixture case under autograd and assert outputs and gradients."""
    inputs = {k: mx.nd.array(v, dtype=v.dtype) for k, v in case.inputs.items()}
    for name in case.grads:
        inputs[name].attach_grad()
    with mx.autograd.record():
        result = getattr(mx.nd, case.op)(**inputs, **case.kwargs)
    outputs = result if isinstance(result, list) else [result]
    keys = ["out"] if len(outputs) == 1 else [f"out{i}" for i in range(len(outputs))]
    for key, got in zip(keys, outputs):
        expected = case.outputs[key]
        assert got.shape == expected.shape, key
        assert got.dtype == expected.dtype, key
        np.testing.assert_allclose(got.asnumpy(), expected, rtol=1e-5, atol=1e-6)
    if not case.grads:
        return
    by_name = dict(zip(case.head_grad_outputs, case.head_grads))
    heads = [o for k, o in zip(keys, outputs) if k in by_name]
    head_grads = [mx.nd.array(by_name[k], dtype=by_name[k].dtype) for k in keys if k in by_name]
    mx.autograd.backward(heads, head_grads)
    for name, grad in case.grads.items():
        np.testing.assert_allclose(inputs[name].grad.asnumpy(), grad, rtol=1e-5, atol=1e-6)
