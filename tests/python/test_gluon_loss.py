"""Gluon losses against numpy implementations of their formulas."""

import numpy as np
import pytest

from mxnet import autograd, gluon, nd
from mxnet.gluon import loss as gloss

RNG = np.random.RandomState(11)
PRED = RNG.randn(4, 3).astype(np.float32)
LABEL01 = (RNG.rand(4, 3) > 0.5).astype(np.float32)
SIGNED = LABEL01 * 2 - 1
PROB = RNG.uniform(0.05, 0.95, size=(4, 3)).astype(np.float32)
SAMPLE_WEIGHT = RNG.rand(4, 1).astype(np.float32)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _check(loss_fn, args, expected_elementwise, rtol=1e-5):
    out = loss_fn(*[nd.array(a) for a in args]).asnumpy()
    expected = expected_elementwise.reshape(expected_elementwise.shape[0], -1).mean(axis=1)
    assert out.shape == (expected_elementwise.shape[0],)
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=1e-6)


def test_l2_loss():
    _check(gloss.L2Loss(), (PRED, LABEL01), 0.5 * (LABEL01 - PRED) ** 2)
    _check(gloss.L2Loss(weight=3.0), (PRED, LABEL01), 1.5 * (LABEL01 - PRED) ** 2)
    one = gloss.L2Loss()(nd.array([[1.0]]), nd.array([[3.0]])).asnumpy()
    np.testing.assert_allclose(one, [2.0])


def test_l1_loss_with_sample_weight():
    _check(gloss.L1Loss(), (PRED, LABEL01, SAMPLE_WEIGHT),
           np.abs(LABEL01 - PRED) * SAMPLE_WEIGHT)


def test_label_is_reshaped_like_pred():
    pred = RNG.randn(5, 1).astype(np.float32)
    label = RNG.randn(5).astype(np.float32)
    _check(gloss.L2Loss(), (pred, label), 0.5 * (label.reshape(5, 1) - pred) ** 2)


def test_sigmoid_bce_from_logits_is_stable():
    expected = -(LABEL01 * np.log(1 / (1 + np.exp(-PRED)))
                 + (1 - LABEL01) * np.log(1 - 1 / (1 + np.exp(-PRED))))
    _check(gloss.SigmoidBinaryCrossEntropyLoss(), (PRED, LABEL01), expected)
    assert gloss.SigmoidBCELoss is gloss.SigmoidBinaryCrossEntropyLoss
    extreme = gloss.SigmoidBCELoss()(nd.array([[100.0, -100.0]]), nd.array([[0.0, 1.0]]))
    np.testing.assert_allclose(extreme.asnumpy(), [100.0], rtol=1e-6)


def test_sigmoid_bce_from_sigmoid_and_pos_weight():
    eps = 1e-12
    expected = -(LABEL01 * np.log(PROB + eps) + (1 - LABEL01) * np.log(1 - PROB + eps))
    _check(gloss.SigmoidBCELoss(from_sigmoid=True), (PROB, LABEL01), expected)

    pos_weight = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    sig = 1 / (1 + np.exp(-PRED))
    weighted = -(pos_weight * LABEL01 * np.log(sig) + (1 - LABEL01) * np.log(1 - sig))
    out = gloss.SigmoidBCELoss()(nd.array(PRED), nd.array(LABEL01), None,
                                 nd.array(pos_weight)).asnumpy()
    np.testing.assert_allclose(out, weighted.mean(axis=1), rtol=1e-5)


def test_binary_cross_entropy_extension():
    eps = 1e-12
    expected = -(LABEL01 * np.log(PROB + eps) + (1 - LABEL01) * np.log(1 - PROB + eps))
    _check(gloss.BinaryCrossEntropyLoss(), (PROB, LABEL01), expected)
    # Probabilities of exactly 0 and 1 stay finite thanks to eps.
    out = gloss.BinaryCrossEntropyLoss()(nd.array([[0.0, 1.0]]), nd.array([[1.0, 0.0]]))
    assert np.isfinite(out.asnumpy()).all()


