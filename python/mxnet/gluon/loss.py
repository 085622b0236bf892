"""Loss functions (``mx.gluon.loss``).

Every loss is a HybridBlock called as ``loss(pred, label, sample_weight=None)``. Most return one
value per sample: the element-wise loss averaged over all axes except ``batch_axis``, so a
``(N, ...)`` prediction gives an ``(N,)`` result. KLDivLoss and TripletLoss sum over those axes
instead, and PoissonNLLLoss averages over everything, as their docstrings state.
"""

import math
import numbers

from .block import HybridBlock

__all__ = ['Loss', 'L2Loss', 'L1Loss', 'SigmoidBinaryCrossEntropyLoss', 'SigmoidBCELoss',
           'BinaryCrossEntropyLoss', 'SoftmaxCrossEntropyLoss', 'SoftmaxCELoss', 'KLDivLoss',
           'HuberLoss', 'HingeLoss', 'SquaredHingeLoss', 'LogisticLoss', 'TripletLoss',
           'PoissonNLLLoss', 'CosineEmbeddingLoss']


def _apply_weighting(F, loss, weight=None, sample_weight=None):
    """Multiply ``loss`` by ``sample_weight`` (broadcast) and by the scalar ``weight``."""
    if sample_weight is not None:
        loss = F.broadcast_mul(loss, sample_weight)
    if weight is not None:
        if not isinstance(weight, numbers.Number):
            raise TypeError('Loss: weight must be a number, got %r' % (weight,))
        loss = loss * weight
    return loss


def _reshape_like(F, x, y):
    """Reshape ``x`` to the shape of ``y`` (labels of shape (N,) against predictions (N, 1)).

    ``reshape_like`` rather than ``x.reshape(y.shape)``, so the loss also traces into a graph.
    """
    return F.reshape_like(x, y)


def _batch_mean(F, loss, batch_axis):
    """Average ``loss`` over every axis except ``batch_axis`` (shape-free, so it traces)."""
    return F.mean(loss, axis=batch_axis, exclude=True)


def _batch_sum(F, loss, batch_axis):
    """Sum ``loss`` over every axis except ``batch_axis`` (shape-free, so it traces)."""
    return F.sum(loss, axis=batch_axis, exclude=True)


class Loss(HybridBlock):
    """Base class of losses.

    Parameters
    ----------
    weight : float or None
        Global scalar multiplier of the loss.
    batch_axis : int
        The axis that indexes samples; the result keeps only this axis.
    """

    def __init__(self, weight, batch_axis, **kwargs):
        super().__init__(**kwargs)
        self._weight = weight
        self._batch_axis = batch_axis

    def __repr__(self):
        return '%s(batch_axis=%s, w=%s)' % (self.__class__.__name__, self._batch_axis,
                                            self._weight)

    def hybrid_forward(self, F, x, *args, **kwargs):
        raise NotImplementedError('%s must override hybrid_forward()' % self.__class__.__name__)


class L2Loss(Loss):
    r"""Squared error: :math:`L = \frac{weight}{2} (label - pred)^2`.

    Parameters
    ----------
    weight : float, default 1.0
    batch_axis : int, default 0

    Inputs:
        - **pred**: predictions of shape ``(N, ...)``.
        - **label**: targets with as many elements as pred (reshaped to pred's shape).
        - **sample_weight**: optional weights broadcastable to pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, weight=1.0, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _reshape_like(F, label, pred)
        loss = F.square(label - pred)
        loss = _apply_weighting(F, loss, self._weight / 2, sample_weight)
        return _batch_mean(F, loss, self._batch_axis)


class L1Loss(Loss):
    r"""Absolute error: :math:`L = |label - pred|`.

    Parameters
    ----------
    weight : float, optional
    batch_axis : int, default 0

    Inputs:
        - **pred**: predictions of shape ``(N, ...)``.
        - **label**: targets with as many elements as pred.
        - **sample_weight**: optional weights broadcastable to pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _reshape_like(F, label, pred)
        loss = F.abs(label - pred)
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return _batch_mean(F, loss, self._batch_axis)


