"""The GPU backend (wgpu): every operator with a GPU kernel, run on cpu and gpu and compared
(float32 tolerances per op), forward results also against numpy, gradients included; transfers
between contexts; error messages; a Gluon training run.

Without an adapter the module is skipped, unless MXNET_TEST_REQUIRE_GPU=1 (set by .ci/run,
where Mesa's lavapipe provides a software Vulkan adapter): then a missing adapter fails.
"""
import os
import threading

import numpy as np
import pytest

import mxnet as mx
from mxnet import autograd, gluon, nd
from mxnet.base import MXNetError

if mx.context.num_gpus() == 0:
    if os.environ.get("MXNET_TEST_REQUIRE_GPU") == "1":
        raise RuntimeError("MXNET_TEST_REQUIRE_GPU=1 but no GPU adapter was found; install a Vulkan driver "
                           "(Debian: mesa-vulkan-drivers)")
    pytest.skip("no GPU adapter (set MXNET_TEST_REQUIRE_GPU=1 to make this a failure)", allow_module_level=True)

GPU = mx.gpu(0)
CPU = mx.cpu()
RNG = np.random.RandomState(7)

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-3, -1e-3, 1e-40, -1e-40, 88.0, -88.0,
                    100.0, -100.0, np.inf, -np.inf, np.nan], dtype=np.float32)


def both(fn, *arrays, **kwargs):
    """Run ``fn`` on the arrays placed on cpu and on gpu; return the (gpu, cpu) numpy results."""
    outs = []
    for ctx in (CPU, GPU):
        args = [nd.array(a, ctx=ctx, dtype=a.dtype) for a in arrays]
        out = fn(*args, **kwargs)
        assert out.context == ctx
        outs.append(out.asnumpy())
    return outs[1], outs[0]


def close(gpu, cpu, rtol=1e-5, atol=1e-6):
    np.testing.assert_array_equal(np.isnan(gpu), np.isnan(cpu), err_msg="NaN positions differ")
    np.testing.assert_allclose(gpu, cpu, rtol=rtol, atol=atol, equal_nan=True)


# ---- elementwise -------------------------------------------------------------------------

UNARY = {
    # name: (numpy reference or None, input range, rtol)
    "abs": (np.abs, None, 0), "sign": (np.sign, None, 0), "ceil": (np.ceil, None, 0),
    "floor": (np.floor, None, 0), "trunc": (np.trunc, None, 0), "fix": (np.trunc, None, 0),
    "square": (np.square, None, 1e-6), "sqrt": (np.sqrt, None, 1e-6), "rsqrt": (lambda x: 1 / np.sqrt(x), None, 1e-5),
    "cbrt": (np.cbrt, None, 1e-5), "exp": (np.exp, (-80, 80), 1e-5), "expm1": (np.expm1, (-20, 20), 1e-5),
    "log": (np.log, None, 1e-5), "log10": (np.log10, None, 1e-5), "log2": (np.log2, None, 1e-5),
    "log1p": (np.log1p, None, 1e-5), "reciprocal": (np.reciprocal, None, 1e-6), "negative": (np.negative, None, 0),
    "sin": (np.sin, (-10, 10), 1e-5), "cos": (np.cos, (-10, 10), 1e-5), "tan": (np.tan, (-1.5, 1.5), 1e-5),
    # Vulkan lets asin, acos and atan be off by thousands of ulp; lavapipe's are within 3e-4.
    "arcsin": (np.arcsin, (-1.2, 1.2), 5e-4), "arccos": (np.arccos, (-1.2, 1.2), 5e-4), "arctan": (np.arctan, None, 5e-4),
    "sinh": (np.sinh, (-20, 20), 1e-5), "cosh": (np.cosh, (-20, 20), 1e-5), "tanh": (np.tanh, None, 1e-5),
    "arcsinh": (np.arcsinh, None, 1e-5), "arccosh": (np.arccosh, (0.5, 50), 1e-5), "arctanh": (np.arctanh, (-1.2, 1.2), 1e-5),
    "degrees": (np.degrees, None, 1e-6), "radians": (np.radians, None, 1e-6),
    "relu": (lambda x: np.where(np.isnan(x), x, np.maximum(x, 0)), None, 0),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x.astype(np.float64))), None, 1e-5),
    "softsign": (lambda x: x / (1 + np.abs(x)), None, 1e-6),
    "erf": (None, (-4, 4), 2e-6),
    "round": (None, None, 0), "rint": (None, None, 0), "logical_not": (lambda x: (x == 0).astype(np.float32), None, 0),
}


def unary_input(rng):
    lo, hi = rng if rng else (-30, 30)
    x = RNG.uniform(lo, hi, size=300).astype(np.float32)
    specials = SPECIAL if rng is None else SPECIAL[[0, 1, 4, 5, 8, 9, 18]]
    return np.concatenate([x, specials]).reshape(-1, 1)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_cpu_and_numpy(name):
    ref, rng, rtol = UNARY[name]
    x = unary_input(rng)
    gpu, cpu = both(getattr(nd, name), x)
    close(gpu, cpu, rtol=max(rtol, 1e-6), atol=rtol and max(rtol, 1e-6))
    if ref is not None:
        with np.errstate(all="ignore"):
            want = ref(x).astype(np.float32)
        close(gpu, want, rtol=max(rtol, 1e-6), atol=rtol and max(rtol, 1e-6))


@pytest.mark.parametrize("name", ["negative", "abs", "sign", "square"])
def test_integer_unary(name):
    x = np.array([-5, -1, 0, 3, 2 ** 30], dtype=np.int32)
    gpu, cpu = both(getattr(nd, name), x)
    np.testing.assert_array_equal(gpu, cpu)
    assert gpu.dtype == np.int32


BINARY = ["broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_div", "broadcast_mod",
          "broadcast_power", "broadcast_maximum", "broadcast_minimum", "broadcast_hypot",
          "broadcast_equal", "broadcast_not_equal", "broadcast_greater", "broadcast_greater_equal",
          "broadcast_lesser", "broadcast_lesser_equal", "broadcast_logical_and", "broadcast_logical_or",
          "broadcast_logical_xor"]


@pytest.mark.parametrize("name", BINARY)
def test_binary_broadcast(name):
    a = RNG.uniform(-3, 3, size=(4, 1, 5)).astype(np.float32)
    b = RNG.uniform(-3, 3, size=(3, 1)).astype(np.float32)
    a[0, 0, :3] = [np.nan, np.inf, 0.0]
    b[1, 0] = 0.0
    if name == "broadcast_power":
        b = np.round(b)  # negative bases need integer exponents for real results
    gpu, cpu = both(getattr(nd, name), a, b)
    close(gpu, cpu, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "%", "**"])
