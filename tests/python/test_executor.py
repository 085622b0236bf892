"""Tests of the symbolic executor (Symbol.bind, simple_bind, eval) and MultiThreadExecutor.

Values are checked against numpy, finite differences and executor.npz / executor.json, which
make_executor_fixtures.py wrote with MXNet 1.9.1.
"""
import builtins
import json
import threading

import numpy as np
import pytest

import mxnet as mx
from mxnet.base import MXNetError
from fixtures import load_json, load_npz

F32 = dict(rtol=1e-4, atol=1e-5)
FIXTURES = load_json("executor.json")
FIXTURE_ARRAYS = load_npz("executor.npz")
FACTS = FIXTURES["facts"]


def nd(value, dtype="float32"):
    return mx.nd.array(np.asarray(value), dtype=dtype)


def fc_symbol(num_hidden=3):
    return mx.sym.FullyConnected(mx.sym.var("x"), num_hidden=num_hidden, name="fc")


def mlp_symbol():
    x = mx.sym.var("x")
    fc1 = mx.sym.FullyConnected(x, num_hidden=5, name="fc1")
    act = mx.sym.Activation(fc1, act_type="tanh", name="act")
    return mx.sym.FullyConnected(act, num_hidden=2, name="fc2")


def mlp_numpy(x, w1, b1, w2, b2):
    return np.tanh(x @ w1.T + b1) @ w2.T + b2


def random_args(exe, seed):
    rng = np.random.default_rng(seed)
    values = {}
    for name, array in exe.arg_dict.items():
        values[name] = rng.uniform(-1, 1, size=array.shape).astype(array.dtype)
        array[:] = values[name]
    return values


# ---- MXNet 1.9.1 fixtures ----------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(FIXTURES["cases"]))
def test_fixture_case_matches_mxnet(case):
    entry = FIXTURES["cases"][case]

    def array(key):
        return FIXTURE_ARRAYS[f"{case}__{key}"]

    sym = mx.sym.load_json(json.dumps(entry["symbol"]))
    shapes = {k: tuple(v) for k, v in entry["shapes"].items()}
    exe = sym.simple_bind(mx.cpu(), grad_req=entry["grad_req"], **shapes)
    for name, target in exe.arg_dict.items():
        target[:] = array("arg__" + name)
    for name, target in exe.aux_dict.items():
        target[:] = array("aux__" + name)
    out_grads = None
    if entry["out_grads"]:
        out_grads = [nd(array(f"out_grad{i}")) for i in range(len(exe.outputs))]

    for _ in range(entry["steps"]):
        exe.forward(is_train=True)
        exe.backward(out_grads)

    for i, output in enumerate(exe.outputs):
        np.testing.assert_allclose(output.asnumpy(), array(f"out{i}"), **F32,
                                   err_msg=f"output {i}")
    for name, grad in exe.grad_dict.items():
        key = "grad__" + name
        if key not in entry["keys"]:
            assert grad is None, f"{name} should have no gradient array"
            continue
        np.testing.assert_allclose(grad.asnumpy(), array(key), **F32, err_msg=f"gradient of {name}")
    for name, aux in exe.aux_dict.items():
        np.testing.assert_allclose(aux.asnumpy(), array("aux_after__" + name), **F32,
                                   err_msg=f"{name} after training")
    for i, output in enumerate(exe.forward(is_train=False)):
        np.testing.assert_allclose(output.asnumpy(), array(f"predict_out{i}"), **F32,
                                   err_msg=f"predict-mode output {i}")


# ---- forward and backward against numpy --------------------------------------------------------
def test_simple_bind_forward_matches_numpy():
    exe = mlp_symbol().simple_bind(mx.cpu(), x=(4, 3))
    v = random_args(exe, 0)
    outputs = exe.forward()
    expected = mlp_numpy(v["x"], v["fc1_weight"], v["fc1_bias"], v["fc2_weight"], v["fc2_bias"])
    assert len(outputs) == 1
    np.testing.assert_allclose(outputs[0].asnumpy(), expected, **F32)


def test_backward_matches_finite_differences():
    exe = mlp_symbol().simple_bind(mx.cpu(), type_dict={"x": "float64"}, x=(3, 4))
    v = random_args(exe, 1)
    head = np.random.default_rng(2).uniform(-1, 1, size=(3, 2))
    exe.forward(is_train=True)
    exe.backward(nd(head, "float64"))

    def loss(values):
        out = mlp_numpy(values["x"], values["fc1_weight"], values["fc1_bias"],
                        values["fc2_weight"], values["fc2_bias"])
        return float((out * head).sum())

    eps = 1e-6
    for name, grad in exe.grad_dict.items():
        numeric = np.zeros_like(v[name])
        for index in np.ndindex(*v[name].shape):
            plus = {k: a.copy() for k, a in v.items()}
            minus = {k: a.copy() for k, a in v.items()}
            plus[name][index] += eps
            minus[name][index] -= eps
            numeric[index] = (loss(plus) - loss(minus)) / (2 * eps)
        np.testing.assert_allclose(grad.asnumpy(), numeric, rtol=1e-6, atol=1e-8,
                                   err_msg=f"gradient of {name}")