class SigmoidBinaryCrossEntropyLoss(Loss):
    r"""Binary cross-entropy on logits (or on probabilities with ``from_sigmoid=True``).

    On logits it uses the stable form :math:`\max(x, 0) - x z + \log(1 + e^{-|x|})`, which
    never takes the log of 0 or the exp of a large positive number. On probabilities it is
    :math:`-(z \log(p + 10^{-12}) + (1 - z) \log(1 - p + 10^{-12}))`.

    Parameters
    ----------
    from_sigmoid : bool, default False
        True when pred is already a probability.
    weight : float, optional
    batch_axis : int, default 0

    Inputs:
        - **pred**: logits (or probabilities) of shape ``(N, ...)``.
        - **label**: targets in {0, 1} (or in [0, 1]) with as many elements as pred.
        - **sample_weight**: optional weights broadcastable to pred.
        - **pos_weight**: optional weight of the positive class, broadcastable to pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, from_sigmoid=False, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_sigmoid = from_sigmoid

    def hybrid_forward(self, F, pred, label, sample_weight=None, pos_weight=None):
        label = _reshape_like(F, label, pred)
        if not self._from_sigmoid:
            softplus_neg_abs = F.Activation(-F.abs(pred), act_type='softrelu')
            if pos_weight is None:
                loss = F.relu(pred) - pred * label + softplus_neg_abs
            else:
                # log(1 + exp(-x)) = log(1 + exp(-|x|)) + max(-x, 0), scaled by the weight
                # of the positive term.
                log_weight = 1 + F.broadcast_mul(pos_weight - 1, label)
                loss = pred - pred * label + log_weight * (softplus_neg_abs + F.relu(-pred))
        else:
            eps = 1e-12
            if pos_weight is None:
                loss = -(F.log(pred + eps) * label + F.log(1. - pred + eps) * (1. - label))
            else:
                loss = -(F.broadcast_mul(F.log(pred + eps) * label, pos_weight)
                         + F.log(1. - pred + eps) * (1. - label))
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return _batch_mean(F, loss, self._batch_axis)


SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss


class BinaryCrossEntropyLoss(Loss):
    r"""Binary cross-entropy on probabilities:
    :math:`L = -(y \log(p + \epsilon) + (1 - y) \log(1 - p + \epsilon))` with
    :math:`\epsilon = 10^{-12}`.

    This class is an extension: MXNet 1.9.1 has no ``BinaryCrossEntropyLoss``. It equals
    ``SigmoidBinaryCrossEntropyLoss(from_sigmoid=True)`` and exists because existing scripts
    use it after a sigmoid output layer.

    Parameters
    ----------
    weight : float, optional
    batch_axis : int, default 0

    Inputs:
        - **pred**: probabilities in [0, 1] of shape ``(N, ...)``.
        - **label**: targets in [0, 1] with as many elements as pred.
        - **sample_weight**: optional weights broadcastable to pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    _EPS = 1e-12

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _reshape_like(F, label, pred)
        eps = self._EPS
        loss = -(label * F.log(pred + eps) + (1. - label) * F.log(1. - pred + eps))
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return _batch_mean(F, loss, self._batch_axis)


class SoftmaxCrossEntropyLoss(Loss):
    r"""Softmax cross-entropy: :math:`L = -\sum_i y_i \log \mathrm{softmax}(x)_i`.

    With sparse labels (class indices) this is ``-log_softmax(pred)[label]``.

    Parameters
    ----------
    axis : int, default -1
        The class axis.
    sparse_label : bool, default True
        Labels are class indices (pred's shape without ``axis``) instead of distributions.
    from_logits : bool, default False
        pred is already a log-probability (log_softmax is not applied).
    weight : float, optional
    batch_axis : int, default 0

    Inputs:
        - **pred**: scores of shape ``(N, ..., C)`` for ``axis=-1``.
        - **label**: indices of shape ``(N, ...)`` (sparse) or distributions like pred.
        - **sample_weight**: optional weights broadcastable to ``(N, ..., 1)``.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, axis=-1, sparse_label=True, from_logits=False, weight=None,
                 batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = axis
        self._sparse_label = sparse_label
        self._from_logits = from_logits

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        if not self._from_logits:
            pred = F.log_softmax(pred, axis=self._axis)
        if self._sparse_label:
            loss = -F.pick(pred, label, axis=self._axis, keepdims=True)
        else:
            label = _reshape_like(F, label, pred)
            loss = -F.sum(pred * label, axis=self._axis, keepdims=True)
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return _batch_mean(F, loss, self._batch_axis)


SoftmaxCELoss = SoftmaxCrossEntropyLoss


class KLDivLoss(Loss):
    r"""Kullback-Leibler divergence: :math:`L = \sum_i y_i (\log(y_i + 10^{-12}) - \log p_i)`.

    Unlike the other losses, the terms are summed (not averaged) over the non-batch axes, as
    in MXNet 1.9.1.

    Parameters
    ----------
    from_logits : bool, default True
        pred is a log-probability. When False, log_softmax is applied along ``axis``.
    axis : int, default -1
    weight : float, optional
    batch_axis : int, default 0

    Inputs:
        - **pred**: log-probabilities (or scores) of shape ``(N, ..., C)``.
        - **label**: probabilities of the same shape.
        - **sample_weight**: optional weights broadcastable to pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, from_logits=True, axis=-1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits = from_logits
        self._axis = axis

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        if not self._from_logits:
            pred = F.log_softmax(pred, axis=self._axis)
        loss = label * (F.log(label + 1e-12) - pred)
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return _batch_sum(F, loss, self._batch_axis)