def test_scalar_ops_and_reflected(op):
    x = RNG.uniform(0.5, 3, size=(6, 5)).astype(np.float32)
    fwd = {"+": lambda a: a + 1.5, "-": lambda a: 2 - a, "*": lambda a: a * -3, "/": lambda a: 2 / a,
           "%": lambda a: a % 0.7, "**": lambda a: a ** 1.5}[op]
    gpu, cpu = both(fwd, x)
    close(gpu, cpu, rtol=2e-6)
    close(gpu, fwd(x), rtol=2e-6)


def test_int32_power_with_negative_exponents():
    a = np.array([[-1, 1, 2, -1, 3]], dtype=np.int32)
    b = np.array([[-1], [-2], [2]], dtype=np.int32)
    gpu, cpu = both(nd.broadcast_power, a, b)
    np.testing.assert_array_equal(gpu, cpu)
    np.testing.assert_array_equal(cpu, [[-1, 1, 0, -1, 0], [1, 1, 0, 1, 0], [1, 1, 4, 1, 9]])


def test_int32_arithmetic_keeps_dtype():
    a = np.array([[7, -7, 3]], dtype=np.int32)
    b = np.array([[2], [-2]], dtype=np.int32)
    for fn in (lambda x, y: x + y, lambda x, y: x * y, lambda x, y: nd.broadcast_mod(x, y), lambda x, y: x / y):
        gpu, cpu = both(fn, a, b)
        assert gpu.dtype == np.int32
        np.testing.assert_array_equal(gpu, cpu)


def test_strided_and_broadcast_views_as_inputs():
    x = RNG.randn(6, 8).astype(np.float32)
    fn = lambda a: a.T[1:5] * 2 + nd.broadcast_to(a[0:1, 0:6].T, shape=(6, 6))[1:5]
    gpu, cpu = both(fn, x)
    close(gpu, cpu)
    close(gpu, x.T[1:5] * 2 + np.broadcast_to(x[0:1, 0:6].T, (6, 6))[1:5])


# ---- reductions --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod"])
@pytest.mark.parametrize("axis,keepdims,exclude", [(None, False, False), (1, False, False), ((0, 2), True, False),
                                                    (1, False, True), (-1, True, False)])
def test_reductions(name, axis, keepdims, exclude):
    x = RNG.uniform(0.5, 1.5, size=(3, 40, 5)).astype(np.float32)
    kwargs = {"keepdims": keepdims, "exclude": exclude}
    if axis is not None:
        kwargs["axis"] = axis
    gpu, cpu = both(getattr(nd, name), x, **kwargs)
    assert gpu.shape == cpu.shape
    close(gpu, cpu, rtol=1e-5)


def test_large_sum_uses_partial_results():
    x = RNG.uniform(-1, 1, size=1 << 20).astype(np.float32)
    gpu, cpu = both(nd.sum, x)
    np.testing.assert_allclose(gpu, x.astype(np.float64).sum(), rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-2)


def test_max_min_propagate_nan():
    x = RNG.randn(4, 300).astype(np.float32)
    x[2, 17] = np.nan
    for name in ("max", "min"):
        gpu, cpu = both(getattr(nd, name), x, axis=1)
        close(gpu, cpu)
        assert np.isnan(gpu[2])
        assert not np.isnan(gpu[[0, 1, 3]]).any()


# ---- matrix products ---------------------------------------------------------------------

@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_dot_with_transposes(ta, tb):
    a = RNG.randn(*((33, 70) if ta else (70, 33))).astype(np.float32)
    b = RNG.randn(*((65, 33) if tb else (33, 65))).astype(np.float32)
    gpu, cpu = both(nd.dot, a, b, transpose_a=ta, transpose_b=tb)
    want = (a.T if ta else a) @ (b.T if tb else b)
    np.testing.assert_allclose(gpu, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-4)


def test_dot_of_a_transposed_view_and_batch_dot():
    a = RNG.randn(20, 9).astype(np.float32)
    gpu, cpu = both(lambda x: nd.dot(x.T, x), a)
    np.testing.assert_allclose(gpu, a.T @ a, rtol=1e-4, atol=1e-4)
    x = RNG.randn(3, 5, 7).astype(np.float32)
    y = RNG.randn(3, 4, 7).astype(np.float32)
    gpu, cpu = both(nd.batch_dot, x, y, transpose_b=True)
    np.testing.assert_allclose(gpu, np.einsum("bik,bjk->bij", x, y), rtol=1e-4, atol=1e-4)


def grads(fn, arrays, ctx):
    """Gradients of sum(fn(*arrays) * head) with respect to every array, on ``ctx``."""
    xs = [nd.array(a, ctx=ctx) for a in arrays]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        y = fn(*xs)
        head = nd.array(np.linspace(-1, 1, y.size, dtype=np.float32).reshape(y.shape), ctx=ctx)
        loss = nd.sum(y * head)
    loss.backward()
    return [x.grad.asnumpy() for x in xs]


def check_grads(fn, arrays, rtol=1e-4, atol=1e-5):
    for g, c in zip(grads(fn, arrays, GPU), grads(fn, arrays, CPU)):
        np.testing.assert_allclose(g, c, rtol=rtol, atol=atol)


def test_fully_connected_forward_and_gradients():
    x = RNG.randn(8, 2, 5).astype(np.float32)
    w = RNG.randn(6, 10).astype(np.float32)
    b = RNG.randn(6).astype(np.float32)
    gpu, cpu = both(lambda x, w, b: nd.FullyConnected(x, w, b, num_hidden=6), x, w, b)
    np.testing.assert_allclose(gpu, x.reshape(8, 10) @ w.T + b, rtol=1e-4, atol=1e-4)
    check_grads(lambda x, w, b: nd.FullyConnected(x, w, b, num_hidden=6), [x, w, b])


def test_dot_gradients_against_finite_differences():
    a = RNG.randn(4, 3).astype(np.float32)
    b = RNG.randn(3, 5).astype(np.float32)
    ga, gb = grads(lambda x, y: nd.dot(x, y), [a, b], GPU)
    head = np.linspace(-1, 1, 20, dtype=np.float32).reshape(4, 5)
    np.testing.assert_allclose(ga, head @ b.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gb, a.T @ head, rtol=1e-5, atol=1e-5)


# ---- neural-network operators ------------------------------------------------------------

@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softrelu", "softsign"])
def test_activation_forward_and_gradient(act):
    x = RNG.uniform(-6, 6, size=(7, 9)).astype(np.float32)
    gpu, cpu = both(nd.Activation, x, act_type=act)
    close(gpu, cpu, rtol=1e-5, atol=1e-6)
    check_grads(lambda v: nd.Activation(v, act_type=act), [x])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("axis,temperature", [(-1, 1.0), (1, 2.0), (0, 0.5)])