def test_softmax_ce_sparse_and_dense():
    labels = np.array([0, 2, 1, 1], dtype=np.float32)
    log_prob = np.log(_softmax(PRED))
    expected = -log_prob[np.arange(4), labels.astype(int)]
    _check(gloss.SoftmaxCrossEntropyLoss(), (PRED, labels), expected.reshape(4, 1))
    assert gloss.SoftmaxCELoss is gloss.SoftmaxCrossEntropyLoss

    target = _softmax(PROB)
    dense_expected = -(log_prob * target).sum(axis=1)
    _check(gloss.SoftmaxCELoss(sparse_label=False), (PRED, target), dense_expected.reshape(4, 1))

    from_logits = gloss.SoftmaxCELoss(from_logits=True)
    _check(from_logits, (log_prob, labels), expected.reshape(4, 1))


def test_softmax_ce_axis_1_on_3d():
    pred = RNG.randn(2, 3, 4).astype(np.float32)
    label = RNG.randint(0, 3, size=(2, 4)).astype(np.float32)
    log_prob = np.log(_softmax(pred, axis=1))
    picked = np.take_along_axis(log_prob, label.astype(int)[:, None, :], axis=1)
    _check(gloss.SoftmaxCELoss(axis=1), (pred, label), -picked)


def test_kl_div_loss_sums_over_classes():
    log_pred = np.log(_softmax(PRED))
    target = _softmax(PROB)
    out = gloss.KLDivLoss()(nd.array(log_pred), nd.array(target)).asnumpy()
    expected = (target * (np.log(target + 1e-12) - log_pred)).sum(axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    raw = gloss.KLDivLoss(from_logits=False)(nd.array(PRED), nd.array(target)).asnumpy()
    np.testing.assert_allclose(raw, expected, rtol=1e-4, atol=1e-5)


def test_huber_loss():
    error = np.abs(LABEL01 - PRED)
    rho = 0.7
    expected = np.where(error > rho, error - 0.5 * rho, 0.5 / rho * error ** 2)
    _check(gloss.HuberLoss(rho=rho), (PRED, LABEL01), expected)


def test_hinge_and_squared_hinge():
    _check(gloss.HingeLoss(), (PRED, SIGNED), np.maximum(0, 1 - PRED * SIGNED))
    _check(gloss.SquaredHingeLoss(margin=2), (PRED, SIGNED),
           np.maximum(0, 2 - PRED * SIGNED) ** 2)


def test_logistic_loss_label_formats():
    expected = np.log1p(np.exp(-PRED * SIGNED))
    _check(gloss.LogisticLoss(), (PRED, SIGNED), expected)
    _check(gloss.LogisticLoss(label_format='binary'), (PRED, LABEL01), expected)
    with pytest.raises(ValueError, match='label_format'):
        gloss.LogisticLoss(label_format='probability')


def test_batch_axis_1():
    pred = RNG.randn(3, 5).astype(np.float32)
    label = RNG.randn(3, 5).astype(np.float32)
    out = gloss.L1Loss(batch_axis=1)(nd.array(pred), nd.array(label)).asnumpy()
    np.testing.assert_allclose(out, np.abs(label - pred).mean(axis=0), rtol=1e-6)


def test_loss_gradient_through_block():
    pred = nd.array(PRED)
    pred.attach_grad()
    with autograd.record():
        value = gloss.L2Loss()(pred, nd.array(LABEL01))
    value.backward()
    # d/dpred of mean_j 0.5*(label-pred)^2 is (pred-label)/3.
    np.testing.assert_allclose(pred.grad.asnumpy(), (PRED - LABEL01) / 3, rtol=1e-5, atol=1e-6)


def test_loss_repr_and_weight_type():
    assert repr(gloss.L2Loss()) == 'L2Loss(batch_axis=0, w=1.0)'
    with pytest.raises(TypeError, match='weight must be a number'):
        gloss.L1Loss(weight='heavy')(nd.ones((1, 1)), nd.ones((1, 1)))
    assert isinstance(gloss.L1Loss(), gluon.HybridBlock)


def test_triplet_loss_sums_non_batch_axes():
    anchor, positive, negative = (RNG.randn(4, 3, 2).astype(np.float32) for _ in range(3))
    out = gloss.TripletLoss(margin=2)(nd.array(anchor), nd.array(positive),
                                      nd.array(negative)).asnumpy()
    gap = ((positive - anchor) ** 2 - (negative - anchor) ** 2).sum(axis=(1, 2))
    np.testing.assert_allclose(out, np.maximum(gap + 2, 0), rtol=1e-5, atol=1e-5)


def test_poisson_nll_loss_variants():
    pred = RNG.uniform(0.1, 1.1, size=(4, 3)).astype(np.float32)
    target = RNG.randint(0, 4, size=(4, 3)).astype(np.float32)
    logits = gloss.PoissonNLLLoss()(nd.array(pred), nd.array(target)).asnumpy()
    np.testing.assert_allclose(logits, [(np.exp(pred) - target * pred).mean()], rtol=1e-5)

    rates = gloss.PoissonNLLLoss(from_logits=False)(nd.array(pred), nd.array(target))
    base = pred - target * np.log(pred + 1e-8)
    np.testing.assert_allclose(rates.asnumpy(), [base.mean()], rtol=1e-5)

    full = gloss.PoissonNLLLoss(from_logits=False, compute_full=True)(nd.array(pred),
                                                                      nd.array(target))
    safe = np.maximum(target, 1)
    stirling = safe * np.log(safe) - safe + 0.5 * np.log(2 * np.pi * safe)
    expected = base + np.where(target > 1, stirling, 0)
    # Zero targets stay finite (MXNet 1.9.1 returns nan here).
    np.testing.assert_allclose(full.asnumpy(), [expected.mean()], rtol=1e-5)


def test_cosine_embedding_loss():
    x1 = RNG.randn(5, 4).astype(np.float32)
    x2 = RNG.randn(5, 4).astype(np.float32)
    label = np.array([1, -1, 1, -1, -1], dtype=np.float32)
    out = gloss.CosineEmbeddingLoss(margin=0.1)(nd.array(x1), nd.array(x2),
                                                nd.array(label)).asnumpy()
    cos = (x1 * x2).sum(axis=1) / (np.linalg.norm(x1, axis=1) * np.linalg.norm(x2, axis=1))
    expected = np.where(label == 1, 1 - cos, np.maximum(cos - 0.1, 0))
    assert out.shape == (5,)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


CLASS_LABEL = RNG.randint(0, 3, size=(4,)).astype(np.float32)
HYBRID_CASES = [
    (gloss.L2Loss, (PRED, LABEL01)),
    (gloss.L1Loss, (PRED, LABEL01, SAMPLE_WEIGHT)),
    (gloss.SigmoidBinaryCrossEntropyLoss, (PRED, LABEL01)),
    (gloss.BinaryCrossEntropyLoss, (PROB, LABEL01)),
    (gloss.SoftmaxCrossEntropyLoss, (PRED, CLASS_LABEL)),
    (gloss.KLDivLoss, (np.log(PROB), _softmax(PRED))),
    (gloss.HuberLoss, (PRED, LABEL01)),
    (gloss.HingeLoss, (PRED, SIGNED)),
    (gloss.SquaredHingeLoss, (PRED, SIGNED)),
    (gloss.LogisticLoss, (PRED, SIGNED)),
    (gloss.TripletLoss, (PRED, PROB, LABEL01)),
    (gloss.PoissonNLLLoss, (PRED, PROB)),
    (gloss.CosineEmbeddingLoss, (PRED, PROB, SIGNED[:, 0])),
]


@pytest.mark.parametrize('cls, args', HYBRID_CASES, ids=[c.__name__ for c, _ in HYBRID_CASES])
def test_hybridized_loss_matches_imperative(cls, args):
    def run(hybridize):
        loss_fn = cls()
        if hybridize:
            loss_fn.hybridize()
        inputs = [nd.array(a) for a in args]
        inputs[0].attach_grad()
        with autograd.record():
            out = loss_fn(*inputs)
        out.backward()
        return out.asnumpy(), inputs[0].grad.asnumpy()

    out, grad = run(False)
    hybrid_out, hybrid_grad = run(True)
    np.testing.assert_allclose(hybrid_out, out, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(hybrid_grad, grad, rtol=1e-6, atol=1e-7)
