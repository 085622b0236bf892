"""Tests of mx.metric against hand-computed values and NumPy."""
import json
import math
import os

import numpy as np
import pytest

from mxnet import metric


def _has_core():
    try:
        from mxnet import ndarray as nd
    except ImportError:
        return False
    return hasattr(nd, 'array')


requires_core = pytest.mark.skipif(not _has_core(), reason='needs the native NDArray core')

PRED = np.array([[0.3, 0.5, 0.2], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]],
                dtype=np.float32)
LABEL = np.array([1, 2, 1, 0], dtype=np.float32)


def test_accuracy_from_scores():
    acc = metric.Accuracy()
    acc.update([LABEL], [PRED])
    # argmax per row: 1, 2, 0, 2 -> two of four correct.
    assert acc.get() == ('accuracy', 0.5)


def test_accuracy_from_class_indices():
    acc = metric.Accuracy()
    acc.update(np.array([1, 2, 3]), np.array([1, 0, 3]))
    assert acc.get()[1] == pytest.approx(2 / 3)


def test_accuracy_axis():
    acc = metric.Accuracy(axis=0)
    acc.update([np.array([1, 0])], [np.array([[0.1, 0.9], [0.9, 0.1]])])
    # argmax over axis 0: column 0 -> 1, column 1 -> 0; both correct.
    assert acc.get()[1] == 1.0


def test_accuracy_accumulates_and_resets():
    acc = metric.create('acc')
    acc.update([LABEL], [PRED])
    acc.update([np.array([0])], [np.array([[0.9, 0.1, 0.0]])])
    assert acc.num_inst == 5
    assert acc.get()[1] == pytest.approx(3 / 5)
    acc.reset_local()
    assert math.isnan(acc.get()[1])
    assert acc.get_global()[1] == pytest.approx(3 / 5)
    acc.reset()
    assert math.isnan(acc.get_global()[1])


def test_accuracy_count_mismatch():
    with pytest.raises(ValueError, match='does not match'):
        metric.Accuracy().update([LABEL, LABEL], [PRED])


def test_top_k_accuracy():
    top2 = metric.TopKAccuracy(top_k=2)
    top2.update([LABEL], [PRED])
    # Top two classes per row: {1,0}, {2,0 or 1}, {0,1}, {2,1}: rows 0, 1, 2 correct.
    assert top2.get() == ('top_k_accuracy_2', 0.75)


def test_top_k_accuracy_matches_numpy():
    rng = np.random.RandomState(0)
    scores = rng.rand(50, 10).astype(np.float32)
    labels = rng.randint(0, 10, size=50)
    for k in (1, 3, 5, 10, 12):
        top = metric.TopKAccuracy(top_k=k)
        top.update([labels], [scores])
        ranks = np.argsort(-scores, axis=1)[:, :min(k, 10)]
        expected = np.mean([labels[i] in ranks[i] for i in range(50)])
        assert top.get()[1] == pytest.approx(expected)


def test_top_k_accuracy_rejects_bad_k():
    with pytest.raises(ValueError, match='positive int'):
        metric.TopKAccuracy(top_k=0)


def test_mse_mae_rmse_per_batch_average():
    labels = [np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0])]
    preds = [np.array([1.5, 2.0, 2.0]), np.array([2.0, 0.0])]
    mse, mae, rmse = metric.MSE(), metric.MAE(), metric.RMSE()
    for m in (mse, mae, rmse):
        for label, pred in zip(labels, preds):
            m.update([label], [pred])
    batch_mse = [(0.25 + 0 + 1) / 3, 4 / 2]
    batch_mae = [(0.5 + 0 + 1) / 3, 2 / 2]
    assert mse.get()[1] == pytest.approx(np.mean(batch_mse))
    assert mae.get()[1] == pytest.approx(np.mean(batch_mae))
    assert rmse.get()[1] == pytest.approx(np.mean(np.sqrt(batch_mse)))
    assert mse.num_inst == 2