def test_softmax_family(name, axis, temperature):
    x = RNG.randn(4, 300, 3).astype(np.float32) * 5
    x[0, 0, 0] = 1e4  # extreme logits stay finite
    x[1, 5, 1] = -1e4
    fn = lambda v: getattr(nd, name)(v, axis=axis, temperature=temperature)
    gpu, cpu = both(fn, x)
    assert np.isfinite(gpu).all()
    close(gpu, cpu, rtol=1e-5, atol=1e-6)
    check_grads(fn, [x], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_pick_and_its_gradient(mode):
    x = RNG.randn(6, 5).astype(np.float32)
    idx = np.array([0, 4, 7, -1, 2, 3], dtype=np.float32)
    gpu, cpu = both(lambda d, i: nd.pick(d, i, axis=1, mode=mode), x, idx)
    np.testing.assert_array_equal(gpu, cpu)
    xs = [nd.array(x, ctx=c) for c in (CPU, GPU)]
    outs = []
    for d in xs:
        d.attach_grad()
        with autograd.record():
            y = nd.pick(d, nd.array(idx, ctx=d.context), axis=1, mode=mode, keepdims=True)
        y.backward()
        outs.append(d.grad.asnumpy())
    np.testing.assert_array_equal(outs[1], outs[0])


@pytest.mark.parametrize("opt,kwargs,states", [
    ("sgd_update", {"lr": 0.1, "wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.3}, 0),
    ("sgd_mom_update", {"lr": 0.1, "wd": 0.01, "momentum": 0.9, "rescale_grad": 0.5}, 1),
    ("nag_mom_update", {"lr": 0.1, "wd": 0.01, "momentum": 0.9, "clip_gradient": 0.2}, 1),
    ("adam_update", {"lr": 0.01, "wd": 0.01, "beta1": 0.9, "beta2": 0.99, "epsilon": 1e-6}, 2),
    ("rmsprop_update", {"lr": 0.01, "gamma1": 0.9, "epsilon": 1e-6, "clip_weights": 0.5}, 1),
    ("rmspropalex_update", {"lr": 0.01, "gamma1": 0.9, "gamma2": 0.8, "epsilon": 1e-6, "clip_gradient": 0.4}, 3),
])
def test_optimizer_updates_three_steps(opt, kwargs, states):
    w0 = RNG.randn(5, 4).astype(np.float32)
    gs = [RNG.randn(5, 4).astype(np.float32) for _ in range(3)]
    results = []
    for ctx in (CPU, GPU):
        w = nd.array(w0, ctx=ctx)
        st = [nd.array(np.abs(RNG.randn(5, 4)).astype(np.float32) * 0 + 0.1, ctx=ctx) for _ in range(states)]
        for g in gs:
            getattr(nd, opt)(w, nd.array(g, ctx=ctx), *st, out=w, **kwargs)
        results.append([w.asnumpy()] + [s.asnumpy() for s in st])
    for c, g in zip(*results):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-6)


# ---- transfers and contexts --------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "int32", "uint8", "int8", "float16", "bool"])
def test_round_trip_of_every_gpu_dtype(dtype):
    x = (RNG.randn(3, 5) * 50).astype(dtype)
    a = nd.array(x, ctx=GPU, dtype=dtype)
    assert a.context == GPU
    assert a.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(a.asnumpy(), x)
    np.testing.assert_array_equal(a.as_in_context(CPU).asnumpy(), x)
    np.testing.assert_array_equal(a.copyto(GPU).asnumpy(), x)


def test_copies_between_contexts_and_views():
    x = RNG.randn(4, 6).astype(np.float32)
    g = nd.array(x, ctx=GPU)
    np.testing.assert_array_equal(g.T.asnumpy(), x.T)
    np.testing.assert_array_equal(g[1:3].asnumpy(), x[1:3])
    np.testing.assert_array_equal(g.reshape((3, 8)).asnumpy(), x.reshape(3, 8))
    np.testing.assert_array_equal(g.T.reshape((24,)).asnumpy(), x.T.reshape(24))
    host = nd.zeros((4, 6))
    g.copyto(host)
    np.testing.assert_array_equal(host.asnumpy(), x)
    back = nd.zeros((4, 6), ctx=GPU)
    nd.array(x * 2).copyto(back)
    np.testing.assert_array_equal(back.asnumpy(), x * 2)
    assert nd.ones((2, 2), ctx=GPU).context == GPU
    np.testing.assert_array_equal(nd.zeros_like(g).asnumpy(), np.zeros_like(x))
    np.testing.assert_array_equal(nd.ones_like(g).asnumpy(), np.ones_like(x))
    np.testing.assert_array_equal(g.astype("int32").asnumpy(), x.astype(np.int32))


def test_errors_name_the_problem_and_the_fix():
    with pytest.raises(MXNetError, match=r"gpu\(99\) does not exist.*mx.cpu\(\)"):
        nd.zeros((2,), ctx=mx.gpu(99))
    with pytest.raises(TypeError, match="float64 arrays cannot live on gpu.*astype"):
        nd.array([1.0, 2.0], ctx=GPU, dtype="float64")
    x = nd.ones((1, 1, 4, 4), ctx=GPU)
    shape = nd.shape_array(x)  # int64 cannot live on a GPU: the result is on the CPU
    assert shape.context == CPU
    np.testing.assert_array_equal(shape.asnumpy(), [1, 1, 4, 4])
    np.testing.assert_array_equal(nd.size_array(x).asnumpy(), [16])
    with pytest.raises(MXNetError, match="gpu_memory_info"):
        mx.context.gpu_memory_info(0)
    with pytest.raises(MXNetError, match="inputs are on different contexts"):
        nd.ones((2,), ctx=GPU) + nd.ones((2,))


def test_memory_usage_and_adapters():
    adapters = mx.context.gpu_adapters()
    assert len(adapters) == mx.context.num_gpus()
    assert {"name", "backend", "device_type", "unified_memory"} <= set(adapters[0])
    big = nd.zeros((1 << 20,), ctx=GPU)
    big.wait_to_read()
    with_big = mx.context.gpu_memory_usage(0)[0]
    assert with_big >= 4 * (1 << 20)
    del big
    mx.nd.waitall()
    # Other tests' arrays may be released meanwhile too, so the drop is at least 4 MiB.
    assert with_big - mx.context.gpu_memory_usage(0)[0] >= 4 * (1 << 20)


def test_failed_kernel_error_reaches_the_reader_once():
    x = nd.ones((3,), ctx=GPU)
    y = nd.broadcast_add(x, nd.ones((3,), ctx=GPU, dtype="int32").astype("float32"))
    np.testing.assert_array_equal(y.asnumpy(), [2, 2, 2])
    try:
        z = nd.negative(nd.ones((3,), ctx=GPU, dtype="uint8"))  # no uint8 kernel
    except TypeError as e:  # the NaiveEngine raises at the call
        assert "negative: dtype uint8 has no GPU kernel" in str(e)
        return
    with pytest.raises(TypeError, match="negative: dtype uint8 has no GPU kernel"):
        z.asnumpy()  # the threaded engines raise at the sync point
    z.wait_to_read()  # raised once
    mx.nd.waitall()


# ---- Gluon --------------------------------------------------------------------------------

def train_steps(ctx, steps=15):
    mx.random.seed(3)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(32, activation="relu"), gluon.nn.Dense(16, activation="tanh"), gluon.nn.Dense(4))
    net.initialize(mx.init.Xavier(), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    data = np.random.RandomState(1).randn(64, 10).astype(np.float32)
    label = (data[:, 0] > 0).astype(np.float32) + 2 * (data[:, 1] > 0)
    x, y = nd.array(data, ctx=ctx), nd.array(label, ctx=ctx)
    losses = []
    for _ in range(steps):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(64)
        losses.append(loss.mean().asscalar())
    return np.array(losses), net


def test_gluon_training_on_gpu_matches_cpu():
    cpu_losses, _ = train_steps(CPU)
    gpu_losses, net = train_steps(GPU)
    assert gpu_losses[-1] < 0.7 * gpu_losses[0]
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-3, atol=1e-4)
    assert all(p.data().context == GPU for p in net.collect_params().values())


# ---- convolution and pooling -------------------------------------------------------------

@pytest.mark.parametrize("kwargs,shape,wshape", [
    ({"kernel": (5, 5), "num_filter": 6}, (4, 3, 12, 12), (6, 3, 5, 5)),
    ({"kernel": (3, 3), "num_filter": 4, "stride": (2, 1), "pad": (1, 2), "dilate": (1, 2)}, (2, 2, 9, 8), (4, 2, 3, 3)),
    ({"kernel": (3, 3), "num_filter": 6, "num_group": 3, "pad": (1, 1)}, (3, 6, 7, 7), (6, 2, 3, 3)),
    ({"kernel": (1, 1), "num_filter": 5, "no_bias": True}, (2, 4, 5, 6), (5, 4, 1, 1)),
    ({"kernel": (3,), "num_filter": 4, "stride": (2,), "pad": (1,)}, (3, 2, 11), (4, 2, 3)),
])
def test_convolution_forward_and_gradients(kwargs, shape, wshape):
    x = RNG.randn(*shape).astype(np.float32)
    w = RNG.randn(*wshape).astype(np.float32)
    b = RNG.randn(kwargs["num_filter"]).astype(np.float32)
    if kwargs.get("no_bias"):
        fn = lambda x, w: nd.Convolution(x, w, **kwargs)
        arrays = [x, w]
    else:
        fn = lambda x, w, b: nd.Convolution(x, w, b, **kwargs)
        arrays = [x, w, b]
    gpu, cpu = both(fn, *arrays)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-4)
    check_grads(fn, arrays, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kwargs", [
    {"kernel": (2, 2), "stride": (2, 2), "pool_type": "max"},
    {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "max"},
    {"kernel": (3, 3), "stride": (1, 2), "pad": (1, 1), "pool_type": "avg"},
    {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg", "count_include_pad": False},
    {"kernel": (2, 3), "stride": (2, 2), "pool_type": "sum", "pooling_convention": "full"},
    {"kernel": (1, 1), "global_pool": True, "pool_type": "avg"},
    {"kernel": (3,), "stride": (2,), "pool_type": "max"},
    {"kernel": (2, 2), "stride": (1, 1), "pool_type": "lp", "p_value": 1},
    {"kernel": (2, 2), "stride": (2, 2), "pool_type": "lp", "p_value": 2},
    {"kernel": (3, 3), "stride": (2, 2), "pool_type": "lp", "p_value": 3},
])
def test_pooling_forward_and_gradients(kwargs):
    shape = (2, 3, 9) if len(kwargs["kernel"]) == 1 else (2, 3, 7, 9)
    x = RNG.randn(*shape).astype(np.float32)
    x.flat[5] = x.flat[6]  # a tie inside one window
    fn = lambda v: nd.Pooling(v, **kwargs)
    gpu, cpu = both(fn, x)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
    check_grads(fn, [x], rtol=1e-5, atol=1e-6)