class HuberLoss(Loss):
    r"""Smoothed L1: :math:`\frac{1}{2\rho}(y - p)^2` where :math:`|y - p| \le \rho`, else
    :math:`|y - p| - \frac{\rho}{2}`.

    Parameters
    ----------
    rho : float, default 1
        Threshold between the quadratic and the linear part.
    weight : float, optional
    batch_axis : int, default 0

    Inputs:
        - **pred**: predictions of shape ``(N, ...)``.
        - **label**: targets with as many elements as pred.
        - **sample_weight**: optional weights broadcastable to pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, rho=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._rho = rho

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _reshape_like(F, label, pred)
        error = F.abs(label - pred)
        loss = F.where(error > self._rho, error - 0.5 * self._rho,
                       (0.5 / self._rho) * F.square(error))
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return _batch_mean(F, loss, self._batch_axis)


class HingeLoss(Loss):
    r"""Hinge loss for labels in {-1, 1}: :math:`L = \max(0, margin - p \cdot y)`.

    Parameters
    ----------
    margin : float, default 1
    weight : float, optional
    batch_axis : int, default 0

    Inputs:
        - **pred**: scores of shape ``(N, ...)``.
        - **label**: -1 or 1, with as many elements as pred.
        - **sample_weight**: optional weights broadcastable to pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, margin=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _reshape_like(F, label, pred)
        loss = F.relu(self._margin - pred * label)
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return _batch_mean(F, loss, self._batch_axis)


class SquaredHingeLoss(Loss):
    r"""Squared hinge loss for labels in {-1, 1}: :math:`L = \max(0, margin - p \cdot y)^2`.

    Parameters
    ----------
    margin : float, default 1
    weight : float, optional
    batch_axis : int, default 0

    Inputs:
        - **pred**: scores of shape ``(N, ...)``.
        - **label**: -1 or 1, with as many elements as pred.
        - **sample_weight**: optional weights broadcastable to pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, margin=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _reshape_like(F, label, pred)
        loss = F.square(F.relu(self._margin - pred * label))
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return _batch_mean(F, loss, self._batch_axis)


class LogisticLoss(Loss):
    r"""Logistic loss on logits: :math:`L = \log(1 + e^{-p \cdot y})` for labels in {-1, 1}.

    Parameters
    ----------
    weight : float, optional
    batch_axis : int, default 0
    label_format : {'signed', 'binary'}, default 'signed'
        Labels in {-1, 1} ('signed') or in {0, 1} ('binary').

    Inputs:
        - **pred**: logits of shape ``(N, ...)``.
        - **label**: labels with as many elements as pred.
        - **sample_weight**: optional weights broadcastable to pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, weight=None, batch_axis=0, label_format='signed', **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        if label_format not in ('signed', 'binary'):
            raise ValueError("LogisticLoss: label_format must be 'signed' or 'binary', got %r"
                             % (label_format,))
        self._label_format = label_format

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _reshape_like(F, label, pred)
        if self._label_format == 'signed':
            label = (label + 1.0) / 2.0
        # Same stable form as SigmoidBinaryCrossEntropyLoss with {0, 1} labels.
        loss = F.relu(pred) - pred * label + F.Activation(-F.abs(pred), act_type='softrelu')
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return _batch_mean(F, loss, self._batch_axis)


