r"""Symbolic networks: small nets whose loss, derivatives and theory are exact.

A :class:`SymbolicNet` is a model :math:`f(x;\theta)` with a per-example loss
:math:`\ell(f(x;\theta), y)`, written in sympy with the data point :math:`(x, y)` as
*symbols*, and a data set held as numeric arrays.  The training loss is the average

.. math:: L(\theta) = \frac1N \sum_{i=1}^N \ell\big(f(x_i;\theta), y_i\big).

Only the per-example expression is ever differentiated; the sum over the data happens
numerically inside the compiled kernels (:mod:`eostheory.compile._netkernels`), so the
size of the generated code does not grow with :math:`N`, and the data are runtime
arguments (changing them never recompiles).  Derivatives go through the output by the
chain rule, which is exact:

.. math::
    \nabla L = \frac1N\sum_i \sum_k \ell_k\, \nabla f_k, \qquad
    \nabla^2 L = \frac1N\sum_i \Big[\sum_{k,l} \ell_{kl}\, \nabla f_k \nabla f_l^\top
        + \sum_k \ell_k\, \nabla^2 f_k\Big],

with :math:`\ell_k = \partial\ell/\partial f_k` etc.; :math:`\nabla f`, the (sparse)
:math:`\nabla^2 f` and :math:`\nabla^3 f[u,u]` are derived symbolically per example.

Models (constructors): :func:`two_layer` :math:`f(x) = \sum_j a_j\,\sigma(w_j^\top x + b_j)`
(with or without biases, scalar or vector output), :func:`two_layer_linear`
:math:`f(x) = A W x` and :func:`linear_chain` :math:`f(x) = w_L \cdots w_1 x`.
Activations: ``tanh``, ``softplus`` (:math:`\log(1 + e^z)`, a smooth ReLU), ``sigmoid``,
``quadratic`` (:math:`z^2`), ``identity``, or any sympy function of one variable.
Losses: ``mse`` :math:`\tfrac12\|f - y\|^2` and ``logistic``
:math:`\log(1 + e^{-y f})` (scalar output, labels :math:`\pm 1`).

Derived theory: :func:`conserved_quantities` (balancedness
:math:`\|a_j\|^2 - (\|w_j\|^2 + b_j^2)/k` for :math:`k`-homogeneous activations, the
matrix :math:`A^\top A - W W^\top` for linear nets, :math:`w_i^2 - w_{i+1}^2` for chains;
each with its symbolic rate of change under gradient flow) and :func:`minimum_theory`
(sharpness at global minima of linear chains and two-layer linear nets, the balanced
minimum-sharpness solutions and the step size :math:`2/S` beyond which gradient descent
cannot converge to a given minimum).

The modules: :mod:`._activations` (activation functions), :mod:`._model` (the model,
the losses and the architectures' constructors), :mod:`._theory` (conserved quantities,
minima of linear nets).
"""

from eostheory.symbolic.nets._activations import ACTIVATIONS, Activation, Z, activation, elementary, sigmoid, softplus
from eostheory.symbolic.nets._model import (
    LOSSES,
    MAX_CHAIN_DEPTH,
    NET_KINDS,
    SymbolicNet,
    UnitTemplate,
    linear_chain,
    make_net,
    output_hessian_entries,
    output_jacobian,
    output_third_contraction,
    two_layer,
    two_layer_linear,
)
from eostheory.symbolic.nets._theory import ConservedQuantity, MinimumTheory, conserved_quantities, minimum_theory

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "MAX_CHAIN_DEPTH",
    "NET_KINDS",
    "Activation",
    "ConservedQuantity",
    "MinimumTheory",
    "SymbolicNet",
    "UnitTemplate",
    "Z",
    "activation",
    "conserved_quantities",
    "elementary",
    "linear_chain",
    "make_net",
    "minimum_theory",
    "output_hessian_entries",
    "output_jacobian",
    "output_third_contraction",
    "sigmoid",
    "softplus",
    "two_layer",
    "two_layer_linear",
]
