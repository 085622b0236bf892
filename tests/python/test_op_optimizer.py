"""Fused optimizer updates against the MXNet 1.9.1 fixtures and numpy formulas."""
import numpy as np
import pytest

from mxnet import autograd, nd
from fixtures import load_op_case

STATES = {"sgd_update": [], "sgd_mom_update": ["mom"], "adam_update": ["mean", "var"],
          "nag_mom_update": ["mom"], "rmsprop_update": ["n"], "rmspropalex_update": ["n", "g", "delta"]}

CHAINS = ["sgd_update", "sgd_update_clip", "sgd_mom_update", "sgd_mom_update_clip", "adam_update", "adam_update_clip",
          "nag_mom_update", "nag_mom_update_clip", "rmsprop_update", "rmsprop_update_clip",
          "rmspropalex_update", "rmspropalex_update_clip"]


@pytest.mark.parametrize("chain", CHAINS)
def test_update_chain_matches_mxnet_fixture(chain):
    """Run three steps from the first step's inputs, writing into the weight with out=."""
    first = load_op_case(chain + "_step1")
    states = STATES[first.op]
    weight = nd.array(first.inputs["weight"])
    state_arrays = {s: nd.array(first.inputs[s]) for s in states}
    for step in (1, 2, 3):
        c = load_op_case("%s_step%d" % (chain, step))
        grad = nd.array(c.inputs["grad"])
        result = getattr(nd, c.op)(weight, grad, *[state_arrays[s] for s in states], out=weight, **c.kwargs)
        assert result is weight or result.shape == weight.shape
        np.testing.assert_allclose(weight.asnumpy(), c.outputs["out"], rtol=1e-5, atol=1e-7, err_msg="step %d" % step)
        for s in states:
            np.testing.assert_allclose(state_arrays[s].asnumpy(), c.mutated[s], rtol=1e-5, atol=1e-8,
                                       err_msg="%s after step %d" % (s, step))


def f32(*values):
    """Round hyperparameters to float32, as MXNet 1.9.1 stores them (also for float64 weights)."""
    rounded = [float(np.float32(v)) for v in values]
    return rounded if len(rounded) > 1 else rounded[0]


# 100,003 elements take the kernels' split across the thread pool, with a short last piece.
SHAPES = [(4, 3), (100_003,)]


