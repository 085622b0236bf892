"""Evaluation metrics, compatible with ``mx.metric`` of Apache MXNet 1.9.1.

Labels and predictions may be NDArrays, NumPy arrays or lists of either. Every metric
computes on NumPy copies, so its numbers do not depend on the NDArray backend.
"""
import json
import math
from collections import OrderedDict
import numbers

import numpy

__all__ = ['EvalMetric', 'CompositeEvalMetric', 'Accuracy', 'TopKAccuracy', 'F1', 'MCC',
           'Perplexity', 'MAE', 'MSE', 'RMSE', 'CrossEntropy', 'NegativeLogLikelihood',
           'PearsonCorrelation', 'PCC', 'Loss', 'Torch', 'Caffe', 'CustomMetric', 'create',
           'np', 'register', 'alias', 'check_label_shapes']

_REGISTRY = {}


def register(klass):
    """Register a metric class under its lowercased class name, for ``create``."""
    if not (isinstance(klass, type) and issubclass(klass, EvalMetric)):
        raise TypeError('register: expected a subclass of EvalMetric, got %r' % (klass,))
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


def alias(*aliases):
    """Return a class decorator that registers the class under extra names."""
    def reg(klass):
        register(klass)
        for name in aliases:
            _REGISTRY[name.lower()] = klass
        return klass
    return reg


def _create_registered(metric, *args, **kwargs):
    if isinstance(metric, EvalMetric):
        if args or kwargs:
            raise ValueError('create: extra arguments %r %r cannot be applied to the existing '
                             'metric instance %r' % (args, kwargs, metric))
        return metric
    if isinstance(metric, dict):
        return _create_registered(**metric)
    if not isinstance(metric, str):
        raise TypeError('create: metric must be a name, a list, a callable or an EvalMetric, '
                        'got %r' % (metric,))
    if metric.startswith('['):
        # JSON list form, as in MXNet's registry: ["name", {kwargs}].
        name, json_kwargs = json.loads(metric)
        return _create_registered(name, **json_kwargs)
    if metric.startswith('{'):
        return _create_registered(**json.loads(metric))
    key = metric.lower()
    if key not in _REGISTRY:
        raise ValueError('create: metric %r is not registered; known names are %s'
                         % (metric, ', '.join(sorted(_REGISTRY))))
    return _REGISTRY[key](*args, **kwargs)


def create(metric, *args, **kwargs):
    """Create a metric from a name, a list of names, a callable or an EvalMetric.

    A callable ``feval(label, pred)`` becomes a ``CustomMetric``, and a list becomes a
    ``CompositeEvalMetric`` of the metrics created from its elements.
    """
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    return _create_registered(metric, *args, **kwargs)


def _is_array(value):
    return isinstance(value, numpy.ndarray) or hasattr(value, 'asnumpy')


def _as_numpy(value):
    if isinstance(value, numpy.ndarray):
        return value
    if hasattr(value, 'asnumpy'):
        return value.asnumpy()
    return numpy.asarray(value)


def check_label_shapes(labels, preds, wrap=False, shape=False):
    """Check that labels and preds match in count (or in shape when ``shape`` is True).

    With ``wrap`` a single array is wrapped in a list. Returns ``(labels, preds)``.
    """
    if not shape:
        label_shape, pred_shape = len(labels), len(preds)
    else:
        label_shape, pred_shape = labels.shape, preds.shape
    if label_shape != pred_shape:
        raise ValueError('Shape of labels {} does not match shape of predictions {}'
                         .format(label_shape, pred_shape))
    if wrap:
        if _is_array(labels):
            labels = [labels]
        if _is_array(preds):
            preds = [preds]
    return labels, preds


