"""sort, argsort and topk: the cases recorded from MXNet 1.9.1, numpy's stable sort on larger
arrays, NaN and ties, gradients, and errors."""
import numpy as np
import pytest

import mxnet as mx
from mxnet import nd
from fixtures import load_op_case, op_case_names
from op_grad_check import run_fixture_case

RNG = np.random.default_rng(5)

ORDERING_CASES = [n for n in op_case_names() if n.startswith(("sort_", "argsort_", "topk_"))]


def test_fixture_cases_exist():
    assert len(ORDERING_CASES) >= 15


@pytest.mark.parametrize("name", ORDERING_CASES)
def test_ordering_op_matches_mxnet_fixture(name):
    run_fixture_case(load_op_case(name))


@pytest.mark.parametrize("shape, axis", [((700,), 0), ((30, 41), 1), ((30, 41), 0), ((5, 6, 7), 1),
                                         ((300, 300), -1), ((300, 300), 0)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_sort_and_argsort_match_numpy_stable_sort(shape, axis, dtype):
    # Few distinct values, so that there are many ties and their order is checked too.
    x = RNG.integers(-20, 20, size=shape).astype(dtype)
    a = nd.array(x, dtype=dtype)
    np.testing.assert_array_equal(nd.sort(a, axis=axis).asnumpy(), np.sort(x, axis=axis))
    np.testing.assert_array_equal(nd.argsort(a, axis=axis).asnumpy(),
                                  np.argsort(x, axis=axis, kind="stable"))
    np.testing.assert_array_equal(nd.argsort(a, axis=axis, is_ascend=False).asnumpy(),
                                  np.argsort(-x, axis=axis, kind="stable"))


@pytest.mark.parametrize("k", [1, 3, 17])
def test_topk_matches_numpy(k):
    x = RNG.standard_normal((40, 60)).astype(np.float32)
    order = np.argsort(-x, axis=1, kind="stable")[:, :k]
    values, indices = nd.topk(nd.array(x), k=k, ret_typ="both")
    np.testing.assert_array_equal(indices.asnumpy(), order)
    np.testing.assert_array_equal(values.asnumpy(), np.take_along_axis(x, order, 1))
    mask = nd.topk(nd.array(x), k=k, ret_typ="mask").asnumpy()
    expected = np.zeros_like(x)
    np.put_along_axis(expected, order, 1, 1)
    np.testing.assert_array_equal(mask, expected)


def test_ties_keep_their_input_order_beyond_sixteen_elements():
    x = nd.ones((20,))
    np.testing.assert_array_equal(nd.argsort(x).asnumpy(), np.arange(20))
    np.testing.assert_array_equal(nd.argsort(x, is_ascend=False).asnumpy(), np.arange(20))
    np.testing.assert_array_equal(nd.topk(x, k=5).asnumpy(), np.arange(5))


def test_nan_sorts_above_every_number():
    x = nd.array([2.0, np.nan, -np.inf, 1.0, np.inf])
    np.testing.assert_array_equal(nd.sort(x).asnumpy(), [-np.inf, 1.0, 2.0, np.inf, np.nan])
    np.testing.assert_array_equal(nd.argsort(x).asnumpy(), [2, 3, 0, 4, 1])
    np.testing.assert_array_equal(nd.topk(x, k=2).asnumpy(), [1, 4])


def test_sort_gradient_goes_back_to_each_position():
    # MXNet 1.9.1 fails here (its backward cannot parse the default axis).
    x = RNG.standard_normal((4, 7)).astype(np.float32)
    head = RNG.standard_normal((4, 7)).astype(np.float32)
    a = nd.array(x)
    a.attach_grad()
    with mx.autograd.record():
        y = nd.sort(a, is_ascend=False)
    y.backward(nd.array(head))
    expected = np.zeros_like(x)
    np.put_along_axis(expected, np.argsort(-x, axis=1, kind="stable"), head, 1)
    np.testing.assert_array_equal(a.grad.asnumpy(), expected)


def test_topk_indices_have_zero_gradient():
    a = nd.array([[3.0, 1.0, 2.0]])
    a.attach_grad()
    with mx.autograd.record():
        y = nd.topk(a, k=2) * 1.0
    y.backward()
    np.testing.assert_array_equal(a.grad.asnumpy(), [[0, 0, 0]])


def test_large_input_runs_lanes_in_parallel():
    # 256 lanes of 1024: above the size at which lanes are sorted across the pool.
    x = RNG.standard_normal((256, 1024)).astype(np.float32)
    np.testing.assert_array_equal(nd.sort(nd.array(x)).asnumpy(), np.sort(x, axis=1))
    got = nd.topk(nd.array(x), axis=0, k=4, ret_typ="value").asnumpy()
    np.testing.assert_array_equal(got, -np.sort(-x, axis=0)[:4])


def test_methods_and_flattened_axis():
    x = nd.array([[3.0, 1.0], [0.0, 2.0]])
    np.testing.assert_array_equal(x.sort(axis=None).asnumpy(), [0, 1, 2, 3])
    np.testing.assert_array_equal(x.argsort().asnumpy(), [[1, 0], [0, 1]])
    np.testing.assert_array_equal(x.topk(axis=None, k=2).asnumpy(), [0, 3])


def test_symbol_topk_both_has_two_outputs():
    s = mx.sym.topk(mx.sym.var("a"), k=2, ret_typ="both")
    assert len(s.list_outputs()) == 2
    _, out_shapes, _ = s.infer_shape(a=(3, 5))
    assert out_shapes == [(3, 2), (3, 2)]
    flat = mx.sym.sort(mx.sym.var("a"), axis=None)
    assert flat.infer_shape(a=(3, 5))[1] == [(15,)]


def test_negative_k_keeps_the_whole_axis():
    # MXNet: any k < 1 sorts the whole axis.
    x = nd.array([[3.0, 1.0, 2.0]])
    np.testing.assert_array_equal(nd.topk(x, k=-1, ret_typ="value").asnumpy(), [[3, 2, 1]])


def test_index_dtype_only_checked_for_returned_indices():
    x = nd.array(np.arange(300.0))
    np.testing.assert_array_equal(nd.topk(x, k=3, ret_typ="value", dtype="uint8").asnumpy(), [299, 298, 297])
    assert nd.topk(x, k=3, ret_typ="mask", dtype="uint8").asnumpy().sum() == 3


def test_symbol_infer_type_gives_the_index_dtype():
    data, b = mx.sym.var("data"), mx.sym.var("b")
    _, out_types, _ = (mx.sym.argsort(data, dtype="int32") + b).infer_type(data="float32", b="int32")
    assert out_types == [np.int32]
    both = mx.sym.topk(data, k=2, ret_typ="both", dtype="int64")
    assert both.infer_type(data="float32")[1] == [np.float32, np.int64]
    assert mx.sym.sort(data).infer_type(data="float64")[1] == [np.float64]


def test_sort_and_topk_of_float16():
    x = np.array([[3.0, 1.0, 2.0, 0.5]], dtype=np.float16)
    got = nd.sort(nd.array(x, dtype="float16"))
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.asnumpy(), np.sort(x))
    np.testing.assert_array_equal(nd.topk(nd.array(x, dtype="float16"), k=2).asnumpy(), [[0, 2]])


def test_out_with_too_few_arrays_raises():
    x = nd.array([[3.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="out= has 1 array"):
        nd.topk(x, ret_typ="both", out=nd.zeros((1, 1)))


@pytest.mark.parametrize("call, error, match", [
    (lambda x: nd.topk(x, k=5), ValueError, "k=5 is larger than the 4 elements"),
    (lambda x: nd.topk(x, ret_typ="foo"), ValueError, "invalid ret_typ 'foo'"),
    (lambda x: nd.sort(x, axis=2), ValueError, "axis 2 is out of range"),
    (lambda x: nd.argsort(x, dtype="int8"), TypeError, "cannot hold indices"),
    (lambda x: nd.argsort(nd.zeros((300,)), dtype="uint8"), ValueError, "cannot hold index 299"),
], ids=["k", "ret_typ", "axis", "index_dtype", "index_range"])
def test_bad_arguments_raise(call, error, match):
    with pytest.raises(error, match=match):
        call(nd.array([[3.0, 1.0, 2.0, 0.0]]))