def reference_inputs(seed=0, shape=(4, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.normal(size=shape) * 3, rng.normal(size=shape) * 0.1


@pytest.mark.parametrize("clip", [-1.0, 0.5])
def test_sgd_update_formula(clip):
    w, g, _ = reference_inputs()
    lr, wd, rescale = 0.2, 0.05, 0.7
    out = nd.sgd_update(nd.array(w, dtype="float64"), nd.array(g, dtype="float64"),
                        lr=lr, wd=wd, rescale_grad=rescale, clip_gradient=clip)
    lr, wd, rescale = f32(lr, wd, rescale)
    gc = rescale * g if clip < 0 else np.clip(rescale * g, -clip, clip)
    np.testing.assert_allclose(out.asnumpy(), (1 - lr * wd) * w - lr * gc, rtol=1e-12)


def test_sgd_update_positional_lr():
    w, g, _ = reference_inputs()
    out = nd.sgd_update(nd.array(w, dtype="float64"), nd.array(g, dtype="float64"), 0.1)
    np.testing.assert_allclose(out.asnumpy(), w - f32(0.1) * g, rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_sgd_mom_update_formula(shape):
    w, g, mom = reference_inputs(1, shape)
    lr, momentum, wd, rescale, clip = 0.1, 0.9, 0.01, 0.5, 0.4
    wa, ma = nd.array(w, dtype="float64"), nd.array(mom, dtype="float64")
    nd.sgd_mom_update(wa, nd.array(g, dtype="float64"), ma, lr=lr, momentum=momentum, wd=wd,
                      rescale_grad=rescale, clip_gradient=clip, out=wa)
    lr, momentum, wd, rescale, clip = f32(lr, momentum, wd, rescale, clip)
    new_mom = momentum * mom - lr * wd * w - lr * np.clip(rescale * g, -clip, clip)
    np.testing.assert_allclose(ma.asnumpy(), new_mom, rtol=1e-12)
    np.testing.assert_allclose(wa.asnumpy(), w + new_mom, rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_adam_update_formula(shape):
    w, g, mean = reference_inputs(2, shape)
    var = np.abs(mean)
    lr, b1, b2, eps, wd, rescale = 0.01, 0.8, 0.99, 1e-6, 0.02, 1.5
    wa, ma, va = (nd.array(a, dtype="float64") for a in (w, mean, var))
    nd.adam_update(wa, nd.array(g, dtype="float64"), ma, va, lr=lr, beta1=b1, beta2=b2, epsilon=eps,
                   wd=wd, rescale_grad=rescale, out=wa)
    lr, b1, b2, eps, wd, rescale = f32(lr, b1, b2, eps, wd, rescale)
    gr = rescale * g + wd * w
    m = b1 * mean + (1 - b1) * gr
    v = b2 * var + (1 - b2) * gr * gr
    np.testing.assert_allclose(ma.asnumpy(), m, rtol=1e-12)
    np.testing.assert_allclose(va.asnumpy(), v, rtol=1e-12)
    np.testing.assert_allclose(wa.asnumpy(), w - lr * m / (np.sqrt(v) + eps), rtol=1e-12)


def test_nag_mom_update_formula():
    w, g, mom = reference_inputs(3)
    lr, momentum, wd, rescale = 0.1, 0.9, 0.01, 0.5
    wa, ma = nd.array(w, dtype="float64"), nd.array(mom, dtype="float64")
    out = nd.nag_mom_update(wa, nd.array(g, dtype="float64"), ma, lr=lr, momentum=momentum, wd=wd,
                            rescale_grad=rescale)
    lr, momentum, wd, rescale = f32(lr, momentum, wd, rescale)
    # MXNet 1.9.1's kernel: the state is the step (lr included), not the gradient sum.
    gr = rescale * g + wd * w
    new_mom = momentum * mom - lr * gr
    np.testing.assert_allclose(ma.asnumpy(), new_mom, rtol=1e-12)
    np.testing.assert_allclose(out.asnumpy(), w + momentum * new_mom - lr * gr, rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_rmsprop_update_formula(shape):
    w, g, n = reference_inputs(4, shape)
    n = np.abs(n)
    lr, gamma1, eps, wd, rescale, clip_w = 0.01, 0.9, 1e-8, 0.01, 1.0, 0.5
    wa, na = nd.array(w, dtype="float64"), nd.array(n, dtype="float64")
    out = nd.rmsprop_update(wa, nd.array(g, dtype="float64"), na, lr=lr, gamma1=gamma1, epsilon=eps,
                            wd=wd, rescale_grad=rescale, clip_weights=clip_w)
    lr, gamma1, eps, wd, rescale, clip_w = f32(lr, gamma1, eps, wd, rescale, clip_w)
    gr = rescale * g + wd * w
    new_n = (1 - gamma1) * gr * gr + gamma1 * n
    np.testing.assert_allclose(na.asnumpy(), new_n, rtol=1e-12)
    np.testing.assert_allclose(out.asnumpy(), np.clip(w - lr * gr / np.sqrt(new_n + eps), -clip_w, clip_w),
                               rtol=1e-12)


def test_update_requires_lr():
    with pytest.raises(ValueError, match="sgd_update.*lr"):
        nd.sgd_update(nd.ones((2,)), nd.ones((2,)))


def test_update_shape_mismatch_rejected():
    with pytest.raises(ValueError, match="sgd_mom_update"):
        nd.sgd_mom_update(nd.ones((2,)), nd.ones((2,)), nd.zeros((3,)), lr=0.1)


def test_update_rejects_integer_weight():
    with pytest.raises(TypeError, match="adam_update"):
        w = nd.ones((2,), dtype="int32")
        nd.adam_update(w, w, w, w, lr=0.1)


def test_update_is_not_recorded():
    w = nd.ones((2,))
    w.attach_grad()
    with autograd.record():
        out = nd.sgd_update(w, nd.ones((2,)), lr=0.5)
    np.testing.assert_array_equal(out.asnumpy(), [0.5, 0.5])


def test_update_with_overlapping_views_matches_numpy():
    # The weight, the gradient and the output are shifted views of one buffer: the kernel
    # must read the old values, not the ones it has just written.
    base = np.arange(6, dtype=np.float64)
    a = nd.array(base, dtype="float64")
    nd.sgd_update(a[1:5], a[0:4], lr=0.5, out=a[0:4])
    expected = base.copy()
    expected[0:4] = base[1:5] - 0.5 * base[0:4]
    np.testing.assert_allclose(a.asnumpy(), expected)
    b = nd.array(base, dtype="float64")
    m = nd.zeros((4,), dtype="float64")
    nd.sgd_mom_update(b[0:4], b[2:6], m, lr=0.5, momentum=0.9, out=b[2:6])
    expected = base.copy()
    expected[2:6] = base[0:4] - 0.5 * base[2:6]
    np.testing.assert_allclose(b.asnumpy(), expected)
    np.testing.assert_allclose(m.asnumpy(), -0.5 * base[2:6])