class EvalMetric(object):
    """Base class of evaluation metrics.

    A metric accumulates ``sum_metric`` and ``num_inst`` and reports their ratio. Metrics
    created with ``has_global_stats=True`` also keep global sums that ``reset_local``
    leaves alone.

    Parameters
    ----------
    name : str
        Name of the metric.
    output_names : list of str or None
        Names of the predictions that ``update_dict`` uses; None uses all of them.
    label_names : list of str or None
        Names of the labels that ``update_dict`` uses; None uses all of them.
    """

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop('has_global_stats', False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self):
        return 'EvalMetric: {}'.format(dict(self.get_name_value()))

    def get_config(self):
        """Return the constructor arguments as a dict, so that ``create(**config)`` rebuilds
        the metric."""
        config = self._kwargs.copy()
        config.update({'metric': self.__class__.__name__, 'name': self.name,
                       'output_names': self.output_names, 'label_names': self.label_names})
        return config

    def update_dict(self, label, pred):
        """Update from dicts of name to array, selected by ``label_names``/``output_names``."""
        if self.output_names is not None:
            pred = [pred[name] for name in self.output_names]
        else:
            pred = list(pred.values())
        if self.label_names is not None:
            label = [label[name] for name in self.label_names]
        else:
            label = list(label.values())
        self.update(label, pred)

    def update(self, labels, preds):
        """Accumulate the statistics of one batch."""
        raise NotImplementedError('%s must implement update' % type(self).__name__)

    def reset(self):
        """Clear the local and the global statistics."""
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self):
        """Clear the local statistics and keep the global ones."""
        self.num_inst = 0
        self.sum_metric = 0.0

    def get(self):
        """Return ``(name, value)`` of the local statistics; value is nan before any update."""
        if self.num_inst == 0:
            return (self.name, float('nan'))
        return (self.name, self.sum_metric / self.num_inst)

    def get_global(self):
        """Return ``(name, value)`` of the global statistics."""
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return (self.name, float('nan'))
        return (self.name, self.global_sum_metric / self.global_num_inst)

    def get_name_value(self):
        """Return the local values as a list of ``(name, value)`` pairs."""
        return self._zip_pairs(*self.get())

    def get_global_name_value(self):
        """Return the global values as a list of ``(name, value)`` pairs."""
        if not self._has_global_stats:
            return self.get_name_value()
        return self._zip_pairs(*self.get_global())

    @staticmethod
    def _zip_pairs(name, value):
        if not isinstance(name, list):
            name = [name]
        if not isinstance(value, list):
            value = [value]
        return list(zip(name, value))

    def _add(self, metric_sum, count):
        self.sum_metric += metric_sum
        self.global_sum_metric += metric_sum
        self.num_inst += count
        self.global_num_inst += count