def test_mse_column_label_against_row_pred():
    mse = metric.MSE()
    mse.update([np.array([[1.0], [3.0]])], [np.array([2.0, 3.0])])
    assert mse.get()[1] == pytest.approx(0.5)


def test_cross_entropy():
    ce = metric.CrossEntropy()
    ce.update([LABEL], [PRED])
    probs = PRED[np.arange(4), LABEL.astype(int)]
    assert ce.get()[0] == 'cross-entropy'
    assert ce.get()[1] == pytest.approx(np.mean(-np.log(probs + 1e-12)), rel=1e-6)


def test_cross_entropy_eps_on_zero_probability():
    ce = metric.CrossEntropy(eps=1e-3)
    ce.update([np.array([0])], [np.array([[0.0, 1.0]])])
    assert ce.get()[1] == pytest.approx(-math.log(1e-3))


def test_negative_log_likelihood_name():
    nll = metric.create('nll_loss')
    nll.update([LABEL], [PRED])
    assert nll.get()[0] == 'nll-loss'
    expected = np.mean(-np.log(PRED[np.arange(4), [1, 2, 1, 0]]))
    assert nll.get()[1] == pytest.approx(expected, rel=1e-6)


def test_perplexity_with_ignore_label():
    ppl = metric.Perplexity(ignore_label=0)
    ppl.update([LABEL], [PRED])
    kept = [PRED[0, 1], PRED[1, 2], PRED[2, 1]]
    assert ppl.get()[1] == pytest.approx(math.exp(-np.mean(np.log(kept))), rel=1e-6)


def test_loss_metric_mean_of_predictions():
    loss = metric.Loss()
    loss.update(None, [np.array([1.0, 2.0]), np.array([[3.0, 6.0]])])
    assert loss.get() == ('loss', 3.0)
    assert loss.num_inst == 4


def test_custom_metric_scalar_and_tuple():
    def total_error(label, pred):
        return float(np.abs(label - pred).sum()), label.size

    custom = metric.create(total_error)
    custom.update([np.array([1.0, 2.0])], [np.array([1.5, 2.5])])
    assert custom.get() == ('total_error', 0.5)

    scalar = metric.np(lambda label, pred: float(np.max(pred)))
    scalar.update([np.zeros(2), np.zeros(2)], [np.array([1.0, 3.0]), np.array([5.0, 0.0])])
    assert scalar.get() == ('custom(<lambda>)', 4.0)
    with pytest.raises(NotImplementedError):
        scalar.get_config()


def test_composite_metric():
    composite = metric.create(['acc', 'ce'])
    composite.update([LABEL], [PRED])
    names, values = composite.get()
    assert names == ['accuracy', 'cross-entropy']
    assert values[0] == 0.5
    assert composite.get_name_value()[0] == ('accuracy', 0.5)
    assert composite.get_metric(1).name == 'cross-entropy'
    with pytest.raises(ValueError, match='out of range'):
        composite.get_metric(5)
    composite.reset()
    assert all(math.isnan(v) for v in composite.get()[1])


def test_update_dict_selects_names():
    acc = metric.Accuracy(output_names=['out'], label_names=['lab'])
    acc.update_dict({'lab': LABEL, 'other': LABEL}, {'out': PRED, 'other': PRED})
    assert acc.get()[1] == 0.5


def test_create_by_name_alias_and_config():
    assert isinstance(metric.create('top_k_acc', top_k=3), metric.TopKAccuracy)
    assert isinstance(metric.create('CE'), metric.CrossEntropy)
    acc = metric.Accuracy(axis=0)
    assert metric.create(acc) is acc
    rebuilt = metric.create(acc.get_config())
    assert isinstance(rebuilt, metric.Accuracy)
    assert rebuilt.axis == 0
    with pytest.raises(ValueError, match='not registered'):
        metric.create('no_such_metric')