class TripletLoss(Loss):
    r"""Triplet loss: :math:`L = \max(0, \sum_i (pos_i - pred_i)^2 - (neg_i - pred_i)^2 + margin)`,
    the sum running over all non-batch axes.

    Parameters
    ----------
    margin : float, default 1
    weight : float, optional
    batch_axis : int, default 0

    Inputs:
        - **pred**: anchors of shape ``(N, ...)``.
        - **positive**: samples of the anchor's class, with as many elements as pred.
        - **negative**: samples of other classes, with as many elements as pred.

    Outputs:
        - **loss**: shape ``(N,)``.
    """

    def __init__(self, margin=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, pred, positive, negative):
        positive = _reshape_like(F, positive, pred)
        negative = _reshape_like(F, negative, pred)
        gap = F.square(positive - pred) - F.square(negative - pred)
        loss = F.relu(_batch_sum(F, gap, self._batch_axis) + self._margin)
        return _apply_weighting(F, loss, self._weight)


class PoissonNLLLoss(Loss):
    r"""Negative log-likelihood of a Poisson distribution, averaged over all elements.

    With ``from_logits`` (pred is the log of the rate) :math:`L = e^{pred} - target \cdot pred`,
    otherwise :math:`L = pred - target \cdot \log(pred + \epsilon)`. ``compute_full`` adds
    Stirling's approximation of :math:`\log(target!)`,
    :math:`target \log(target) - target + \frac{1}{2}\log(2\pi \cdot target)`, for targets
    above 1.

    Parameters
    ----------
    weight : float, optional
    from_logits : bool, default True
    batch_axis : int, default 0
    compute_full : bool, default False

    Inputs:
        - **pred**: predictions of shape ``(N, ...)``.
        - **target**: counts with as many elements as pred.
        - **sample_weight**: optional weights broadcastable to pred.
        - **epsilon**: float, default 1e-8, keeps the log finite when pred is 0.

    Outputs:
        - **loss**: the mean over all elements, shape ``(1,)``.
    """

    def __init__(self, weight=None, from_logits=True, batch_axis=0, compute_full=False,
                 **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits = from_logits
        self._compute_full = compute_full

    def hybrid_forward(self, F, pred, target, sample_weight=None, epsilon=1e-08):
        target = _reshape_like(F, target, pred)
        if self._from_logits:
            loss = F.exp(pred) - target * pred
        else:
            loss = pred - target * F.log(pred + epsilon)
        if self._compute_full:
            # NOTE: MXNet 1.9.1 multiplies the approximation by (target > 1), which turns the
            # nan of 0 * log(0) at zero targets into a nan loss. Selecting with where keeps
            # those terms at 0.
            safe_target = F.maximum(target, 1.0)
            stirling = safe_target * F.log(safe_target) - safe_target \
                + 0.5 * F.log(2 * math.pi * safe_target)
            loss = loss + F.where(target > 1, stirling, F.zeros_like(stirling))
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return F.mean(loss)


class CosineEmbeddingLoss(Loss):
    r"""Cosine embedding loss for pairs labelled similar (1) or dissimilar (-1).

    With :math:`c = \frac{x_1 \cdot x_2}{\max(\|x_1\| \|x_2\|, 10^{-12})}` over the last axis,
    :math:`L = 1 - c` for label 1 and :math:`L = \max(0, c - margin)` for label -1.

    Parameters
    ----------
    weight : float, optional
    batch_axis : int, default 0
    margin : float, default 0

    Inputs:
        - **input1**: vectors of shape ``(N, D)``.
        - **input2**: vectors of shape ``(N, D)``.
        - **label**: 1 or -1, shape ``(N,)``.
        - **sample_weight**: optional weights of shape ``(N,)``.

    Outputs:
        - **loss**: shape ``(N,)``. MXNet 1.9.1 documents this shape but returns ``(N, 1)``.
    """

    def __init__(self, weight=None, batch_axis=0, margin=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, input1, input2, label, sample_weight=None):
        input1 = _reshape_like(F, input1, input2)
        label = label.reshape((-1,))
        dot = F.sum(input1 * input2, axis=-1).reshape((-1,))
        norms = F.sqrt(F.sum(F.square(input1), axis=-1)) * \
            F.sqrt(F.sum(F.square(input2), axis=-1))
        cos_sim = dot / F.maximum(norms.reshape((-1,)), 1e-12)
        similar = (1 - cos_sim) * (label == 1)
        dissimilar = F.relu((cos_sim - self._margin) * (label == -1))
        loss = similar + dissimilar
        if sample_weight is not None:
            sample_weight = sample_weight.reshape((-1,))
        return _apply_weighting(F, loss, self._weight, sample_weight)