def test_softmax_output_gradient_matches_numpy():
    x = mx.sym.var("x")
    sym = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(x, num_hidden=4, name="fc"), name="sm")
    exe = sym.simple_bind(mx.cpu(), x=(3, 5))
    v = random_args(exe, 3)
    label = np.array([0, 3, 1], dtype=np.float32)
    exe.arg_dict["sm_label"][:] = label
    exe.forward(is_train=True)
    exe.backward()
    logits = v["x"] @ v["fc_weight"].T + v["fc_bias"]
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), prob, **F32)
    dlogits = prob - np.eye(4, dtype=np.float32)[label.astype(int)]
    np.testing.assert_allclose(exe.grad_dict["fc_weight"].asnumpy(), dlogits.T @ v["x"], **F32)
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), dlogits @ v["fc_weight"], **F32)


@pytest.mark.parametrize("grad_req", ["write", "null"])
def test_batchnorm_training_updates_aux_states(grad_req):
    data = mx.sym.var("data")
    sym = mx.sym.BatchNorm(data, fix_gamma=False, momentum=0.9, eps=1e-5, name="bn")
    exe = sym.simple_bind(mx.cpu(), grad_req=grad_req, data=(8, 3))
    x = np.random.default_rng(4).normal(2.0, 3.0, size=(8, 3)).astype(np.float32)
    exe.arg_dict["data"][:] = x
    exe.arg_dict["bn_gamma"][:] = 1.5
    exe.arg_dict["bn_beta"][:] = 0.25
    exe.aux_dict["bn_moving_var"][:] = 1.0

    exe.forward()
    assert np.all(exe.aux_dict["bn_moving_mean"].asnumpy() == 0), "predict mode changed aux"
    out = exe.forward(is_train=True)[0].asnumpy()
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(out, 1.5 * (x - mean) / np.sqrt(var + 1e-5) + 0.25, **F32)
    np.testing.assert_allclose(exe.aux_dict["bn_moving_mean"].asnumpy(), 0.1 * mean, **F32)
    np.testing.assert_allclose(exe.aux_dict["bn_moving_var"].asnumpy(), 0.9 + 0.1 * var, **F32)

    predicted = exe.forward(is_train=False)[0].asnumpy()
    moving_mean, moving_var = 0.1 * mean, 0.9 + 0.1 * var
    np.testing.assert_allclose(
        predicted, 1.5 * (x - moving_mean) / np.sqrt(moving_var + 1e-5) + 0.25, **F32)


def test_dropout_modes_match_mxnet():
    exe = mx.sym.Dropout(mx.sym.var("x"), p=0.5).simple_bind(mx.cpu(), x=(4, 50))
    exe.arg_dict["x"][:] = 1
    predict = sorted(set(exe.forward()[0].asnumpy().ravel().tolist()))
    train = sorted(set(exe.forward(is_train=True)[0].asnumpy().ravel().tolist()))
    assert predict == FACTS["dropout_predict_values"]
    assert train == FACTS["dropout_train_values"]


# ---- grad_req --------------------------------------------------------------------------------
def run_twice(grad_req):
    exe = mlp_symbol().simple_bind(mx.cpu(), grad_req=grad_req, x=(2, 3))
    random_args(exe, 5)
    head = nd(np.ones((2, 2)))
    grads = []
    for _ in range(2):
        exe.forward(is_train=True)
        exe.backward(head)
        grads.append({k: None if g is None else g.asnumpy() for k, g in exe.grad_dict.items()})
    return grads


def test_grad_req_write_overwrites():
    first, second = run_twice("write")
    for name in first:
        np.testing.assert_allclose(second[name], first[name], **F32, err_msg=name)


def test_grad_req_add_accumulates():
    single = run_twice("write")[0]
    _, accumulated = run_twice("add")
    for name in single:
        np.testing.assert_allclose(accumulated[name], 2 * single[name], **F32, err_msg=name)