def test_lenet_training_on_gpu_matches_cpu():
    def run(ctx):
        mx.random.seed(5)
        net = gluon.nn.Sequential()
        net.add(gluon.nn.Conv2D(6, 5, activation="relu"), gluon.nn.MaxPool2D(2, 2),
                gluon.nn.Conv2D(8, 3, activation="relu"), gluon.nn.AvgPool2D(2, 2),
                gluon.nn.Flatten(), gluon.nn.Dense(10))
        net.initialize(mx.init.Xavier(), ctx=ctx)
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05, "momentum": 0.9})
        data = np.random.RandomState(2).rand(16, 1, 20, 20).astype(np.float32)
        label = np.arange(16) % 10
        x, y = nd.array(data, ctx=ctx), nd.array(label, ctx=ctx)
        losses = []
        for _ in range(8):
            with autograd.record():
                loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(x), y)
            loss.backward()
            trainer.step(16)
            losses.append(loss.mean().asscalar())
        return np.array(losses)
    np.testing.assert_allclose(run(GPU), run(CPU), rtol=2e-3, atol=1e-4)


# ---- normalisation, dropout, activations with parameters ----------------------------------

@pytest.mark.parametrize("fix_gamma,use_global_stats,axis", [(False, False, 1), (True, False, 1), (False, True, 1), (False, False, -1)])
def test_batch_norm_training_and_gradients(fix_gamma, use_global_stats, axis):
    x = (RNG.randn(6, 4, 5) * 3 + 1).astype(np.float32)
    c = x.shape[axis]
    gamma = RNG.uniform(0.5, 1.5, c).astype(np.float32)
    beta = RNG.randn(c).astype(np.float32)
    kwargs = dict(fix_gamma=fix_gamma, use_global_stats=use_global_stats, axis=axis, eps=1e-3, momentum=0.8)
    results = []
    for ctx in (CPU, GPU):
        mm = nd.array(np.linspace(-1, 1, c), ctx=ctx)
        mv = nd.array(np.linspace(0.5, 2, c), ctx=ctx)
        with autograd.train_mode():
            y = nd.BatchNorm(nd.array(x, ctx=ctx), nd.array(gamma, ctx=ctx), nd.array(beta, ctx=ctx), mm, mv, **kwargs)
        results.append([y.asnumpy(), mm.asnumpy(), mv.asnumpy()])
    for g, cpu in zip(*[r for r in results[::-1]]):
        np.testing.assert_allclose(g, cpu, rtol=1e-4, atol=1e-5)

    def fn(x, gamma, beta):
        mm = nd.array(np.linspace(-1, 1, c), ctx=x.context)
        mv = nd.array(np.linspace(0.5, 2, c), ctx=x.context)
        return nd.BatchNorm(x, gamma, beta, mm, mv, **kwargs)
    check_grads(fn, [x, gamma, beta], rtol=1e-3, atol=1e-4)


def test_batch_norm_inference_uses_moving_statistics():
    x = RNG.randn(3, 2, 4).astype(np.float32)
    fn = lambda x, g, b, m, v: nd.BatchNorm(x, g, b, m, v, fix_gamma=False)
    args = [x, np.array([1.0, 2.0], np.float32), np.array([0.5, -0.5], np.float32),
            np.array([0.1, -0.2], np.float32), np.array([1.5, 0.5], np.float32)]
    gpu, cpu = both(fn, *args)
    want = (x - args[3][None, :, None]) / np.sqrt(args[4][None, :, None] + 1e-3) * args[1][None, :, None] + args[2][None, :, None]
    np.testing.assert_allclose(gpu, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-5)


