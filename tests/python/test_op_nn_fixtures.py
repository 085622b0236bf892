"""Replay the MXNet 1.9.1 operator cases of the nn and activation families."""
import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd
from fixtures import load_op_case, op_case_names

CASES = op_case_names("nn") + op_case_names("activation")

# Cases whose recorded gradient is not the gradient of MXNet's own forward. The gradient of
# these is checked against finite differences in test_op_nn.py instead.
GRADIENT_DIFFERS_FROM_MXNET = {
    # MXNet 1.9.1 divides the avg-pool gradient by the whole kernel area with the full
    # convention, where its forward divides by the window clipped to the padded input.
    "pool2d_avg_full": "data",
    # MXNet 1.9.1's selu gradient for x <= 0 is lambda * (y + alpha) instead of y + lambda * alpha.
    "leaky_selu": "data",
}

# MXNet 1.9.1 updates BatchNorm's moving statistics in the backward pass, so a training-mode
# forward outside autograd.record leaves them unchanged. Ours updates them in the training
# forward (as PyTorch does); for this case the expected values follow the update rule.
MOVING_STATS_UPDATED_IN_FORWARD = {"bn_train_mode_unrecorded"}


def expected_moving_stats(case):
    x = case.inputs["data"].astype(np.float64)
    axis = case.kwargs.get("axis", 1) % x.ndim
    reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
    momentum = case.kwargs.get("momentum", 0.9)
    mean = x.mean(axis=reduce_axes)
    var = x.var(axis=reduce_axes)
    return {
        "moving_mean": case.inputs["moving_mean"] * momentum + mean * (1 - momentum),
        "moving_var": case.inputs["moving_var"] * momentum + var * (1 - momentum),
    }


def tolerances(dtype):
    if dtype == np.float64:
        return dict(rtol=1e-7, atol=1e-9)
    return dict(rtol=1e-4, atol=1e-5)


def run_case(case):
    inputs = {k: mx.nd.array(v, dtype=v.dtype) for k, v in case.inputs.items()}
    grad_names = list(case.grads)
    for name in grad_names:
        inputs[name].attach_grad()
    op = getattr(mx.nd, case.op)
    if case.recorded:
        with autograd.record(train_mode=case.train_mode):
            result = op(**inputs, **case.kwargs)
        outputs = result if isinstance(result, list) else [result]
        names = ["out"] if len(outputs) == 1 else ["out%d" % i for i in range(len(outputs))]
        by_name = dict(zip(names, outputs))
        heads = [by_name[n] for n in case.head_grad_outputs]
        head_grads = [mx.nd.array(h, dtype=h.dtype) for h in case.head_grads]
        if grad_names:
            autograd.backward(heads, head_grads, train_mode=case.train_mode)
    else:
        scope = autograd.train_mode() if case.train_mode else autograd.predict_mode()
        with scope:
            result = op(**inputs, **case.kwargs)
        outputs = result if isinstance(result, list) else [result]
    return inputs, outputs


# Cases whose fixture keeps only the first outputs: rrelu's mask is uninitialized memory in
# MXNet 1.9.1's predict mode, so the generator did not store it.
EXTRA_OUTPUTS_NOT_STORED = {"leaky_rrelu_predict"}


@pytest.mark.parametrize("name", CASES)
def test_case_matches_mxnet(name):
    case = load_op_case(name)
    inputs, outputs = run_case(case)
    expected = [case.outputs[k] for k in sorted(case.outputs)]
    if name in EXTRA_OUTPUTS_NOT_STORED:
        outputs = outputs[:len(expected)]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.asnumpy(), want, **tolerances(want.dtype))
    for key, want in case.grads.items():
        if GRADIENT_DIFFERS_FROM_MXNET.get(name) == key:
            continue
        np.testing.assert_allclose(inputs[key].grad.asnumpy(), want, **tolerances(want.dtype),
                                   err_msg="gradient of %s" % key)
    mutated = case.mutated
    if name in MOVING_STATS_UPDATED_IN_FORWARD:
        mutated = expected_moving_stats(case)
    for key, want in mutated.items():
        np.testing.assert_allclose(inputs[key].asnumpy(), want, **tolerances(np.float32),
                                   err_msg="%s after the call" % key)