def test_grad_req_add_across_backward_calls():
    exe = fc_symbol().simple_bind(mx.cpu(), grad_req="add", x=(2, 4))
    random_args(exe, 6)
    exe.forward(is_train=True)
    exe.backward(nd(np.ones((2, 3))))
    once = exe.grad_dict["x"].asnumpy().copy()
    exe.backward(nd(np.ones((2, 3))))
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), 2 * once, **F32)


def test_grad_req_null_allocates_nothing():
    exe = fc_symbol().simple_bind(mx.cpu(), grad_req="null", x=(2, 4))
    assert [g is None for g in exe.grad_arrays] == FACTS["null_grad_req_arrays"]
    exe.forward(is_train=True)
    exe.backward(nd(np.ones((2, 3))))


def test_grad_req_dict_missing_names_get_null():
    exe = fc_symbol().simple_bind(mx.cpu(), grad_req={"x": "write"}, x=(2, 4))
    assert [g is None for g in exe.grad_arrays] == FACTS["dict_grad_req_missing_is_null"]


def test_grad_req_list_per_argument():
    exe = fc_symbol().simple_bind(mx.cpu(), grad_req=["null", "write", "add"], x=(2, 4))
    random_args(exe, 7)
    assert exe.grad_arrays[0] is None
    for _ in range(2):
        exe.forward(is_train=True)
        exe.backward(nd(np.ones((2, 3))))
    x = exe.arg_dict["x"].asnumpy()
    np.testing.assert_allclose(exe.grad_dict["fc_weight"].asnumpy(), np.ones((3, 2)) @ x, **F32)
    np.testing.assert_allclose(exe.grad_dict["fc_bias"].asnumpy(), np.full(3, 4.0), **F32)


def test_null_gradient_leaves_buffer_untouched():
    x, w, b = nd(np.ones((2, 4))), nd(np.ones((3, 4))), nd(np.zeros(3))
    gx = nd(np.full((2, 4), 9.0))
    gw = nd(np.zeros((3, 4)))
    exe = fc_symbol().bind(mx.cpu(), [x, w, b], args_grad={"x": gx, "fc_weight": gw},
                           grad_req={"x": "null", "fc_weight": "write"})
    exe.forward(is_train=True)
    exe.backward(nd(np.ones((2, 3))))
    np.testing.assert_array_equal(gx.asnumpy(), np.full((2, 4), 9.0))
    np.testing.assert_allclose(gw.asnumpy(), np.full((3, 4), 2.0), **F32)


# ---- bind forms and errors ----------------------------------------------------------------------
def test_bind_list_and_dict_forms_agree():
    rng = np.random.default_rng(8)
    values = [rng.uniform(-1, 1, s).astype(np.float32) for s in ((2, 4), (3, 4), (3,))]
    names = fc_symbol().list_arguments()
    from_list = fc_symbol().bind(mx.cpu(), [nd(v) for v in values],
                                 args_grad=[nd(np.zeros(v.shape)) for v in values])
    from_dict = fc_symbol().bind(mx.cpu(), {n: nd(v) for n, v in zip(names, values)},
                                 args_grad={n: nd(np.zeros(v.shape)) for n, v in zip(names, values)})
    head = nd(rng.uniform(-1, 1, (2, 3)))
    for exe in (from_list, from_dict):
        exe.forward(is_train=True)
        exe.backward(head)
    np.testing.assert_allclose(from_list.outputs[0].asnumpy(), from_dict.outputs[0].asnumpy())
    for name in names:
        np.testing.assert_allclose(from_list.grad_dict[name].asnumpy(),
                                   from_dict.grad_dict[name].asnumpy(), err_msg=name)


def test_bind_uses_arrays_without_copy():
    x = nd(np.ones((2, 4)))
    exe = fc_symbol().bind(mx.cpu(), {"x": x, "fc_weight": nd(np.ones((3, 4))),
                                      "fc_bias": nd(np.zeros(3))})
    x[:] = 2
    np.testing.assert_allclose(exe.forward()[0].asnumpy(), np.full((2, 3), 8.0))
    assert exe.arg_arrays[0] is x


def test_bind_aux_states_list_and_dict():
    sym = mx.sym.BatchNorm(mx.sym.var("data"), name="bn")
    args = [nd(np.arange(6).reshape(3, 2)), nd(np.ones(2)), nd(np.zeros(2))]
    aux = [nd(np.array([1.0, 2.0])), nd(np.array([4.0, 9.0]))]
    from_list = sym.bind(mx.cpu(), args, aux_states=aux)
    from_dict = sym.bind(mx.cpu(), args, aux_states={"bn_moving_mean": aux[0],
                                                      "bn_moving_var": aux[1]})
    expected = (np.arange(6).reshape(3, 2) - [1.0, 2.0]) / np.sqrt(np.array([4.0, 9.0]) + 1e-3)
    for exe in (from_list, from_dict):
        np.testing.assert_allclose(exe.forward()[0].asnumpy(), expected, **F32)


