"""mx.sym graph building, JSON and shape inference, checked against fixtures that MXNet 1.9.1
wrote (tests/fixtures/make_symbol_fixtures.py)."""
import copy
import json
import os
import pickle
import subprocess
import warnings

import numpy as np
import pytest

import mxnet as mx
from mxnet.base import MXNetError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "symbol")
REFERENCE_PYTHON = "/work/refenv/bin/python"


def _reset_names():
    mx.sym.symbol._name_counters.clear()


def build_mlp():
    data = mx.sym.var("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=8, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def build_conv_bn():
    data = mx.sym.var("data")
    conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, pad=(1, 1), name="conv")
    bn = mx.sym.BatchNorm(conv, fix_gamma=False, name="bn")
    return mx.sym.Activation(bn, act_type="relu", name="act")


def build_group_scalar():
    x = mx.sym.var("x", shape=(2, 3), lr_mult=2.0, dtype="float32")
    y = mx.sym.var("y")
    s = mx.sym.broadcast_add(x * 2, y, name="sum")
    e = mx.sym.Embedding(mx.sym.var("idx"), input_dim=10, output_dim=3, name="emb")
    return mx.sym.Group([s, e, mx.sym.FullyConnected(x, num_hidden=4, no_bias=True, name="fc")])


def build_mixed():
    """A graph with the features the fixtures lack: split outputs, Dropout, scalar and
    broadcasting arithmetic, fluent methods, composition and a Group."""
    data = mx.sym.var("data", shape=(2, 6), init="zeros")
    parts = mx.sym.split(data, num_outputs=2, axis=1, name="sp")
    left = mx.sym.Dropout(parts[0], p=0.3, name="drop")
    right = (2 - parts["sp_output1"]) ** 2 / 3
    mixed = (left + right).sum(axis=1, keepdims=True)
    head = mx.sym.FullyConnected(mx.sym.var("feat"), num_hidden=2, name="head")
    return mx.sym.Group([head(feat=mixed.reshape((2, -1))), -left > 0])


GRAPHS = {"mlp": build_mlp, "conv_bn": build_conv_bn, "group_scalar": build_group_scalar}
# Fixtures written by MXNet 1.9.1: the graphs above plus a hybridized Gluon net's export.
FIXTURE_NAMES = sorted(GRAPHS) + ["gluon_export", "legacy_0800"]


def read_fixture(name):
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        text = f.read()
    with open(os.path.join(FIXTURES, name + ".expect.json")) as f:
        expect = json.load(f)
    return text, expect


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_tojson_matches_reference(name):
    _reset_names()
    ours = json.loads(GRAPHS[name]().tojson())
    text, _ = read_fixture(name)
    assert_same_graph(ours, json.loads(text))


