"""Activation layers."""

from ... import initializer
from ..block import HybridBlock

__all__ = ['Activation', 'LeakyReLU', 'PReLU', 'ELU', 'SELU', 'Swish', 'GELU']


class Activation(HybridBlock):
    """Apply an activation function element-wise.

    Parameters
    ----------
    activation : str
        One of ``'relu'``, ``'sigmoid'``, ``'tanh'``, ``'softrelu'``, ``'softsign'``
        (the ``act_type`` values of the Activation operator).

    Inputs:
        - **data**: input of any shape.

    Outputs:
        - **out**: same shape as the input.
    """

    def __init__(self, activation, **kwargs):
        self._act_type = activation
        super().__init__(**kwargs)

    def _alias(self):
        return self._act_type

    def hybrid_forward(self, F, x):
        return F.Activation(x, act_type=self._act_type, name='fwd')

    def __repr__(self):
        return '%s(%s)' % (self.__class__.__name__, self._act_type)


class LeakyReLU(HybridBlock):
    """Leaky ReLU: ``x`` for ``x >= 0`` and ``alpha * x`` otherwise.

    Parameters
    ----------
    alpha : float
        Slope for negative inputs, at least 0.

    Inputs:
        - **data**: input of any shape.

    Outputs:
        - **out**: same shape as the input.
    """

    def __init__(self, alpha, **kwargs):
        if alpha < 0:
            raise ValueError('LeakyReLU: slope coefficient alpha must be at least 0, got %r'
                             % (alpha,))
        super().__init__(**kwargs)
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type='leaky', slope=self._alpha, name='fwd')

    def __repr__(self):
        return '%s(%s)' % (self.__class__.__name__, self._alpha)


class PReLU(HybridBlock):
    """Parametric ReLU (He et al., 2015): leaky ReLU with a learned slope ``alpha``.

    Parameters
    ----------
    alpha_initializer : Initializer, default Constant(0.25)
    in_channels : int, default 1
        Number of slopes: 1 shares one slope, otherwise one per channel (axis 1).

    Inputs:
        - **data**: input of any shape.

    Outputs:
        - **out**: same shape as the input.
    """

    def __init__(self, alpha_initializer=initializer.Constant(0.25), in_channels=1, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.alpha = self.params.get('alpha', shape=(in_channels,), init=alpha_initializer)

    def hybrid_forward(self, F, x, alpha):
        return F.LeakyReLU(x, gamma=alpha, act_type='prelu', name='fwd')


class ELU(HybridBlock):
    """Exponential linear unit (Clevert et al., 2016).

    ``x`` for ``x > 0`` and ``alpha * (exp(x) - 1)`` otherwise.

    Parameters
    ----------
    alpha : float, default 1.0

    Inputs:
        - **data**: input of any shape.

    Outputs:
        - **out**: same shape as the input.
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type='elu', slope=self._alpha)


class SELU(HybridBlock):
    """Scaled exponential linear unit (Klambauer et al., 2017).

    Inputs:
        - **data**: input of any shape.

    Outputs:
        - **out**: same shape as the input.
    """

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type='selu', name='fwd')


class GELU(HybridBlock):
    """Gaussian error linear unit (Hendrycks and Gimpel, 2016): ``x * Phi(x)`` with the erf form.

    Inputs:
        - **data**: input of any shape.

    Outputs:
        - **out**: same shape as the input.
    """

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type='gelu', name='fwd')


class Swish(HybridBlock):
    """Swish (Ramachandran et al., 2017): ``x * sigmoid(beta * x)``.

    Parameters
    ----------
    beta : float, default 1.0

    Inputs:
        - **data**: input of any shape.

    Outputs:
        - **out**: same shape as the input.
    """

    def __init__(self, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self._beta = beta

    def hybrid_forward(self, F, x):
        return x * F.sigmoid(self._beta * x, name='fwd')