@pytest.mark.parametrize('name', [
    'acc', 'accuracy', 'ce', 'crossentropy', 'nll_loss', 'negativeloglikelihood',
    'top_k_acc', 'top_k_accuracy', 'topkaccuracy', 'f1', 'mcc', 'mae', 'mse', 'rmse',
    'perplexity', 'pearsonr', 'pearsoncorrelation', 'pcc', 'loss',
    'composite', 'compositeevalmetric', 'custommetric', 'torch', 'caffe'])
def test_registry_names(name):
    assert name in metric._REGISTRY


def test_get_before_update_is_nan():
    name, value = metric.MSE().get()
    assert name == 'mse'
    assert math.isnan(value)


@requires_core
def test_metrics_accept_ndarrays():
    import mxnet as mx
    acc = metric.Accuracy()
    acc.update([mx.nd.array(LABEL)], [mx.nd.array(PRED)])
    assert acc.get()[1] == 0.5
    mse = metric.MSE()
    mse.update(mx.nd.array([1.0, 2.0]), mx.nd.array([2.0, 2.0]))
    assert mse.get()[1] == pytest.approx(0.5)
    loss = metric.Loss()
    loss.update(None, mx.nd.array([1.0, 3.0]))
    assert loss.get()[1] == 2.0


# Binary batches for F1 and MCC. Batch 1 (argmax 1,1,0,0,1 vs labels 0,1,1,0,1) has
# TP=2, FP=1, FN=1, TN=1; batch 2 (argmax 0,0 vs labels 1,0) has FN=1, TN=1.
BINARY_LABELS = [np.array([0, 1, 1, 0, 1]), np.array([1, 0])]
BINARY_PREDS = [np.array([[0.4, 0.6], [0.1, 0.9], [0.8, 0.2], [0.7, 0.3], [0.3, 0.7]]),
                np.array([[0.6, 0.4], [0.9, 0.1]])]


def _update_batches(m, labels, preds):
    for label, pred in zip(labels, preds):
        m.update([label], [pred])
    return m


def test_f1_macro_and_micro():
    macro = _update_batches(metric.F1(), BINARY_LABELS, BINARY_PREDS)
    # Batch scores: precision = recall = 2/3 gives 2/3; batch 2 has no positives: 0.
    assert macro.get() == ('f1', pytest.approx((2 / 3 + 0) / 2))
    micro = _update_batches(metric.F1(average='micro'), BINARY_LABELS, BINARY_PREDS)
    # Totals TP=2, FP=1, FN=2: precision 2/3, recall 1/2, F1 = 4/7.
    assert micro.get()[1] == pytest.approx(4 / 7)
    assert micro.num_inst == 7


def test_f1_rejects_multiclass_labels():
    with pytest.raises(ValueError, match='binary classification'):
        metric.F1().update([np.array([0, 1, 2])], [np.ones((3, 2))])


def test_mcc_macro_and_micro():
    macro = _update_batches(metric.MCC(), BINARY_LABELS, BINARY_PREDS)
    # Batch 1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6. Batch 2: numerator 0.
    assert macro.get() == ('mcc', pytest.approx((1 / 6 + 0) / 2))
    micro = _update_batches(metric.MCC(average='micro'), BINARY_LABELS, BINARY_PREDS)
    # Totals TP=2, FP=1, FN=2, TN=2: (4 - 2) / sqrt(3*4*3*4) = 1/6.
    assert micro.get()[1] == pytest.approx(1 / 6)


def test_pearson_macro_and_micro_match_numpy():
    rng = np.random.RandomState(4)
    labels = [rng.randn(6), rng.randn(4, 2), rng.randn(3)]
    preds = [label * 0.5 + rng.randn(*label.shape) for label in labels]
    macro = _update_batches(metric.create('pearsonr'), labels, preds)
    expected_macro = np.mean([np.corrcoef(p.ravel(), l.ravel())[0, 1]
                              for l, p in zip(labels, preds)])
    assert macro.get()[1] == pytest.approx(expected_macro)
    micro = _update_batches(metric.PearsonCorrelation(average='micro'), labels, preds)
    all_labels = np.concatenate([l.ravel() for l in labels])
    all_preds = np.concatenate([p.ravel() for p in preds])
    assert micro.get()[1] == pytest.approx(np.corrcoef(all_preds, all_labels)[0, 1])