def test_dropout_masks_on_the_gpu():
    x = nd.ones((200, 500), ctx=GPU)
    x.attach_grad()
    with autograd.record():
        y = nd.Dropout(x, p=0.3)
    y.backward()
    kept = y.asnumpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.asnumpy()[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(x.grad.asnumpy(), y.asnumpy())  # dy * mask with dy = 1
    again = nd.Dropout(x, p=0.3, mode="always").asnumpy() != 0
    assert (again != kept).mean() > 0.3, "two calls must draw different masks"
    rows = nd.Dropout(x, p=0.5, mode="always", axes=(1,)).asnumpy()
    assert ((rows == 0).all(axis=1) | (rows != 0).all(axis=1)).all(), "axes=(1,) shares one draw per row"
    np.testing.assert_array_equal(nd.Dropout(x, p=0.3).asnumpy(), x.asnumpy())  # inference: identity


@pytest.mark.parametrize("act", ["leaky", "elu", "selu", "gelu", "prelu"])
def test_leaky_relu_family(act):
    x = RNG.uniform(-4, 4, size=(5, 3, 4)).astype(np.float32)
    if act == "prelu":
        gamma = np.array([0.1, 0.2, 0.3], np.float32)
        fn = lambda v, g: nd.LeakyReLU(v, g, act_type="prelu")
        arrays = [x, gamma]
    else:
        fn = lambda v: nd.LeakyReLU(v, act_type=act, slope=0.3)
        arrays = [x]
    gpu, cpu = both(fn, *arrays)
    close(gpu, cpu, rtol=1e-5, atol=1e-6)
    check_grads(fn, arrays, rtol=1e-4, atol=1e-5)


# ---- data movement and selection ----------------------------------------------------------

@pytest.mark.parametrize("name,fn", [
    ("concat", lambda a: nd.concat(a, a * 2, dim=1)),
    ("stack", lambda a: nd.stack(a, a + 1, axis=2)),
    ("split", lambda a: nd.split(a, 2, axis=1)[1]),
    ("tile", lambda a: nd.tile(a, (2, 1, 3))),
    ("repeat", lambda a: nd.repeat(a, 2, axis=0)),
    ("flip", lambda a: nd.flip(a, axis=1)),
    ("broadcast_axis", lambda a: nd.broadcast_axis(a[:, :1], axis=1, size=3)),
    ("slice_assign", lambda a: nd.slice_axis(a, axis=1, begin=1, end=3) * 1),
    ("clip", lambda a: nd.clip(a, -0.5, 0.7)),
    ("where", lambda a: nd.where(a > 0, a, -a * 3)),
    ("add_n", lambda a: nd.add_n(a, a, a * 2, a, a, a * 3)),
    ("smooth_l1", lambda a: nd.smooth_l1(a * 3, scalar=1.5)),
    ("expand_squeeze", lambda a: nd.squeeze(nd.expand_dims(a, axis=1), axis=1)),
])
def test_data_movement_and_selection_with_gradients(name, fn):
    x = RNG.randn(4, 4).astype(np.float32)
    gpu, cpu = both(fn, x)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-6, atol=1e-6)
    check_grads(fn, [x], rtol=1e-5, atol=1e-6)


def test_item_assignment_on_the_gpu():
    want = np.zeros((3, 4), np.float32)
    got = nd.zeros((3, 4), ctx=GPU)
    got[1] = 2
    want[1] = 2
    got[:, 2] = nd.array([7, 8, 9], ctx=GPU)
    want[:, 2] = [7, 8, 9]
    got[0, 1:3] = nd.array([5, 6])  # from the host
    want[0, 1:3] = [5, 6]
    np.testing.assert_array_equal(got.asnumpy(), want)


@pytest.mark.parametrize("mode", ["clip", "wrap"])
@pytest.mark.parametrize("axis", [0, 1])
def test_take_and_its_gradient(mode, axis):
    a = RNG.randn(5, 6, 3).astype(np.float32)
    idx = np.array([[0, 4], [7, -2], [4, 4]], dtype=np.float32)  # repeats add up in the gradient
    fn = lambda a, i: nd.take(a, i, axis=axis, mode=mode)
    gpu, cpu = both(fn, a, idx)
    np.testing.assert_array_equal(gpu, cpu)
    outs = []
    for ctx in (CPU, GPU):
        x = nd.array(a, ctx=ctx)
        x.attach_grad()
        with autograd.record():
            y = fn(x, nd.array(idx, ctx=ctx))
        y.backward(nd.array(np.arange(y.size, dtype=np.float32).reshape(y.shape), ctx=ctx))
        outs.append(x.grad.asnumpy())
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-6)


def test_embedding_forward_and_gradient():
    w = RNG.randn(10, 4).astype(np.float32)
    idx = np.array([[1, 3, 3], [9, 0, 12], [np.nan, -1, 3]], dtype=np.float32)
    fn = lambda i, w: nd.Embedding(i, w, input_dim=10, output_dim=4)
    gpu, cpu = both(fn, idx, w)
    np.testing.assert_array_equal(gpu, cpu)
    grads = []
    for ctx in (CPU, GPU):
        weight = nd.array(w, ctx=ctx)
        weight.attach_grad()
        with autograd.record():
            y = fn(nd.array(idx, ctx=ctx), weight)
        y.backward(nd.array(np.linspace(-1, 1, y.size, dtype=np.float32).reshape(y.shape), ctx=ctx))
        grads.append(weight.grad.asnumpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-6)


def test_forked_child_cannot_touch_the_gpu():
    x = nd.ones((3,), ctx=GPU)
    x.wait_to_read()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports what happened and leaves without running finalizers
        os.close(read)
        try:
            x.asnumpy()
            message = "no error"
        except MXNetError as e:
            message = str(e)
        os.write(write, message.encode()[:500])
        os._exit(0)
    os.close(write)
    message = os.read(read, 1000).decode()
    os.waitpid(pid, 0)
    assert "forked child" in message or "forked from" in message, message
    np.testing.assert_array_equal((x * 2).asnumpy(), [2, 2, 2])


# ---- Gluon on the GPU ---------------------------------------------------------------------

def test_reset_ctx_hybridize_export_and_import_on_the_gpu(tmp_path):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8, activation="relu", in_units=5), gluon.nn.Dense(3, in_units=8))
    net.initialize(ctx=CPU)
    x_host = RNG.randn(4, 5).astype(np.float32)
    want = net(nd.array(x_host)).asnumpy()
    net.collect_params().reset_ctx(GPU)
    assert all(p.data().context == GPU for p in net.collect_params().values())
    net.hybridize()
    x = nd.array(x_host, ctx=GPU)
    np.testing.assert_allclose(net(x).asnumpy(), want, rtol=1e-5, atol=1e-6)
    prefix = str(tmp_path / "net")
    net.export(prefix)
    block = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params", ctx=GPU)
    np.testing.assert_allclose(block(x).asnumpy(), want, rtol=1e-5, atol=1e-6)