def test_bind_missing_argument_names_it():
    assert FACTS["bind_missing_arg"]["type"] == "ValueError"
    with pytest.raises(ValueError, match="'fc_weight' is missing"):
        fc_symbol().bind(mx.cpu(), {"x": nd(np.ones((2, 4)))})


def test_bind_missing_aux_state_names_it():
    sym = mx.sym.BatchNorm(mx.sym.var("data"), name="bn")
    args = [nd(np.ones((3, 2))), nd(np.ones(2)), nd(np.zeros(2))]
    with pytest.raises(ValueError, match="'bn_moving_mean' is missing"):
        sym.bind(mx.cpu(), args)


def test_bind_rejects_bad_inputs():
    args = [nd(np.ones((2, 4))), nd(np.ones((3, 4))), nd(np.zeros(3))]
    with pytest.raises(ValueError, match="has 2 arrays but the symbol has 3"):
        fc_symbol().bind(mx.cpu(), args[:2])
    with pytest.raises(TypeError, match="wrap it with mx.nd.array"):
        fc_symbol().bind(mx.cpu(), [np.ones((2, 4))] + args[1:])
    with pytest.raises(ValueError, match="invalid grad_req 'inplace'"):
        fc_symbol().bind(mx.cpu(), args, grad_req="inplace")
    with pytest.raises(ValueError, match="grad_req has 2 entries"):
        fc_symbol().bind(mx.cpu(), args, grad_req=["write", "write"])
    with pytest.raises(ValueError, match="args_grad\\['x'\\] has shape"):
        fc_symbol().bind(mx.cpu(), args, args_grad={"x": nd(np.zeros((3, 4)))})
    with pytest.raises(MXNetError):
        fc_symbol().bind(mx.cpu(), [args[0], nd(np.ones((3, 5))), args[2]])


def test_bind_ignores_extra_dict_entries():
    exe = fc_symbol().bind(mx.cpu(), {"x": nd(np.ones((2, 4))), "fc_weight": nd(np.ones((3, 4))),
                                      "fc_bias": nd(np.zeros(3)), "unused": nd(np.ones(1))})
    assert list(exe.arg_dict) == ["x", "fc_weight", "fc_bias"]


def test_bind_without_args_grad_skips_gradients():
    exe = fc_symbol().bind(mx.cpu(), [nd(np.ones((2, 4))), nd(np.ones((3, 4))), nd(np.zeros(3))])
    assert exe.grad_arrays == [None, None, None]
    exe.forward(is_train=True)
    exe.backward(nd(np.ones((2, 3))))


# ---- simple_bind ----------------------------------------------------------------------------
def test_simple_bind_allocates_zeros():
    exe = mlp_symbol().simple_bind(mx.cpu(), x=(4, 3))
    shapes = {"x": (4, 3), "fc1_weight": (5, 3), "fc1_bias": (5,), "fc2_weight": (2, 5),
              "fc2_bias": (2,)}
    for name, array in exe.arg_dict.items():
        assert array.shape == shapes[name], name
        assert not array.asnumpy().any(), name
    for name, grad in exe.grad_dict.items():
        assert grad.shape == shapes[name], name
    assert [o.shape for o in exe.outputs] == [(4, 2)]


def test_simple_bind_type_dict():
    exe = fc_symbol().simple_bind(mx.cpu(), type_dict={"x": "float64"}, x=(2, 4))
    assert [a.dtype for a in exe.arg_arrays] == [np.float64] * 3
    assert [g.dtype for g in exe.grad_arrays] == [np.float64] * 3
    assert exe.forward()[0].dtype == np.float64


def test_simple_bind_ignores_shapes_of_non_inputs():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4), softmax_label=(2,))
    assert list(exe.arg_dict) == ["x", "fc_weight", "fc_bias"]


def test_simple_bind_errors():
    with pytest.raises(MXNetError, match="cannot infer the shapes of \\['x', 'fc_weight', 'fc_bias'\\]"):
        fc_symbol().simple_bind(mx.cpu())
    with pytest.raises(ValueError, match="'inplace' is not supported"):
        fc_symbol().simple_bind(mx.cpu(), grad_req="inplace", x=(2, 4))
    with pytest.raises(ValueError, match="invalid grad_req 'bogus'"):
        fc_symbol().simple_bind(mx.cpu(), grad_req="bogus", x=(2, 4))
    with pytest.raises(MXNetError, match="storage type 'csr'"):
        fc_symbol().simple_bind(mx.cpu(), stype_dict={"x": "csr"}, x=(2, 4))
    with pytest.raises(TypeError, match="ctx must be a Context"):
        fc_symbol().simple_bind("cpu", x=(2, 4))


