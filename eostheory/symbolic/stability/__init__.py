r"""Linear and mean-square stability of optimizers, and the flip bifurcation of GD.

Everything here is derived with sympy from the optimizer's single definition, its
:class:`~eostheory.symbolic.rules.UpdateRule` (derivations and sources in ``docs/stability.md``).

**Deterministic thresholds.**  On a quadratic :math:`L = \tfrac12 \lambda w^2` the gradient
is :math:`g = \lambda w`, and an optimizer whose step is linear in its state
:math:`x = (w, v_1, \dots, v_k)` becomes :math:`x_{t+1} = A(\lambda)\, x_t`.  Its
characteristic polynomial :math:`p(z) = \det(zI - A(\lambda))` has a root on the unit
circle exactly when one of three factors vanishes:

* :math:`p(1) = 0` — a root leaves through :math:`z = +1`;
* :math:`p(-1) = 0` — through :math:`z = -1` (period doubling, the edge-of-stability
  oscillation);
* :math:`\det(I - A^{(2)}) = \prod_{i<j}(1 - z_i z_j) = 0` — a complex pair
  :math:`e^{\pm i\theta}` (Neimark–Sacker), where :math:`A^{(2)}` is the second compound
  matrix of :math:`A` (its :math:`2\times 2` minors, eigenvalues :math:`z_i z_j`).

These are the boundaries of the Schur–Cohn (Jury) conditions.  :func:`thresholds` finds
the candidate curvatures on all three, decides with exact sample values of the
hyperparameters which one is crossed first as :math:`\lambda` grows from 0, and returns
that branch as a simplified sympy expression together with the crossing type.

**Mean-square stability.**  With i.i.d. random curvature :math:`h_t` (mean :math:`a`,
second moment :math:`m_2`) the second moments :math:`E[x_t x_t^\top]` follow a linear map
(:func:`mean_square`); its boundary :math:`\det(I - M) = 0` is affine in :math:`m_2`.

**Flip bifurcation.**  :func:`flip_bifurcation` classifies the period doubling of GD on a
one-dimensional potential at :math:`L'' = 2/\eta` and, for polynomial potentials, follows
the 2-cycle exactly.

Curvature symbol: ``lam`` (printed :math:`\lambda`; ``lambda`` is a Python keyword, so
``lam`` keeps text output parseable); polynomial variable ``z``.

The modules: :mod:`._linear` (the step matrix :math:`A(\lambda)` of a rule),
:mod:`._format` (text, LaTeX and display forms), :mod:`._thresholds` (deterministic
thresholds: the Schur–Cohn conditions), :mod:`._matrix` (matrix curvature, preconditioning and mean-square
stability), :mod:`._flip` (the flip bifurcation and 2-cycles of GD).
"""

from eostheory.symbolic.stability._flip import FlipResult, TwoCycle, flip_bifurcation, two_cycles
from eostheory.symbolic.stability._format import _show as _show  # the compact text form, used by the checks
from eostheory.symbolic.stability._format import as_text, display
from eostheory.symbolic.stability._linear import LAMBDA, as_rule, linear_map
from eostheory.symbolic.stability._matrix import MatrixStability, MeanSquareResult, matrix_stability, mean_square
from eostheory.symbolic.stability._thresholds import CROSSINGS, StabilityResult, thresholds
from eostheory.symbolic.stability._thresholds import (
    _schur_cohn as _schur_cohn,  # the Jury conditions, used by the orbits
)

__all__ = [
    "CROSSINGS",
    "LAMBDA",
    "FlipResult",
    "MatrixStability",
    "MeanSquareResult",
    "StabilityResult",
    "TwoCycle",
    "as_rule",
    "as_text",
    "display",
    "flip_bifurcation",
    "linear_map",
    "matrix_stability",
    "mean_square",
    "thresholds",
    "two_cycles",
]