@alias('composite')
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together. ``get`` returns lists of names and values."""

    def __init__(self, metrics=None, name='composite', output_names=None, label_names=None):
        super(CompositeEvalMetric, self).__init__(name, output_names=output_names,
                                                  label_names=label_names,
                                                  has_global_stats=True)
        if metrics is None:
            metrics = []
        self.metrics = [create(metric) for metric in metrics]

    def add(self, metric):
        """Append a metric (anything ``create`` accepts)."""
        self.metrics.append(create(metric))

    def get_metric(self, index):
        """Return the child metric at ``index``."""
        # MXNet 1.9.1 returns (instead of raising) a ValueError for a bad index.
        if not -len(self.metrics) <= index < len(self.metrics):
            raise ValueError('get_metric: index %d is out of range for %d metrics'
                             % (index, len(self.metrics)))
        return self.metrics[index]

    def update_dict(self, labels, preds):
        if self.label_names is not None:
            labels = OrderedDict([item for item in labels.items()
                                  if item[0] in self.label_names])
        if self.output_names is not None:
            preds = OrderedDict([item for item in preds.items()
                                 if item[0] in self.output_names])
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds):
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self):
        # reset() runs from the base constructor before self.metrics exists.
        for metric in getattr(self, 'metrics', []):
            metric.reset()

    def reset_local(self):
        for metric in getattr(self, 'metrics', []):
            metric.reset_local()

    def _collect(self, getter):
        names, values = [], []
        for metric in self.metrics:
            name, value = getter(metric)
            if isinstance(name, str):
                name = [name]
            if isinstance(value, numbers.Number):
                value = [value]
            names.extend(name)
            values.extend(value)
        return (names, values)

    def get(self):
        return self._collect(lambda metric: metric.get())

    def get_global(self):
        return self._collect(lambda metric: metric.get_global())

    def get_config(self):
        config = super(CompositeEvalMetric, self).get_config()
        config.update({'metrics': [metric.get_config() for metric in self.metrics]})
        return config


@alias('acc')
class Accuracy(EvalMetric):
    """Fraction of correct predictions.

    When a prediction's shape differs from its label's, the prediction contains class scores
    and its argmax along ``axis`` is the predicted class.
    """

    def __init__(self, axis=1, name='accuracy', output_names=None, label_names=None):
        super(Accuracy, self).__init__(name, axis=axis, output_names=output_names,
                                       label_names=label_names, has_global_stats=True)
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _as_numpy(label)
            pred = _as_numpy(pred)
            if pred.shape != label.shape:
                pred = numpy.argmax(pred, axis=self.axis)
            pred = pred.astype('int32').ravel()
            label = label.astype('int32').ravel()
            check_label_shapes(label, pred)
            self._add(int((pred == label).sum()), len(pred))


@alias('top_k_accuracy', 'top_k_acc')
class TopKAccuracy(EvalMetric):
    """Fraction of samples whose label is among the ``top_k`` highest-scored classes.

    Predictions have shape (batch, num_classes); the name gets the suffix ``_<top_k>``.
    """

    def __init__(self, top_k=1, name='top_k_accuracy', output_names=None, label_names=None):
        super(TopKAccuracy, self).__init__(name, top_k=top_k, output_names=output_names,
                                           label_names=label_names, has_global_stats=True)
        # MXNet 1.9.1 asserts top_k > 1 even though its default is 1; top_k == 1 is plain
        # accuracy, so it is accepted here.
        if not isinstance(top_k, numbers.Integral) or top_k < 1:
            raise ValueError('TopKAccuracy: top_k must be a positive int, got %r' % (top_k,))
        self.top_k = top_k
        self.name += '_%d' % self.top_k

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            pred = _as_numpy(pred).astype('float32')
            if pred.ndim > 2:
                raise ValueError('TopKAccuracy: predictions must have at most 2 dims, got '
                                 'shape %s' % (pred.shape,))
            label = _as_numpy(label).astype('int32')
            num_samples = pred.shape[0]
            check_label_shapes(label, pred)

            if pred.ndim == 1:
                # One score per sample: MXNet compares the argpartition order with the
                # labels, which is kept here for compatibility.
                order = numpy.argpartition(pred, -self.top_k)
                self._add(int((order.ravel() == label.ravel()).sum()), num_samples)
                continue

            num_classes = pred.shape[1]
            top_k = min(num_classes, self.top_k)
            # argpartition puts the top_k largest scores, in any order, in the last columns.
            order = numpy.argpartition(pred, num_classes - top_k, axis=1)
            top = order[:, num_classes - top_k:]
            num_correct = int((top == label.reshape(-1, 1)).sum())
            self._add(num_correct, num_samples)


class _BinaryClassificationStats(object):
    """Confusion counts of a binary classifier, kept locally and globally."""

    def __init__(self):
        self.reset_stats()

    def update_binary_stats(self, label, pred, metric_name):
        pred = _as_numpy(pred)
        label = _as_numpy(label).astype('int32')
        pred_label = numpy.argmax(pred, axis=1)
        check_label_shapes(label, pred)
        if len(numpy.unique(label)) > 2:
            raise ValueError('%s supports binary classification only, but the labels contain '
                             'the classes %s' % (metric_name, numpy.unique(label).tolist()))
        pred_true = pred_label == 1
        label_true = label == 1
        counts = (int((pred_true & label_true).sum()), int((pred_true & ~label_true).sum()),
                  int((~pred_true & label_true).sum()), int((~pred_true & ~label_true).sum()))
        for index, attribute in enumerate(('true_positives', 'false_positives',
                                           'false_negatives', 'true_negatives')):
            setattr(self, attribute, getattr(self, attribute) + counts[index])
            global_attribute = 'global_' + attribute
            setattr(self, global_attribute, getattr(self, global_attribute) + counts[index])

    @staticmethod
    def _fscore(true_pos, false_pos, false_neg):
        precision = true_pos / (true_pos + false_pos) if true_pos + false_pos > 0 else 0.
        recall = true_pos / (true_pos + false_neg) if true_pos + false_neg > 0 else 0.
        if precision + recall > 0:
            return 2 * precision * recall / (precision + recall)
        return 0.

    @staticmethod
    def _matthews(true_pos, false_pos, false_neg, true_neg):
        if true_pos + false_pos + false_neg + true_neg == 0:
            return 0.
        terms = [true_pos + false_pos, true_pos + false_neg, true_neg + false_pos,
                 true_neg + false_neg]
        # As in MXNet, zero marginals are left out of the denominator instead of
        # making the coefficient undefined.
        denominator = 1.
        for term in terms:
            if term != 0:
                denominator *= term
        return (float(true_pos) * true_neg - float(false_pos) * false_neg) / math.sqrt(denominator)

    def local_counts(self):
        return (self.true_positives, self.false_positives, self.false_negatives,
                self.true_negatives)

    def global_counts(self):
        return (self.global_true_positives, self.global_false_positives,
                self.global_false_negatives, self.global_true_negatives)

    @property
    def fscore(self):
        return self._fscore(*self.local_counts()[:3])

    @property
    def global_fscore(self):
        return self._fscore(*self.global_counts()[:3])

    def matthewscc(self, use_global=False):
        return self._matthews(*(self.global_counts() if use_global else self.local_counts()))

    @property
    def total_examples(self):
        return sum(self.local_counts())

    @property
    def global_total_examples(self):
        return sum(self.global_counts())

    def local_reset_stats(self):
        self.true_positives = 0
        self.false_positives = 0
        self.false_negatives = 0
        self.true_negatives = 0

    def reset_stats(self):
        self.local_reset_stats()
        self.global_true_positives = 0
        self.global_false_positives = 0
        self.global_false_negatives = 0
        self.global_true_negatives = 0


class _BinaryMetric(EvalMetric):
    """Shared update of F1 and MCC over class-1 predictions (argmax of 2-column scores).

    With ``average='macro'`` every batch contributes its own score and the counts restart
    per batch. With ``average='micro'`` the score is computed from the counts of all
    batches.
    """

    def __init__(self, name, output_names, label_names, average):
        if average not in ('macro', 'micro'):
            raise ValueError("%s: average must be 'macro' or 'micro', got %r"
                             % (type(self).__name__, average))
        self.average = average
        self.metrics = _BinaryClassificationStats()
        super(_BinaryMetric, self).__init__(name, output_names=output_names,
                                            label_names=label_names, has_global_stats=True)

    def _scores(self):
        raise NotImplementedError

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            self.metrics.update_binary_stats(label, pred, type(self).__name__)
        local_score, global_score = self._scores()
        if self.average == 'macro':
            self.sum_metric += local_score
            self.global_sum_metric += global_score
            self.num_inst += 1
            self.global_num_inst += 1
            self.metrics.reset_stats()
        else:
            self.sum_metric = local_score * self.metrics.total_examples
            self.global_sum_metric = global_score * self.metrics.global_total_examples
            self.num_inst = self.metrics.total_examples
            self.global_num_inst = self.metrics.global_total_examples

    def reset(self):
        super(_BinaryMetric, self).reset()
        self.metrics.reset_stats()

    def reset_local(self):
        super(_BinaryMetric, self).reset_local()
        self.metrics.local_reset_stats()


@register
class F1(_BinaryMetric):
    """F1 score of class 1 for binary classification; preds are (batch, 2) scores.

    Parameters
    ----------
    average : {'macro', 'micro'}
        'macro' averages per-batch scores, 'micro' scores the counts of all batches.
    """

    def __init__(self, name='f1', output_names=None, label_names=None, average='macro'):
        super(F1, self).__init__(name, output_names, label_names, average)

    def _scores(self):
        return self.metrics.fscore, self.metrics.global_fscore


@register
class MCC(_BinaryMetric):
    """Matthews correlation coefficient for binary classification; preds are (batch, 2).

    Parameters
    ----------
    average : {'macro', 'micro'}
        'macro' averages per-batch scores, 'micro' scores the counts of all batches.
    """

    def __init__(self, name='mcc', output_names=None, label_names=None, average='macro'):
        super(MCC, self).__init__(name, output_names, label_names, average)

    def _scores(self):
        return self.metrics.matthewscc(), self.metrics.matthewscc(use_global=True)


class _RegressionMetric(EvalMetric):
    """Shared update of MAE, MSE and RMSE: one value per batch, averaged over batches."""

    def _batch_value(self, diff):
        raise NotImplementedError

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _as_numpy(label)
            pred = _as_numpy(pred)
            if label.ndim == 1:
                label = label.reshape(label.shape[0], 1)
            if pred.ndim == 1:
                pred = pred.reshape(pred.shape[0], 1)
            # As in MXNet 1.9.1 each batch counts once, whatever its size.
            self._add(float(self._batch_value(label - pred)), 1)


@register
class MAE(_RegressionMetric):
    """Mean absolute error, averaged per batch."""

    def __init__(self, name='mae', output_names=None, label_names=None):
        super(MAE, self).__init__(name, output_names=output_names, label_names=label_names,
                                  has_global_stats=True)

    def _batch_value(self, diff):
        return numpy.abs(diff).mean()


@register
class MSE(_RegressionMetric):
    """Mean squared error, averaged per batch."""

    def __init__(self, name='mse', output_names=None, label_names=None):
        super(MSE, self).__init__(name, output_names=output_names, label_names=label_names,
                                  has_global_stats=True)

    def _batch_value(self, diff):
        return (diff ** 2.0).mean()


@register
class RMSE(_RegressionMetric):
    """Root mean squared error of each batch, averaged over batches."""

    def __init__(self, name='rmse', output_names=None, label_names=None):
        super(RMSE, self).__init__(name, output_names=output_names, label_names=label_names,
                                   has_global_stats=True)

    def _batch_value(self, diff):
        return numpy.sqrt((diff ** 2.0).mean())


@alias('ce')
class CrossEntropy(EvalMetric):
    """Mean of ``-log(p[label] + eps)`` over samples, where preds are probabilities (batch, C)."""

    def __init__(self, eps=1e-12, name='cross-entropy', output_names=None, label_names=None):
        super(CrossEntropy, self).__init__(name, eps=eps, output_names=output_names,
                                           label_names=label_names, has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _as_numpy(label).ravel()
            pred = _as_numpy(pred)
            if label.shape[0] != pred.shape[0]:
                raise ValueError('%s: %d labels for %d predictions'
                                 % (type(self).__name__, label.shape[0], pred.shape[0]))
            prob = pred[numpy.arange(label.shape[0]), numpy.int64(label)]
            self._add(float((-numpy.log(prob + self.eps)).sum()), label.shape[0])


@alias('nll_loss')
class NegativeLogLikelihood(CrossEntropy):
    """Negative log likelihood; the same computation as CrossEntropy under another name."""

    def __init__(self, eps=1e-12, name='nll-loss', output_names=None, label_names=None):
        super(NegativeLogLikelihood, self).__init__(eps=eps, name=name,
                                                    output_names=output_names,
                                                    label_names=label_names)


@register
class Perplexity(EvalMetric):
    """Perplexity ``exp(mean(-log p[label]))``, skipping labels equal to ``ignore_label``.

    Parameters
    ----------
    ignore_label : int or None
        Label value excluded from the average.
    axis : int
        Class axis of the predictions.
    """

    def __init__(self, ignore_label, axis=-1, name='perplexity', output_names=None,
                 label_names=None):
        super(Perplexity, self).__init__(name, ignore_label=ignore_label,
                                         output_names=output_names, label_names=label_names,
                                         has_global_stats=True)
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        loss = 0.0
        num = 0
        for label, pred in zip(labels, preds):
            label = _as_numpy(label)
            pred = _as_numpy(pred)
            if label.size != pred.size // pred.shape[self.axis]:
                raise ValueError('Perplexity: label size %d does not match prediction shape %s '
                                 'with classes on axis %d' % (label.size, pred.shape, self.axis))
            scores = numpy.moveaxis(pred, self.axis, -1).reshape(label.size, -1)
            label = label.astype('int64').reshape(-1)
            prob = scores[numpy.arange(label.size), label]
            if self.ignore_label is not None:
                keep = label != self.ignore_label
                prob = prob[keep]
            # MXNet clips probabilities at 1e-10 before taking the log.
            loss -= float(numpy.log(numpy.maximum(1e-10, prob)).sum())
            num += prob.size
        self._add(loss, num)

    def get(self):
        if self.num_inst == 0:
            return (self.name, float('nan'))
        return (self.name, float(numpy.exp(self.sum_metric / self.num_inst)))

    def get_global(self):
        if self.global_num_inst == 0:
            return (self.name, float('nan'))
        return (self.name, float(numpy.exp(self.global_sum_metric / self.global_num_inst)))


@alias('pearsonr')
class PearsonCorrelation(EvalMetric):
    """Pearson correlation between predictions and labels (flattened).

    Parameters
    ----------
    average : {'macro', 'micro'}
        'macro' averages the correlation of each batch. 'micro' computes one correlation
        over all values seen, with running means and co-moments (Welford's method).
    """

    def __init__(self, name='pearsonr', output_names=None, label_names=None, average='macro'):
        if average not in ('macro', 'micro'):
            raise ValueError("PearsonCorrelation: average must be 'macro' or 'micro', got %r"
                             % (average,))
        self.average = average
        super(PearsonCorrelation, self).__init__(name, output_names=output_names,
                                                 label_names=label_names,
                                                 has_global_stats=True)

    def _reset_micro(self):
        self._count = 0
        self._mean_pred = 0.
        self._mean_label = 0.
        self._m2_pred = 0.
        self._m2_label = 0.
        self._comoment = 0.

    def reset(self):
        super(PearsonCorrelation, self).reset()
        self._reset_micro()

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _as_numpy(label)
            pred = _as_numpy(pred)
            check_label_shapes(label, pred, False, True)
            label = label.ravel().astype(numpy.float64)
            pred = pred.ravel().astype(numpy.float64)
            if self.average == 'macro':
                self._add(float(numpy.corrcoef(pred, label)[0, 1]), 1)
                continue

            self.num_inst += 1
            self.global_num_inst += 1
            count = self._count + label.size
            delta_label = label - self._mean_label
            delta_pred = pred - self._mean_pred
            self._mean_label += delta_label.sum() / count
            self._mean_pred += delta_pred.sum() / count
            self._m2_label += float(numpy.sum(delta_label * (label - self._mean_label)))
            self._m2_pred += float(numpy.sum(delta_pred * (pred - self._mean_pred)))
            # One old and one updated mean give the exact co-moment update.
            self._comoment += float(numpy.sum(delta_pred * (label - self._mean_label)))
            self._count = count

    def get(self):
        if self.num_inst == 0:
            return (self.name, float('nan'))
        if self.average == 'macro':
            return (self.name, self.sum_metric / self.num_inst)
        return (self.name, self._comoment / math.sqrt(self._m2_pred * self._m2_label))

    def get_global(self):
        if self.average == 'micro':
            # Micro statistics are not split into local and global parts.
            return self.get()
        return super(PearsonCorrelation, self).get_global()


@register
class PCC(EvalMetric):
    """Multiclass Matthews correlation (Pearson correlation of the confusion matrix).

    Predictions are class scores (argmax is taken) or class indices of the label's shape.
    The confusion matrix grows to the largest class seen. The value is nan when all
    labels or all predictions fall in one class.
    """

    def __init__(self, name='pcc', output_names=None, label_names=None,
                 has_global_stats=True):
        self.k = 2
        super(PCC, self).__init__(name, output_names=output_names, label_names=label_names,
                                  has_global_stats=has_global_stats)

    def _grow(self, increment):
        padding = ((0, increment), (0, increment))
        self.lcm = numpy.pad(self.lcm, padding, 'constant', constant_values=0)
        self.gcm = numpy.pad(self.gcm, padding, 'constant', constant_values=0)
        self.k += increment

    @staticmethod
    def _calc_mcc(cmat):
        n = cmat.sum()
        x = cmat.sum(axis=1)
        y = cmat.sum(axis=0)
        cov_xx = numpy.sum(x * (n - x))
        cov_yy = numpy.sum(y * (n - y))
        if cov_xx == 0 or cov_yy == 0:
            return float('nan')
        cov_xy = numpy.sum(cmat.diagonal() * n - x * y)
        return float(cov_xy / (cov_xx * cov_yy) ** 0.5)

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _as_numpy(label).astype('int32')
            pred = _as_numpy(pred)
            if pred.shape != label.shape:
                pred = pred.argmax(axis=1)
            pred = pred.astype('int32').ravel()
            label = label.ravel()
            largest = max(int(pred.max()), int(label.max()))
            if largest >= self.k:
                self._grow(largest + 1 - self.k)
            batch = numpy.zeros((self.k, self.k))
            numpy.add.at(batch, (pred, label), 1)
            self.lcm += batch
            self.gcm += batch
        # As in MXNet, num_inst counts update calls, which only matters for sum_metric.
        self.num_inst += 1
        self.global_num_inst += 1

    @property
    def sum_metric(self):
        return self._calc_mcc(self.lcm) * self.num_inst

    @property
    def global_sum_metric(self):
        return self._calc_mcc(self.gcm) * self.global_num_inst

    def reset(self):
        self.global_num_inst = 0
        self.gcm = numpy.zeros((self.k, self.k))
        self.reset_local()

    def reset_local(self):
        self.num_inst = 0
        self.lcm = numpy.zeros((self.k, self.k))


@register
class Loss(EvalMetric):
    """Mean of the predictions, which are per-sample losses; labels are ignored."""

    def __init__(self, name='loss', output_names=None, label_names=None):
        super(Loss, self).__init__(name, output_names=output_names, label_names=label_names,
                                   has_global_stats=True)

    def update(self, _, preds):
        if _is_array(preds):
            preds = [preds]
        for pred in preds:
            pred = _as_numpy(pred)
            self._add(float(pred.sum()), pred.size)


@register
class Torch(Loss):
    """Loss metric under the name 'torch' (kept for MXNet compatibility)."""

    def __init__(self, name='torch', output_names=None, label_names=None):
        super(Torch, self).__init__(name, output_names=output_names, label_names=label_names)


@register
class Caffe(Loss):
    """Loss metric under the name 'caffe' (kept for MXNet compatibility)."""

    def __init__(self, name='caffe', output_names=None, label_names=None):
        super(Caffe, self).__init__(name, output_names=output_names, label_names=label_names)


@register
class CustomMetric(EvalMetric):
    """Metric computed by ``feval(label, pred)`` on NumPy arrays.

    ``feval`` returns either a value (counted as one instance) or a tuple
    ``(sum_metric, num_inst)``.

    Parameters
    ----------
    feval : callable
        Function of two NumPy arrays.
    name : str or None
        Metric name; None uses ``feval.__name__`` (``custom(<lambda>)`` for a lambda).
    allow_extra_outputs : bool
        Skip the check that labels and preds have the same count.
    """

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None,
                 label_names=None):
        if name is None:
            name = feval.__name__
            if name.find('<') != -1:
                name = 'custom(%s)' % name
        super(CustomMetric, self).__init__(name, feval=feval,
                                           allow_extra_outputs=allow_extra_outputs,
                                           output_names=output_names, label_names=label_names,
                                           has_global_stats=True)
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels, preds):
        if not self._allow_extra_outputs:
            labels, preds = check_label_shapes(labels, preds, True)
        elif _is_array(labels) or _is_array(preds):
            labels, preds = check_label_shapes([labels] if _is_array(labels) else labels,
                                               [preds] if _is_array(preds) else preds)
        for pred, label in zip(preds, labels):
            reval = self._feval(_as_numpy(label), _as_numpy(pred))
            if isinstance(reval, tuple):
                metric_sum, count = reval
                self._add(metric_sum, count)
            else:
                self._add(reval, 1)

    def get_config(self):
        raise NotImplementedError('CustomMetric cannot be serialized because feval is a '
                                  'Python function')


def np(numpy_feval, name=None, allow_extra_outputs=False):
    """Create a CustomMetric from a function ``numpy_feval(label, pred)`` of NumPy arrays."""
    def feval(label, pred):
        return numpy_feval(label, pred)
    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)