def test_simple_bind_shares_arrays_with_shared_exec():
    first = fc_symbol().simple_bind(mx.cpu(), x=(4, 4))
    second = fc_symbol().simple_bind(mx.cpu(), x=(2, 4), shared_exec=first,
                                     shared_arg_names=["fc_weight", "fc_bias"])
    assert second.arg_dict["fc_weight"] is first.arg_dict["fc_weight"]
    assert second.grad_dict["fc_bias"] is first.grad_dict["fc_bias"]
    assert second.arg_dict["x"] is not first.arg_dict["x"]


def test_simple_bind_reuses_shared_buffer():
    buffer = {}
    first = fc_symbol().simple_bind(mx.cpu(), x=(4, 4), shared_buffer=buffer)
    assert buffer["x"] is first.arg_dict["x"]
    second = fc_symbol().simple_bind(mx.cpu(), x=(2, 4), shared_buffer=buffer)
    second.arg_dict["x"][:] = 3
    assert first.arg_dict["x"].asnumpy()[0, 0] == 3


# ---- forward and backward details -----------------------------------------------------------
def test_forward_kwargs_copy_values():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    exe.arg_dict["fc_weight"][:] = 1
    out = exe.forward(x=nd(np.full((2, 4), 2.0)))
    np.testing.assert_allclose(out[0].asnumpy(), np.full((2, 3), 8.0))
    out = exe.forward(x=np.full((2, 4), 3.0))
    np.testing.assert_allclose(out[0].asnumpy(), np.full((2, 3), 12.0))
    np.testing.assert_allclose(exe.arg_dict["x"].asnumpy(), np.full((2, 4), 3.0))


def test_forward_kwargs_errors_match_mxnet_types():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    with pytest.raises(getattr(builtins, FACTS["forward_unknown_kwarg"]["type"]),
                       match="unknown argument 'zz'"):
        exe.forward(zz=nd(np.ones(1)))
    assert FACTS["forward_wrong_shape"]["type"] == "ValueError"
    with pytest.raises(ValueError, match="has shape \\(2, 4\\) but the new value has shape"):
        exe.forward(x=nd(np.ones((3, 4))))


def test_earlier_output_reference_sees_new_values():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    exe.arg_dict["fc_weight"][:] = 1
    before = exe.outputs[0]
    exe.forward(x=nd(np.ones((2, 4))))
    assert float(before.asnumpy()[0, 0]) == FACTS["earlier_output_reference_updated"]
    assert exe.outputs[0] is before


def test_output_dict_names():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    sym = mx.sym.Group([mx.sym.broadcast_add(a, b, name="total"), mx.sym.sin(a, name="wave")])
    exe = sym.simple_bind(mx.cpu(), a=(2,), b=(2,))
    exe.forward(a=np.array([0.5, 1.0]), b=np.array([1.0, 2.0]))
    assert list(exe.output_dict) == ["total_output", "wave_output"]
    np.testing.assert_allclose(exe.output_dict["wave_output"].asnumpy(), np.sin([0.5, 1.0]), **F32)


def test_backward_requires_out_grads_for_plain_heads():
    assert FACTS["backward_without_out_grads"]["type"] == "MXNetError"
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    exe.forward(is_train=True)
    with pytest.raises(MXNetError, match="needs a head gradient.*MakeLoss"):
        exe.backward()


def test_backward_before_forward_raises():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    with pytest.raises(MXNetError, match="call forward"):
        exe.backward(nd(np.ones((2, 3))))


def test_backward_after_predict_forward():
    exe = mlp_symbol().simple_bind(mx.cpu(), x=(2, 3))
    random_args(exe, 9)
    head = nd(np.random.default_rng(10).uniform(-1, 1, (2, 2)))
    exe.forward(is_train=True)
    exe.backward(head)
    expected = {k: g.asnumpy().copy() for k, g in exe.grad_dict.items()}
    exe.forward(is_train=False)
    exe.backward(head)
    for name, grad in exe.grad_dict.items():
        np.testing.assert_allclose(grad.asnumpy(), expected[name], **F32, err_msg=name)


def test_backward_out_grads_errors():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    exe.forward(is_train=True)
    with pytest.raises(ValueError, match="has shape \\(2, 4\\) but the output has shape"):
        exe.backward(nd(np.ones((2, 4))))
    with pytest.raises(ValueError, match="2 out_grads for 1 outputs"):
        exe.backward([nd(np.ones((2, 3)))] * 2)
    with pytest.raises(TypeError, match="must be an NDArray"):
        exe.backward([np.ones((2, 3))])
    with pytest.raises(ValueError, match="not outputs"):
        exe.backward({"other_output": nd(np.ones((2, 3)))})