def test_data_parallel_training_over_cpu_and_gpu_matches_one_context():
    data = nd.array(RNG.randn(8, 5).astype(np.float32))
    label = nd.array(np.arange(8) % 3)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    weights = []
    for ctxs in ([CPU], [CPU, GPU]):
        net = gluon.nn.Dense(3, in_units=5)
        net.initialize(mx.init.Constant(0.1), ctx=ctxs)
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
        for _ in range(3):
            xs = gluon.utils.split_and_load(data, ctxs)
            ys = gluon.utils.split_and_load(label, ctxs)
            assert [x.context for x in xs] == ctxs
            with autograd.record():
                losses = [loss_fn(net(x), y) for x, y in zip(xs, ys)]
            for loss in losses:
                loss.backward()
            trainer.step(8)
        copies = [net.weight.data(c).asnumpy() for c in ctxs]
        for c in copies[1:]:
            np.testing.assert_array_equal(c, copies[0])
        weights.append(copies[0])
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_argmax_argmin_with_ties_and_nan(name, axis):
    x = np.round(RNG.randn(5, 300)).astype(np.float32)  # many ties
    x[3, 17] = np.nan
    kwargs = {} if axis is None else {"axis": axis}
    gpu, cpu = both(getattr(nd, name), x, **kwargs)
    np.testing.assert_array_equal(gpu, cpu)
    ints = (np.round(RNG.randn(5, 300) * 3) + (1 << 25)).astype(np.int32)  # beyond float32's exact range
    gpu, cpu = both(getattr(nd, name), ints, **kwargs)
    assert gpu.dtype == cpu.dtype
    np.testing.assert_array_equal(gpu, cpu)


@pytest.mark.parametrize("ord_,axis", [(2, None), (2, 1), (1, 0), (2, (0, 2))])
def test_norm(ord_, axis):
    x = RNG.randn(3, 4, 5).astype(np.float32)
    x[0, 0, 0] = 3e20  # its square overflows float32
    kwargs = {"ord": ord_} if axis is None else {"ord": ord_, "axis": axis}
    gpu, cpu = both(nd.norm, x, **kwargs)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5)
    check_grads(lambda v: nd.norm(v, **kwargs), [RNG.randn(3, 4, 5).astype(np.float32)], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs", [
    {}, {"normalization": "batch", "grad_scale": 2.0}, {"normalization": "valid", "use_ignore": True, "ignore_label": 1},
    {"smooth_alpha": 0.1}, {"multi_output": True, "normalization": "valid"},
])
def test_softmax_output_forward_and_gradient(kwargs):
    if kwargs.get("multi_output"):
        x = RNG.randn(3, 4, 5).astype(np.float32)
        label = RNG.randint(0, 4, size=(3, 5)).astype(np.float32)
    else:
        x = RNG.randn(6, 4).astype(np.float32)
        label = np.array([0, 1, 3, 1, 2, 0], np.float32)
    gpu, cpu = both(lambda d, l: nd.SoftmaxOutput(d, l, **kwargs), x, label)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
    grads = []
    for ctx in (CPU, GPU):
        d = nd.array(x, ctx=ctx)
        d.attach_grad()
        with autograd.record():
            y = nd.SoftmaxOutput(d, nd.array(label, ctx=ctx), **kwargs)
        y.backward()
        grads.append(d.grad.asnumpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-6)