def _gorodkin_rk(pred_classes, label_classes, num_classes):
    x = np.eye(num_classes)[pred_classes]
    y = np.eye(num_classes)[label_classes]
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    return np.sum(x * y) / np.sqrt(np.sum(x * x) * np.sum(y * y))


def test_pcc_binary_equals_mcc():
    pcc = metric.PCC()
    pcc.update([BINARY_LABELS[0]], [BINARY_PREDS[0]])
    assert pcc.get() == ('pcc', pytest.approx(1 / 6))


def test_pcc_multiclass_matches_one_hot_correlation():
    rng = np.random.RandomState(9)
    labels = rng.randint(0, 5, size=40)
    preds = np.where(rng.rand(40) < 0.6, labels, rng.randint(0, 5, size=40))
    pcc = metric.create('pcc')
    pcc.update([labels[:20]], [preds[:20]])
    pcc.update([labels[20:]], [np.eye(5)[preds[20:]]])
    assert pcc.k == 5
    assert pcc.get()[1] == pytest.approx(_gorodkin_rk(preds, labels, 5))
    pcc.reset_local()
    assert math.isnan(pcc.get()[1])
    assert pcc.get_global()[1] == pytest.approx(_gorodkin_rk(preds, labels, 5))


def _behaviour_metrics():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures',
                        'behaviour.json')
    with open(path, encoding='utf-8') as stream:
        return json.load(stream)['metrics']


def _fixture_classification():
    facts = _behaviour_metrics()
    labels = np.array(facts['classification_labels'], dtype=np.float32)
    probs = np.array(facts['classification_probs'], dtype=np.float32)
    return facts, labels, probs


@pytest.mark.parametrize('key,factory', [
    ('Accuracy()', metric.Accuracy),
    ('TopKAccuracy(top_k=2)', lambda: metric.TopKAccuracy(top_k=2)),
    ('CrossEntropy()', metric.CrossEntropy),
])
def test_classification_matches_mxnet(key, factory):
    facts, labels, probs = _fixture_classification()
    m = factory()
    m.update([labels], [probs])
    name, value = m.get()
    assert name == facts[key]['name']
    assert value == pytest.approx(facts[key]['value'], rel=1e-6)
    assert m.num_inst == facts[key]['num_inst']


def test_accuracy_twice_matches_mxnet():
    facts, labels, probs = _fixture_classification()
    acc = metric.Accuracy()
    acc.update([labels], [probs])
    acc.update([labels[:2]], [probs[:2]])
    expected = facts['Accuracy() twice']
    assert acc.get() == (expected['name'], pytest.approx(expected['value']))
    assert acc.num_inst == expected['num_inst']


def test_mse_batches_match_mxnet():
    facts = _behaviour_metrics()
    batches = facts['regression_batches']
    mse = metric.MSE()
    for count, key in enumerate(['MSE() on the first regression batch',
                                 'MSE() on both regression batches']):
        batch = batches[count]
        mse.update([np.array(batch['label'], dtype=np.float32)],
                   [np.array(batch['pred'], dtype=np.float32)])
        assert mse.get()[1] == pytest.approx(facts[key]['value'], rel=1e-6)
        assert mse.num_inst == facts[key]['num_inst']


def test_empty_accuracy_matches_mxnet():
    name, value = metric.Accuracy().get()
    assert [name, 'nan' if math.isnan(value) else value] == _behaviour_metrics()[
        'empty Accuracy().get()']


@requires_core
def test_classification_ndarrays_match_mxnet():
    import mxnet as mx
    facts, labels, probs = _fixture_classification()
    for key, m in (('Accuracy()', metric.Accuracy()), ('CrossEntropy()', metric.CrossEntropy())):
        m.update([mx.nd.array(labels)], [mx.nd.array(probs)])
        assert m.get()[1] == pytest.approx(facts[key]['value'], rel=1e-6)