def test_backward_out_grads_dict():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    random_args(exe, 11)
    exe.forward(is_train=True)
    exe.backward({"fc_output": nd(np.ones((2, 3)))})
    w = exe.arg_dict["fc_weight"].asnumpy()
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), np.ones((2, 3)) @ w, **F32)


# ---- parameters, reshape, eval, monitor ------------------------------------------------------
def test_copy_params_from():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    exe.copy_params_from({"fc_weight": nd(np.full((3, 4), 2.0), "float64"),
                          "fc_bias": np.arange(3)})
    assert exe.arg_dict["fc_weight"].dtype == np.float32
    np.testing.assert_allclose(exe.arg_dict["fc_weight"].asnumpy(), np.full((3, 4), 2.0))
    np.testing.assert_allclose(exe.arg_dict["fc_bias"].asnumpy(), np.arange(3))


def test_copy_params_from_errors():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    assert FACTS["copy_params_extra"]["type"] == "ValueError"
    with pytest.raises(ValueError, match="'zz' is not in the arguments"):
        exe.copy_params_from({"zz": nd(np.ones(1))})
    exe.copy_params_from({"zz": nd(np.ones(1))}, allow_extra_params=True)
    with pytest.raises(ValueError, match="'zz' is not in the auxiliary states"):
        exe.copy_params_from({}, {"zz": nd(np.ones(1))})
    with pytest.raises(ValueError, match="has shape \\(3, 4\\) but the value has shape"):
        exe.copy_params_from({"fc_weight": nd(np.ones((3, 5)))})


def test_copy_params_from_aux():
    sym = mx.sym.BatchNorm(mx.sym.var("data"), name="bn")
    exe = sym.simple_bind(mx.cpu(), data=(2, 3))
    exe.copy_params_from({}, {"bn_moving_var": nd(np.full(3, 4.0))})
    np.testing.assert_allclose(exe.aux_dict["bn_moving_var"].asnumpy(), np.full(3, 4.0))


def test_reshape_down_shares_memory():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    exe.arg_dict["fc_weight"][:] = 1
    small = exe.reshape(x=(1, 4))
    assert [a.shape for a in small.arg_arrays] == [(1, 4), (3, 4), (3,)]
    assert [g.shape for g in small.grad_arrays] == [(1, 4), (3, 4), (3,)]
    assert small.arg_dict["fc_weight"] is exe.arg_dict["fc_weight"]
    small.arg_dict["x"][:] = 7
    shares = float(exe.arg_dict["x"].asnumpy()[0, 0]) == 7.0
    assert shares == FACTS["reshape_down_shares_memory"]
    np.testing.assert_allclose(small.forward()[0].asnumpy(), np.full((1, 3), 28.0))


def test_reshape_rules_match_mxnet():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    assert FACTS["reshape_weight_change"]["raised"]
    with pytest.raises(MXNetError, match="'fc_weight' would change.*partial_shaping=True"):
        exe.reshape(x=(1, 5))
    assert FACTS["reshape_up_size"]["raised"]
    with pytest.raises(MXNetError, match="'x' would grow.*allow_up_sizing=True"):
        exe.reshape(x=(3, 4))
    big = exe.reshape(x=(3, 5), partial_shaping=True, allow_up_sizing=True)
    assert [list(a.shape) for a in big.arg_arrays] == FACTS["reshape_partial_up_shapes"]
    with pytest.raises(MXNetError, match="\\['z'\\] are not inputs"):
        exe.reshape(z=(3, 4))


def test_reshape_up_sized_executor_runs():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(1, 4))
    exe.arg_dict["fc_weight"][:] = 1
    big = exe.reshape(allow_up_sizing=True, x=(5, 4))
    out = big.forward(x=np.ones((5, 4)))[0]
    np.testing.assert_allclose(out.asnumpy(), np.full((5, 3), 4.0))


def test_eval_returns_outputs():
    outputs = fc_symbol().eval(ctx=mx.cpu(), x=nd(np.ones((2, 4))), fc_weight=nd(np.ones((3, 4))),
                               fc_bias=nd(np.ones(3)))
    assert isinstance(outputs, list)
    np.testing.assert_allclose(outputs[0].asnumpy(), np.full((2, 3), 5.0))


def test_eval_missing_argument():
    with pytest.raises(ValueError, match="'fc_weight' is missing"):
        fc_symbol().eval(x=nd(np.ones((2, 4))))