def assert_same_graph(ours, theirs):
    assert len(ours["nodes"]) == len(theirs["nodes"])
    for a, b in zip(ours["nodes"], theirs["nodes"]):
        assert a["op"] == b["op"]
        assert a["name"] == b["name"]
        assert a.get("attrs", {}) == b.get("attrs", {}), a["name"]
        assert a["inputs"] == b["inputs"], a["name"]
    assert ours["arg_nodes"] == theirs["arg_nodes"]
    assert ours["node_row_ptr"] == theirs["node_row_ptr"]
    assert ours["heads"] == theirs["heads"]
    assert ours["attrs"] == theirs["attrs"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_reference_json_resaves_unchanged(name):
    text, _ = read_fixture(name)
    assert_same_graph(json.loads(mx.sym.load_json(text).tojson()), json.loads(text))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_reference_json_loads(name):
    text, expect = read_fixture(name)
    sym = mx.sym.load_json(text)
    assert sym.list_arguments() == expect["arguments"]
    assert sym.list_outputs() == expect["outputs"]
    assert sym.list_auxiliary_states() == expect["auxiliary_states"]
    assert sym.list_inputs() == expect["inputs"]
    assert sym.get_internals().list_outputs() == expect["internals"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_infer_shape_matches_reference(name):
    text, expect = read_fixture(name)
    shapes = {k: tuple(v) for k, v in expect["input_shapes"].items()}
    symbols = [mx.sym.load_json(text)]
    if name in GRAPHS:
        symbols.append(GRAPHS[name]())
    for sym in symbols:
        arg_shapes, out_shapes, aux_shapes = sym.infer_shape(**shapes)
        assert [list(s) for s in arg_shapes] == expect["arg_shapes"]
        assert [list(s) for s in out_shapes] == expect["out_shapes"]
        assert [list(s) for s in aux_shapes] == expect["aux_shapes"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_infer_type_matches_reference(name):
    text, expect = read_fixture(name)
    types = {k: expect["input_dtype"] for k in expect["input_shapes"]}
    symbols = [mx.sym.load_json(text)]
    if name in GRAPHS:
        symbols.append(GRAPHS[name]())
    for sym in symbols:
        arg_types, out_types, aux_types = sym.infer_type(**types)
        assert [np.dtype(t).name for t in arg_types] == expect["arg_types"]
        assert [np.dtype(t).name for t in out_types] == expect["out_types"]
        assert [np.dtype(t).name for t in aux_types] == expect["aux_types"]


def test_save_load_roundtrip(tmp_path):
    sym = build_conv_bn()
    path = str(tmp_path / "net-symbol.json")
    sym.save(path)
    loaded = mx.sym.load(path)
    assert loaded.tojson() == sym.tojson()
    assert loaded.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]


@pytest.mark.skipif(not os.path.exists(REFERENCE_PYTHON), reason="reference MXNet 1.9.1 not installed")
@pytest.mark.parametrize("name", sorted(GRAPHS) + ["mixed"])
def test_our_json_loads_in_reference(name, tmp_path):
    _reset_names()
    sym = build_mixed() if name == "mixed" else GRAPHS[name]()
    path = tmp_path / "ours.json"
    path.write_text(sym.tojson())
    script = ("import json, sys, mxnet as mx\n"
              "s = mx.sym.load(sys.argv[1])\n"
              "print(json.dumps([s.list_arguments(), s.list_outputs(), s.list_auxiliary_states(),\n"
              "                  json.loads(s.tojson()), s.infer_shape_partial()]))\n")
    # Without PYTHONPATH, so the reference interpreter imports MXNet 1.9.1, not this package.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([REFERENCE_PYTHON, "-c", script, str(path)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    arguments, outputs, aux_states, resaved, shapes = json.loads(done.stdout.strip().splitlines()[-1])
    assert arguments == sym.list_arguments()
    assert outputs == sym.list_outputs()
    assert aux_states == sym.list_auxiliary_states()
    # MXNet re-saves our file unchanged: same nodes, attributes, versions and row pointers.
    assert_same_graph(json.loads(sym.tojson()), resaved)
    # We infer at least the shapes MXNet infers and agree wherever MXNet has one. MXNet leaves an
    # operand of an explicit broadcast_* op unknown where we apply the elemwise rule.
    ours = sym.infer_shape_partial()
    for our_shapes, their_shapes in zip(ours, shapes):
        assert len(our_shapes) == len(their_shapes)
        for our_shape, their_shape in zip(our_shapes, their_shapes):
            if their_shape:
                assert list(our_shape) == their_shape


def test_load_legacy_keys():
    legacy = json.dumps({
        "nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "null", "name": "fc_weight", "attr": {"lr_mult": "0.5"}, "inputs": []},
            {"op": "null", "name": "fc_bias", "inputs": []},
            {"op": "FullyConnected", "name": "fc", "param": {"num_hidden": "4"},
             "inputs": [[0, 0], [1, 0], [2, 0]], "backward_source_id": -1},
        ],
        "arg_nodes": [0, 1, 2],
        "heads": [[3, 0]],
    })
    sym = mx.sym.load_json(legacy)
    assert sym.list_arguments() == ["data", "fc_weight", "fc_bias"]
    assert sym.get_internals()["fc_weight"].attr("__lr_mult__") == "0.5"
    assert sym.attr("num_hidden") == "4"
    _, out_shapes, _ = sym.infer_shape(data=(2, 5))
    assert out_shapes == [(2, 4)]


def test_load_0800_file_upgrades_like_reference():
    with open(os.path.join(FIXTURES, "legacy_0800.input.json")) as f:
        legacy = f.read()
    text, expect = read_fixture("legacy_0800")
    sym = mx.sym.load_json(legacy)
    assert_same_graph(json.loads(sym.tojson()), json.loads(text))
    assert sym.list_arguments() == expect["arguments"]
    assert sym.list_auxiliary_states() == expect["auxiliary_states"]
    arg_shapes, out_shapes, aux_shapes = sym.infer_shape(data=(2, 5))
    assert [list(x) for x in arg_shapes] == expect["arg_shapes"]
    assert [list(x) for x in aux_shapes] == expect["aux_shapes"]


def test_variable_shape_takes_numpy_integers():
    v = mx.sym.var("a", shape=(np.int64(2), np.int32(3)))
    assert v.attr("__shape__") == "(2, 3)"
    assert v.infer_shape()[0] == [(2, 3)]
    with pytest.raises(TypeError, match="dimensions must be integers"):
        mx.sym.var("a", shape=(2.5, 3))


def test_variable_hidden_attrs():
    v = mx.sym.var("w", shape=(3, 4), lr_mult=0.1, wd_mult=0.0, dtype=np.float16, init="zeros",
                   stype="row_sparse", __layout__="NC")
    assert v.list_attr() == {"__shape__": "(3, 4)", "__lr_mult__": "0.1", "__wd_mult__": "0.0",
                             "__dtype__": "2", "__init__": "zeros", "__storage_type__": "1",
                             "__layout__": "NC", "lr_mult": "0.1", "wd_mult": "0.0"}
    assert v.name == "w"
    assert v.list_outputs() == ["w"]
    with pytest.raises(ValueError, match="__key__"):
        mx.sym.var("w", layout="NC")
    # MXNet 1.9.1 stores an initializer object as its JSON dump.
    xavier = mx.sym.var("w", init=mx.init.Xavier())
    assert xavier.attr("__init__") == \
        '["xavier", {"rnd_type": "uniform", "factor_type": "avg", "magnitude": 3}]'



def test_auto_names_count_per_hint():
    _reset_names()
    data = mx.sym.var("data")
    assert mx.sym.FullyConnected(data, num_hidden=2).name == "fullyconnected0"
    assert mx.sym.FullyConnected(data, num_hidden=2).name == "fullyconnected1"
    assert (data * 2).name == "_mulscalar0"
    assert mx.sym.reshape(data, shape=(1, -1)).name == "reshape0"
    fc = mx.sym.FullyConnected(num_hidden=2)
    assert fc.list_arguments() == ["fullyconnected2_data", "fullyconnected2_weight",
                                   "fullyconnected2_bias"]


def test_arithmetic_records_ops():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    cases = [
        (a + b, "broadcast_add", None), (a - b, "broadcast_sub", None),
        (a * b, "broadcast_mul", None), (a / b, "broadcast_div", None),
        (a > b, "broadcast_greater", None), (a <= b, "broadcast_lesser_equal", None),
        (a + 1, "_plus_scalar", "1"), (2 - a, "_rminus_scalar", "2"),
        (a ** 2, "_power_scalar", "2"), (-a, "_mul_scalar", "-1.0"),
        (1 / a, "_rdiv_scalar", "1"), (a == 3, "_equal_scalar", "3"),
    ]
    for sym, op, scalar in cases:
        node = json.loads(sym.tojson())["nodes"][-1]
        assert node["op"] == op
        assert node.get("attrs", {}).get("scalar") == scalar, op


def test_broadcast_add_infers_broadcast_shape():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    _, out_shapes, _ = (a + b).infer_shape(a=(2, 3), b=(1, 3))
    assert out_shapes == [(2, 3)]


def test_loaded_elemwise_add_keeps_same_shape_rule():
    graph = json.dumps({
        "nodes": [{"op": "null", "name": "a", "inputs": []},
                  {"op": "null", "name": "b", "inputs": []},
                  {"op": "elemwise_add", "name": "_plus0", "inputs": [[0, 0, 0], [1, 0, 0]]}],
        "arg_nodes": [0, 1], "node_row_ptr": [0, 1, 2, 3], "heads": [[2, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10901]}})
    sym = mx.sym.load_json(graph)
    assert sym.infer_shape(a=(2, 3), b=(2, 3))[1] == [(2, 3)]
    with pytest.raises(MXNetError, match="elemwise_add"):
        sym.infer_shape(a=(2, 3), b=(1, 3))


def test_methods_reshape_transpose_flatten_slice():
    x = mx.sym.var("x")
    cases = [
        (x.reshape((3, -1)), (3, 8)),
        (x.transpose((2, 0, 1)), (4, 2, 3)),
        (x.flatten(), (2, 12)),
        (x.slice(begin=(0, 1, 0), end=(2, 3, 2)), (2, 2, 2)),
        (x.expand_dims(axis=0), (1, 2, 3, 4)),
    ]
    for sym, expected in cases:
        assert sym.infer_shape(x=(2, 3, 4))[1] == [expected], sym.name


def load_op_cases():
    with open(os.path.join(FIXTURES, "op_outputs.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("case", load_op_cases(), ids=lambda c: f"{c['op']}-{sorted(c['kwargs'])}")
def test_single_op_graph_matches_reference(case):
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}
    sym = getattr(mx.sym, case["op"])(mx.sym.var("d"), name="n", **kwargs)
    graph = json.loads(sym.tojson())
    assert graph["node_row_ptr"] == case["node_row_ptr"]
    assert graph["nodes"] == case["nodes"]
    assert sym.list_arguments() == case["arguments"]
    assert sym.list_outputs() == case["outputs"]
    assert sym.list_auxiliary_states() == case["auxiliary_states"]


def load_creation_cases():
    with open(os.path.join(FIXTURES, "creation_ops.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("case", load_creation_cases(), ids=lambda c: c["function"])
def test_creation_ops_match_reference(case):
    _reset_names()
    args = [tuple(a) if isinstance(a, list) else a for a in case["args"]]
    sym = getattr(mx.sym, case["function"])(*args, **case["kwargs"])
    assert json.loads(sym.tojson())["nodes"][-1] == case["node"]
    assert sym.infer_shape()[1] == [tuple(case["out_shape"])]
    assert [np.dtype(t).name for t in sym.infer_type()[1]] == [case["out_type"]]


def test_variadic_ops_record_num_args():
    # Expected attributes and names are what MXNet 1.9.1 records for the same calls.
    _reset_names()
    a, b = mx.sym.var("a"), mx.sym.var("b")
    cases = [
        (mx.sym.Concat(a, b, dim=1), "Concat", "concat0", {"dim": "1", "num_args": "2"}, (2, 6)),
        (mx.sym.concat(a, b), "Concat", "concat1", {"num_args": "2"}, (2, 6)),
        (mx.sym.add_n(a, b), "add_n", "add_n0", {"num_args": "2"}, (2, 3)),
        (mx.sym.stack(a, b, axis=0), "stack", "stack0", {"axis": "0", "num_args": "2"}, (2, 2, 3)),
        (mx.sym.ElementWiseSum(a, b), "add_n", "elementwisesum0", {"num_args": "2"}, (2, 3)),
    ]
    for sym, op, name, attrs, shape in cases:
        node = json.loads(sym.tojson())["nodes"][-1]
        assert node["op"] == op
        assert node["name"] == name
        assert node["attrs"] == attrs
        assert sym.infer_shape(a=(2, 3), b=(2, 3))[1] == [shape]


def test_multi_output_names_and_getitem():
    data = mx.sym.var("data")
    parts = mx.sym.split(data, num_outputs=3, name="sp")
    assert parts.list_outputs() == ["sp_output0", "sp_output1", "sp_output2"]
    assert len(parts) == 3
    assert parts[1].list_outputs() == ["sp_output1"]
    assert parts["sp_output2"].list_outputs() == ["sp_output2"]
    with pytest.raises(ValueError, match="no output named"):
        parts["nope"]
    with pytest.raises(IndexError):
        parts[3]
    drop = mx.sym.Dropout(data, p=0.5, name="drop")
    graph = json.loads(drop.tojson())
    assert graph["node_row_ptr"] == [0, 1, 3]
    assert drop.list_outputs() == ["drop_output"]
    bn = mx.sym.BatchNorm(data, output_mean_var=True, name="bn")
    assert bn.list_outputs() == ["bn_output", "bn_mean", "bn_var"]


def test_compose_with_keyword_inputs():
    data = mx.sym.var("data")
    net = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    pre = mx.sym.Activation(mx.sym.var("x"), act_type="tanh", name="pre")
    composed = net(data=pre)
    assert composed.list_arguments() == ["x", "fc_weight", "fc_bias"]
    assert net.list_arguments() == ["data", "fc_weight", "fc_bias"]
    assert composed.infer_shape(x=(2, 7))[0] == [(2, 7), (4, 7), (4,)]
    with pytest.raises(TypeError, match="single-output Symbol"):
        net(data=3)


def test_compose_unknown_argument_rejected():
    net = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=4, name="fc")
    with pytest.raises(MXNetError, match="argument 'zzz' not found"):
        net(zzz=mx.sym.var("x"))


def test_copy_deepcopy_and_pickle():
    net = build_conv_bn()
    for clone in (copy.copy(net), copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert clone.tojson() == net.tojson()
        assert clone.list_auxiliary_states() == net.list_auxiliary_states()


def test_sum_infers_missing_operand_shape():
    # MXNet 1.9.1 gives b the shape of a for ``a + b`` (checked with the reference build).
    a, b = mx.sym.var("a"), mx.sym.var("b")
    assert (a + b).infer_shape_partial(a=(2, 3)) == ([(2, 3), (2, 3)], [(2, 3)], [])
    assert (a * b).infer_shape(b=(4,)) == ([(4,), (4,)], [(4,)], [])


def test_get_internals_graft_new_head():
    _reset_names()
    text, _ = read_fixture("mlp")
    net = mx.sym.load_json(text)
    internals = net.get_internals()
    features = internals["relu1_output"]
    head = mx.sym.FullyConnected(features, num_hidden=10, name="new_fc")
    new_net = mx.sym.SoftmaxOutput(head, name="softmax")
    assert new_net.list_arguments() == ["data", "fc1_weight", "fc1_bias", "new_fc_weight",
                                        "new_fc_bias", "softmax_label"]
    arg_shapes, out_shapes, _ = new_net.infer_shape(data=(5, 6))
    assert arg_shapes == [(5, 6), (8, 6), (8,), (10, 8), (10,), (5,)]
    assert out_shapes == [(5, 10)]
    assert net.get_children().list_outputs() == ["fc2_output", "softmax_label"]


def test_attr_and_attr_dict():
    data = mx.sym.var("data", lr_mult=2)
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    assert fc.attr("num_hidden") == "3"
    assert fc.attr("missing") is None
    d = fc.attr_dict()
    assert d["data"] == {"__lr_mult__": "2"}
    assert d["fc"] == {"num_hidden": "3"}


def test_infer_shape_missing_shapes():
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fc.infer_shape() == (None, None, None)
    assert any("data" in str(w.message) for w in caught)
    # MXNet 1.9.1 returns empty shapes for what it cannot infer.
    assert fc.infer_shape_partial() == ([(), (), ()], [()], [])
    with pytest.raises(MXNetError, match="not an input"):
        fc.infer_shape(dat=(2, 3))


def test_infer_type():
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    assert fc.infer_type(data="float32") == ([np.float32] * 3, [np.float32], [])
    cast = mx.sym.Cast(fc, dtype="float16")
    assert cast.infer_type(data="float32")[1] == [np.float16]
    with pytest.warns(UserWarning, match="data"):
        assert fc.infer_type() == (None, None, None)


def test_infer_type_declared_dtype_conflict():
    # MXNet 1.9.1 also rejects float16 data for this export: its weight declares float32.
    text, _ = read_fixture("gluon_export")
    with pytest.raises(MXNetError, match="FullyConnected"):
        mx.sym.load_json(text).infer_type(data="float16")


def test_load_json_errors():
    with pytest.raises(MXNetError, match="invalid JSON"):
        mx.sym.load_json("{not json")
    with pytest.raises(MXNetError, match="'nodes' and 'heads'"):
        mx.sym.load_json("[1, 2]")
    bad_op = json.dumps({"nodes": [{"op": "NoSuchOp", "name": "n", "inputs": []}],
                         "heads": [[0, 0, 0]]})
    with pytest.raises(MXNetError, match="unknown operator 'NoSuchOp'"):
        mx.sym.load_json(bad_op)
    bad_input = json.dumps({"nodes": [{"op": "relu", "name": "r", "inputs": [[5, 0, 0]]}],
                            "heads": [[0, 0, 0]]})
    with pytest.raises(MXNetError, match="invalid input entry"):
        mx.sym.load_json(bad_input)


def test_unknown_input_name_rejected():
    with pytest.raises(TypeError, match="unknown input"):
        mx.sym.FullyConnected(mx.sym.var("d"), num_hidden=2, weights=mx.sym.var("w"))


@pytest.mark.parametrize('name, fn', [('maximum', np.maximum), ('minimum', np.minimum),
                                      ('power', np.power), ('hypot', np.hypot)])
def test_numpy_style_binary_functions(name, fn):
    a_np = np.array([[0.5, 2.0, 3.0]], dtype=np.float32)
    b_np = np.array([[1.0], [2.5]], dtype=np.float32)
    a, b = mx.sym.var('a'), mx.sym.var('b')
    op = getattr(mx.sym, name)
    both = op(a, b).eval(a=mx.nd.array(a_np), b=mx.nd.array(b_np))[0].asnumpy()
    np.testing.assert_allclose(both, fn(a_np, b_np), rtol=1e-6)
    right = op(a, 1.5).eval(a=mx.nd.array(a_np))[0].asnumpy()
    np.testing.assert_allclose(right, fn(a_np, np.float32(1.5)), rtol=1e-6)
    left = op(1.5, a).eval(a=mx.nd.array(a_np))[0].asnumpy()
    np.testing.assert_allclose(left, fn(np.float32(1.5), a_np), rtol=1e-6)
    with pytest.raises(TypeError, match='Symbol'):
        op(1.0, 2.0)


def test_positional_none_is_an_absent_input():
    x, w = mx.sym.var("x"), mx.sym.var("w")
    fc = mx.sym.FullyConnected(x, w, None, 2, True)
    assert fc.list_arguments() == ["x", "w"]
    assert fc.infer_shape(x=(3, 4))[1] == [(3, 2)]