def test_softmax_output_bad_label_raises_for_its_gradient():
    d = nd.array(RNG.randn(2, 3).astype(np.float32), ctx=GPU)
    d.attach_grad()
    with autograd.record():
        y = nd.SoftmaxOutput(d, nd.array([1, 7], ctx=GPU))
    y.backward()
    # Another array synchronises cleanly: the error belongs to the failed gradient.
    np.testing.assert_allclose((nd.ones((2,), ctx=GPU) + 1).asnumpy(), [2, 2])
    with pytest.raises(ValueError, match=r"label 7 is out of range for 3 classes"):
        d.grad.asnumpy()
    # Raised once, and the failed operation left zeros, as on the CPU.
    np.testing.assert_array_equal(d.grad.asnumpy(), np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_softmax_output_label_errors_match_cpu(dtype):
    for ctx in (mx.cpu(), GPU):
        d = nd.ones((2, 3), ctx=ctx)
        d.attach_grad()
        with autograd.record():
            y = nd.SoftmaxOutput(d, nd.array([0, -2], ctx=ctx, dtype=dtype))
        y.backward()
        with pytest.raises(ValueError, match=r"label -2 is out of range for 3 classes"):
            mx.nd.waitall()
        # An ignored label is not an error on either context, NaN included (it converts to 0).
        with autograd.record():
            y = nd.SoftmaxOutput(d, nd.array([0, -1], ctx=ctx, dtype=dtype), use_ignore=True, ignore_label=-1)
        y.backward()
        np.testing.assert_allclose(d.grad.asnumpy()[1], 0.0)
        if dtype == "float32":
            with autograd.record():
                y = nd.SoftmaxOutput(d, nd.array([1, np.nan], ctx=ctx), use_ignore=True, ignore_label=0)
            y.backward()
            np.testing.assert_allclose(d.grad.asnumpy()[1], 0.0)


def test_softmax_output_errors_per_call():
    grads = []
    for classes, labels in ((5, [0, 9]), (3, [0, 4])):
        d = nd.ones((2, classes), ctx=GPU)
        d.attach_grad()
        with autograd.record():
            y = nd.SoftmaxOutput(d, nd.array(labels, ctx=GPU))
        y.backward()
        grads.append(d)
    with pytest.raises(ValueError, match=r"label 9 is out of range for 5 classes"):
        grads[0].grad.asnumpy()
    with pytest.raises(ValueError, match=r"label 4 is out of range for 3 classes"):
        grads[1].grad.asnumpy()


@pytest.mark.parametrize("narrow", ["uint8", "int8", "bool", "float16", "bfloat16"])
def test_casts_from_and_to_narrow_dtypes(narrow):
    values = np.array([0, 1, -1, 2.5, -2.5, 127.9, 128, 255.5, 300, -129, 1e-3, 65504, np.nan], np.float32)
    for length in (len(values), 5, 1):  # word-aligned and partial words
        x = values[:length]
        cpu = nd.array(x).astype(narrow)
        gpu = nd.array(x, ctx=GPU).astype(narrow)
        assert gpu.context == GPU and gpu.dtype == cpu.dtype
        a, b = gpu.asnumpy(), cpu.asnumpy()
        if narrow == "bfloat16":
            a, b = a.astype(np.float32), b.astype(np.float32)
        np.testing.assert_array_equal(a, b)
        back_gpu = gpu.astype("float32").asnumpy()
        back_cpu = cpu.astype("float32").asnumpy()
        np.testing.assert_array_equal(back_gpu, back_cpu)
    images = (np.arange(3 * 7) % 256).astype(np.uint8).reshape(3, 7)
    on_gpu = nd.array(images, ctx=GPU, dtype="uint8")
    np.testing.assert_array_equal(on_gpu.astype("float32").asnumpy(), images.astype(np.float32))
    np.testing.assert_array_equal(on_gpu.astype("int32").asnumpy(), images.astype(np.int32))


def test_one_hot():
    idx = np.array([[0, 3], [5, -1], [np.nan, 2.7]], np.float32)
    gpu, cpu = both(lambda i: nd.one_hot(i, 4, on_value=2.0, off_value=-1.0), idx)
    np.testing.assert_array_equal(gpu, cpu)
    gpu, cpu = both(lambda i: nd.one_hot(i, 3, dtype="int32"), np.array([2, 0, 7], np.int32))
    np.testing.assert_array_equal(gpu, cpu)


def test_rrelu_slopes_and_gradient():
    x = nd.array(RNG.uniform(-2, 2, size=(300, 40)).astype(np.float32), ctx=GPU)
    x.attach_grad()
    with autograd.record():
        y, mask = nd.LeakyReLU(x, act_type="rrelu", lower_bound=0.1, upper_bound=0.3)  # rrelu shows its slopes
    y.backward()
    xs, ys, g = x.asnumpy(), y.asnumpy(), x.grad.asnumpy()
    negative = xs < 0
    slopes = ys[negative] / xs[negative]
    assert slopes.min() >= 0.1 - 1e-6
    assert slopes.max() <= 0.3 + 1e-6
    assert abs(slopes.mean() - 0.2) < 0.005, "slopes are uniform in [lower, upper]"
    np.testing.assert_allclose(g[negative], slopes, rtol=1e-5)
    np.testing.assert_array_equal(g[~negative], 1.0)
    np.testing.assert_allclose(mask.asnumpy()[negative], slopes, rtol=1e-5)
    inference = nd.LeakyReLU(x, act_type="rrelu", lower_bound=0.1, upper_bound=0.3)[0]
    np.testing.assert_allclose(inference.asnumpy(), np.where(xs > 0, xs, 0.2 * xs), rtol=1e-6)  # the mean slope


def test_dot_with_a_long_contraction():
    # Products longer than one dispatch's share of k are split and accumulated.
    a = RNG.randn(20, 70000).astype(np.float32)
    b = RNG.randn(70000, 25).astype(np.float32)
    gpu = nd.dot(nd.array(a, ctx=GPU), nd.array(b, ctx=GPU)).asnumpy()
    want = a.astype(np.float64) @ b
    np.testing.assert_allclose(gpu, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_convolution_weight_gradient_of_a_large_batch():
    x = RNG.rand(128, 1, 28, 28).astype(np.float32)
    w = (RNG.randn(20, 1, 5, 5) * 0.1).astype(np.float32)
    head = RNG.randn(128, 20, 24, 24).astype(np.float32)
    grads = []
    for ctx in (CPU, GPU):
        weight = nd.array(w, ctx=ctx)
        weight.attach_grad()
        with autograd.record():
            y = nd.Convolution(nd.array(x, ctx=ctx), weight, kernel=(5, 5), num_filter=20, no_bias=True)
        y.backward(nd.array(head, ctx=ctx))
        grads.append(weight.grad.asnumpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-4 * np.abs(grads[0]).max())


def test_shuffle_matches_the_cpu_permutation():
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    outs = []
    for ctx in (CPU, GPU):
        mx.random.seed(11)
        outs.append(nd.random.shuffle(nd.array(x, ctx=ctx)).asnumpy())
    np.testing.assert_array_equal(outs[1], outs[0])
    assert sorted(outs[1][:, 0].tolist()) == x[:, 0].tolist()


# ---- regressions from a fresh-user review -------------------------------------------------

def test_gradient_flows_across_context_copies():
    x = nd.ones((3,))
    x.attach_grad()
    w = nd.array([1.0, 2.0, 3.0], ctx=GPU)
    w.attach_grad()
    with autograd.record():
        y = ((x * 2).as_in_context(GPU) * w).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [2, 4, 6])
    np.testing.assert_array_equal(w.grad.asnumpy(), [2, 2, 2])
    v = nd.array([1.0, -1.0], ctx=GPU)
    v.attach_grad()
    with autograd.record():
        z = (v.copyto(CPU) * 3).sum()
    z.backward()
    assert v.grad.context == GPU
    np.testing.assert_array_equal(v.grad.asnumpy(), [3, 3])


def test_int32_scalars_stay_exact():
    big = 16777217  # not representable in float32
    a = nd.array([big, 5], ctx=GPU, dtype="int32")
    np.testing.assert_array_equal((a == big).asnumpy(), [1, 0])
    np.testing.assert_array_equal((nd.zeros((2,), ctx=GPU, dtype="int32") + big).asnumpy(), [big, big])
    np.testing.assert_array_equal(nd.clip(a, 0, big - 1).asnumpy(), [big - 1, 5])
    np.testing.assert_array_equal(nd.full((2,), big, ctx=GPU, dtype="int32").asnumpy(), [big, big])
    np.testing.assert_array_equal(nd.one_hot(nd.array([1], ctx=GPU), 2, on_value=big, dtype="int32").asnumpy(), [[0, big]])


def test_out_on_another_context_is_rejected():
    with pytest.raises(MXNetError, match="out\\[0\\] is on cpu\\(0\\) but the result is computed on gpu\\(0\\)"):
        nd.exp(nd.ones((2, 2), ctx=GPU), out=nd.zeros((2, 2)))
    with pytest.raises(MXNetError, match="out\\[0\\] is on gpu\\(0\\) but the result is computed on cpu\\(0\\)"):
        nd.exp(nd.ones((2, 2)), out=nd.zeros((2, 2), ctx=GPU))


def test_advanced_indexing_on_gpu_arrays():
    host = np.arange(20, dtype=np.float32).reshape(4, 5)
    a = nd.array(host, ctx=GPU)
    np.testing.assert_array_equal(a[[0, 2]].asnumpy(), host[[0, 2]])
    np.testing.assert_array_equal(a[:, [1, 3]].asnumpy(), host[:, [1, 3]])
    # A comparison gives a float 0/1 array, which MXNet 1.x treats as integer indices.
    np.testing.assert_array_equal(a[a > 5].asnumpy(), nd.array(host)[nd.array(host) > 5].asnumpy())
    a[[0, 2]] = 7
    host[[0, 2]] = 7
    np.testing.assert_array_equal(a.asnumpy(), host)
    assert a.context == GPU


def test_pickle_and_deepcopy_keep_the_gpu_context():
    import copy
    import pickle
    g = nd.array([1.0, 2.0], ctx=GPU)
    for clone in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert clone.context == GPU
        np.testing.assert_array_equal(clone.asnumpy(), [1, 2])


def test_random_draws_into_a_gpu_out():
    out = nd.zeros((1000,), ctx=GPU)
    nd.random.uniform(shape=(1000,), out=out)
    values = out.asnumpy()
    assert out.context == GPU
    assert values.min() >= 0
    assert values.max() < 1
    assert values.std() > 0.2
    w = nd.zeros((30, 40), ctx=GPU)
    mx.init.Xavier()(mx.init.InitDesc("w_weight"), w)
    assert np.abs(w.asnumpy()).max() > 0


def test_float_to_int32_casts_match_the_cpu():
    x = np.array([np.inf, -np.inf, np.nan, 3e9, -3e9, 2.7, -2.7], np.float32)
    gpu, cpu = both(lambda v: v.astype("int32"), x)
    np.testing.assert_array_equal(gpu, cpu)
    np.testing.assert_array_equal(cpu, [-2 ** 31] * 5 + [2, -2])
    # int32 to 8-bit dtypes keeps the low byte, as on the CPU.
    ints = np.array([300, -1, 127, -129, 2 ** 31 - 1], np.int32)
    for narrow in ("int8", "uint8"):
        gpu, cpu = both(lambda v: v.astype(narrow), ints)
        np.testing.assert_array_equal(gpu, cpu)
    half = nd.array([np.inf, -65504, 7.5], ctx=GPU, dtype="float16").astype("int32").asnumpy()
    np.testing.assert_array_equal(half, nd.array([np.inf, -65504, 7.5], dtype="float16").astype("int32").asnumpy())


def test_reductions_of_empty_and_short_rows():
    gpu, cpu = both(nd.norm, np.zeros((3, 0), np.float32))
    np.testing.assert_array_equal(gpu, cpu)
    gpu, cpu = both(lambda v: nd.norm(v, axis=1), np.zeros((3, 0), np.float32))
    np.testing.assert_array_equal(gpu, cpu)
    rows = RNG.randn(3000, 3).astype(np.float32)
    for name in ("sum", "max", "mean"):
        gpu, cpu = both(getattr(nd, name), rows, axis=1)
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
    ints = np.array([[7, -7, 2], [1, 2, 2]], np.int32)
    gpu, cpu = both(lambda v: nd.mean(v, axis=1), ints)
    np.testing.assert_array_equal(gpu, cpu)


def test_invalid_device_ids_and_too_many_axes_are_explained():
    with pytest.raises(ValueError, match="invalid device id -1"):
        mx.gpu(-1)
    x = nd.ones((2,) * 10, ctx=GPU).transpose(tuple(range(9, -1, -1)))
    with pytest.raises(MXNetError, match="transpose.*at most 8 axes"):
        x.wait_to_read()


@pytest.mark.parametrize("narrow", ["uint8", "int8", "bool", "float16", "bfloat16"])
def test_strided_views_of_narrow_dtypes(narrow):
    host = (np.arange(2 * 3 * 5) % 7 - 2).astype(np.float32).reshape(2, 3, 5)
    cpu = nd.array(host).astype(narrow)
    gpu = nd.array(host, ctx=GPU).astype(narrow)
    as_float = lambda a: a.astype("float32").asnumpy()
    for view in (lambda a: a.transpose((2, 0, 1)), lambda a: a[:, 1:3, ::2], lambda a: nd.flip(a, axis=2)):
        np.testing.assert_array_equal(as_float(view(gpu)), as_float(view(cpu)))
        np.testing.assert_array_equal(as_float(view(gpu).copy()), as_float(view(cpu).copy()))
    with pytest.raises(MXNetError, match="strided or unaligned view of a .* GPU array"):
        gpu[:, 1] = 1
        gpu.wait_to_read()


def test_numpy_conversion_of_gpu_arrays_copies():
    g = nd.array([[1, 2], [3, 4]], ctx=GPU)
    np.testing.assert_array_equal(np.asarray(g), [[1, 2], [3, 4]])
    assert np.asarray(g, dtype=np.int32).dtype == np.int32
    np.testing.assert_array_equal(nd.array([g[0], g[1]]).asnumpy(), [[1, 2], [3, 4]])


def test_symbol_bind_and_simple_bind_on_the_gpu():
    data, weight = mx.sym.var("data"), mx.sym.var("w")
    loss = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, weight, num_hidden=3, no_bias=True), mx.sym.var("label"))
    x = RNG.rand(4, 5).astype(np.float32)
    w = RNG.rand(3, 5).astype(np.float32)
    label = np.array([0, 1, 2, 0], np.float32)
    results = []
    for ctx in (CPU, GPU):
        args = {"data": nd.array(x, ctx=ctx), "w": nd.array(w, ctx=ctx), "label": nd.array(label, ctx=ctx)}
        grads = {"w": nd.zeros((3, 5), ctx=ctx)}
        executor = loss.bind(ctx, args, args_grad=grads)
        executor.forward(is_train=True)
        executor.backward()
        assert executor.outputs[0].context == ctx
        results.append((executor.outputs[0].asnumpy(), grads["w"].asnumpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5, atol=1e-6)
    executor = loss.simple_bind(GPU, data=(4, 5), label=(4,))
    executor.arg_dict["data"][:] = x
    executor.arg_dict["w"][:] = w
    executor.arg_dict["label"][:] = label
    executor.forward(is_train=True)
    executor.backward()
    np.testing.assert_allclose(executor.grad_dict["w"].asnumpy(), results[0][1], rtol=1e-5, atol=1e-6)


def test_reads_to_host_from_threads_while_others_synchronise():
    # A read maps its buffer and waits for the mapping callback, which runs inside whichever
    # thread polls the device first: another thread's wait_to_read may run it.
    errors = []

    def work():
        try:
            x = nd.ones((5,), ctx=GPU)
            for _ in range(200):
                (x + x).wait_to_read()
                assert x.asnumpy().sum() == 5
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("shape, k", [((3, 4), 1), ((3,), -1), ((2, 3, 4), 0)])
def test_diag_on_the_gpu_matches_numpy(shape, k):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    x = nd.array(a, ctx=GPU)
    x.attach_grad()
    with mx.autograd.record():
        out = nd.diag(x, k=k)
    out.backward(nd.ones(out.shape, ctx=GPU) * 2)
    expected = np.diag(a, k) if a.ndim == 1 else np.diagonal(a, k, 0, 1)
    np.testing.assert_array_equal(out.asnumpy(), expected)
    # The gradient is 2 on the elements the diagonal read, and 0 elsewhere.
    grad = np.full_like(a, 2.0) if a.ndim == 1 else np.zeros_like(a)
    if a.ndim > 1:
        n = np.diagonal(a, k, 0, 1).shape[-1]
        rows, cols = (np.arange(n), np.arange(n) + k) if k >= 0 else (np.arange(n) - k, np.arange(n))
        grad[rows, cols] = 2.0
    np.testing.assert_array_equal(x.grad.asnumpy(), grad)