def test_monitor_callback_reports_outputs():
    exe = mlp_symbol().simple_bind(mx.cpu(), x=(2, 3))
    v = random_args(exe, 12)
    seen = []
    exe.set_monitor_callback(lambda name, array: seen.append((name, array.asnumpy())))
    exe.forward()
    assert [name for name, _ in seen] == ["fc1_output", "act_output", "fc2_output"]
    hidden = v["x"] @ v["fc1_weight"].T + v["fc1_bias"]
    np.testing.assert_allclose(seen[0][1], hidden, **F32)
    np.testing.assert_allclose(seen[1][1], np.tanh(hidden), **F32)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), seen[2][1], **F32)


def test_monitor_callback_all_and_removal():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(2, 4))
    seen = []
    exe.set_monitor_callback(lambda name, array: seen.append(name), monitor_all=True)
    exe.forward()
    assert seen == ["fc_data", "fc_weight", "fc_bias", "fc_output"]
    exe.set_monitor_callback(None)
    exe.forward()
    assert len(seen) == 4


def test_duplicate_names_in_dict_raise():
    x = mx.sym.var("x")
    sym = mx.sym.broadcast_add(x, mx.sym.var("x"))
    exe = sym.simple_bind(mx.cpu(), x=(2,))
    assert len(exe.arg_arrays) == 2
    with pytest.raises(MXNetError, match="two entries named 'x'"):
        exe.arg_dict


def test_variable_head_takes_its_out_grad():
    x = mx.sym.var("x")
    sym = mx.sym.Group([mx.sym.MakeLoss(mx.sym.sum(x * x)), x])
    exe = sym.simple_bind(mx.cpu(), x=(2,))
    exe.forward(is_train=True, x=np.array([1.0, 2.0]))
    exe.backward([None, nd(np.ones(2))])
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), [3.0, 5.0], **F32)
    with pytest.raises(MXNetError, match="output 'x' is not a loss output"):
        exe.backward()


def test_reshaped_gradients_land_in_shared_memory():
    exe = fc_symbol().simple_bind(mx.cpu(), x=(4, 4))
    exe.arg_dict["fc_weight"][:] = 1
    small = exe.reshape(x=(2, 4))
    small.forward(is_train=True, x=np.full((2, 4), 2.0))
    small.backward(nd(np.ones((2, 3))))
    np.testing.assert_allclose(small.grad_dict["x"].asnumpy(), np.full((2, 4), 3.0))
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy()[:2], np.full((2, 4), 3.0))
    np.testing.assert_allclose(exe.grad_dict["fc_weight"].asnumpy(), np.full((3, 4), 4.0))


def test_debug_str_and_optimized_symbol():
    exe = mlp_symbol().simple_bind(mx.cpu(), x=(2, 3))
    lines = exe.debug_str().splitlines()
    assert lines[0] == "Variable:x"
    assert "Op:FullyConnected, Name=fc1, Inputs=[x, fc1_weight, fc1_bias]" in lines
    assert "Op:Activation, Name=act, Inputs=[fc1_output]" in lines
    optimized = exe.get_optimized_symbol()
    assert optimized.list_arguments() == mlp_symbol().list_arguments()
    assert optimized.tojson() == mlp_symbol().tojson()


def test_executor_module_exports():
    assert mx.executor.Executor is type(fc_symbol().simple_bind(mx.cpu(), x=(1, 4)))


# ---- MultiThreadExecutor ----------------------------------------------------------------------
def affine_symbol():
    data = mx.sym.Variable("data")
    return data.reshape(shape=(1, -1)) * mx.sym.Variable("weight") + mx.sym.Variable("bias")


def test_multithread_executor_example():
    output = affine_symbol()
    data = mx.nd.array([[1, 2, 3, 4, 5]])
    weight = mx.nd.array([0.5, 1, 1.5, 2, 2.5])
    bias = mx.nd.array([0])
    exe = mx.executor.MultiThreadExecutor(max_request=10)
    exe.reset()
    exe.add_fetch(output)
    exe.fetch_async(output, [data, weight, bias])
    results = exe.getall()
    assert len(results) == 1
    assert len(results[0]) == 1
    assert results[0][0].shape == (1, 5)
    np.testing.assert_allclose(results[0][0].asnumpy(), [[0.5, 2, 4.5, 8, 12.5]])
    assert exe.getall() == []


def test_multithread_executor_errors():
    output = affine_symbol()
    exe = mx.executor.MultiThreadExecutor()
    args = [nd([[1.0, 2.0]]), nd([1.0, 1.0]), nd([0.0])]
    with pytest.raises(MXNetError, match="call add_fetch"):
        exe.fetch_async(output, args)
    exe.add_fetch(output)
    with pytest.raises(ValueError, match="got 2 arrays but the symbol has 3 arguments"):
        exe.fetch_async(output, args[:2])
    with pytest.raises(TypeError, match="'bias' must be an NDArray"):
        exe.fetch_async(output, args[:2] + [np.zeros(1)])
    with pytest.raises(TypeError, match="expected a Symbol"):
        exe.add_fetch("data")
    with pytest.raises(ValueError, match="positive int"):
        mx.executor.MultiThreadExecutor(max_request=0)
    exe.reset()
    with pytest.raises(MXNetError, match="call add_fetch"):
        exe.fetch_async(output, args)


def test_multithread_executor_bounds_requests_in_flight():
    # A 200x200 matrix power chain keeps each request busy for a while.
    a = mx.sym.var("a")
    product = a
    for _ in range(8):
        product = mx.sym.dot(product, a)
    exe = mx.executor.MultiThreadExecutor(max_request=3)
    exe.add_fetch(product)
    matrices = [np.eye(200, dtype=np.float32) * (1.0 + 0.01 * k) for k in range(12)]
    in_flight = []
    for m in matrices:
        exe.fetch_async(product, [nd(m)])
        in_flight.append(exe.num_in_flight)
    assert max(in_flight) == 3
    results = exe.getall()
    assert exe.num_in_flight == 0
    assert len(results) == 12
    for k, (outputs,) in enumerate(results):
        np.testing.assert_allclose(np.diag(outputs.asnumpy()), np.full(200, (1.0 + 0.01 * k) ** 9),
                                   rtol=1e-5, err_msg=f"request {k}")


def test_multithread_executor_many_threads_keep_order():
    output = affine_symbol()
    exe = mx.executor.MultiThreadExecutor(max_request=4)
    exe.add_fetch(output)
    weight, bias = nd([1.0, 1.0, 1.0]), nd([0.0])

    def worker(thread_id):
        for k in range(10):
            exe.fetch_async(output, [nd([[thread_id, k, thread_id * 100 + k]]), weight, bias])

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = exe.getall()
    assert len(results) == 40
    order = {}
    for (outputs,) in results:
        thread_id, k, tag = outputs.asnumpy()[0]
        assert tag == thread_id * 100 + k
        order.setdefault(int(thread_id), []).append(int(k))
    assert order == {t: list(range(10)) for t in range(4)}


def test_multithread_executor_several_symbols_with_aux():
    exe = mx.executor.MultiThreadExecutor(max_request=2)
    affine = affine_symbol()
    bn = mx.sym.BatchNorm(mx.sym.var("data"), name="bn")
    exe.add_fetch(affine)
    exe.add_fetch(bn)
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    with pytest.raises(ValueError, match="0 auxiliary states but the symbol has 2"):
        exe.fetch_async(bn, [nd(x), nd(np.ones(2)), nd(np.zeros(2))])
    exe.fetch_async(bn, [nd(x), nd(np.ones(2)), nd(np.zeros(2))],
                    aux_states=[nd(np.array([1.0, 2.0])), nd(np.array([4.0, 9.0]))])
    exe.fetch_async(affine, [nd([[1.0, 2.0]]), nd([2.0, 2.0]), nd([1.0])])
    bn_out, affine_out = exe.getall()
    expected = (x - [1.0, 2.0]) / np.sqrt(np.array([4.0, 9.0]) + 1e-3)
    np.testing.assert_allclose(bn_out[0].asnumpy(), expected, **F32)
    np.testing.assert_allclose(affine_out[0].asnumpy(), [[3.0, 5.0]])


@pytest.mark.parametrize("make", [
    lambda d: mx.sym.transpose(d), lambda d: mx.sym.reshape(d, shape=(-1,)), lambda d: mx.sym.flatten(d),
    lambda d: mx.sym.expand_dims(d, axis=0), lambda d: mx.sym.broadcast_to(mx.sym.reshape(d, shape=(1, 6)), shape=(2, 6)),
])
def test_executor_outputs_do_not_share_the_arguments(make):
    # MXNet 1.9.1: writing an argument after forward leaves the outputs alone, and the
    # outputs are writable arrays of their own.
    data = mx.nd.ones((2, 3))
    exe = make(mx.sym.var("data")).bind(mx.cpu(), {"data": data})
    out = exe.forward()[0]
    exe.arg_dict["data"][:] = 0
    assert out.sum().asscalar() == out.size
    out[:] = 5
    assert exe.arg_dict["data"].sum().asscalar() == 0
