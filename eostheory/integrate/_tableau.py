r"""Explicit Runge–Kutta methods as data: Butcher tableaux and one generic step.

An :math:`s`-stage explicit Runge–Kutta method for :math:`\dot y = f(y)` is its Butcher
tableau :math:`(c, A, b)` (Hairer, Nørsett & Wanner, *Solving Ordinary Differential
Equations I*, §II.1):

.. math::

    k_1 = f(y), \qquad k_i = f\Big(y + h \sum_{j<i} a_{ij} k_j\Big) \quad (i = 2, \dots, s),
    \qquad y_1 = y + h \sum_i b_i k_i .

An embedded pair adds error weights :math:`e_i` (the difference between the weights of the
propagated solution and of a lower-order one): the local error estimate is
:math:`h \sum_i e_i k_i`.  A continuous extension (dense output) replaces :math:`b_i` by
polynomials :math:`b_i(\theta)` with :math:`b_i(1) = b_i`:
:math:`y(t + \theta h) \approx y + h \sum_i b_i(\theta) k_i`.

:func:`explicit_step` takes one step of any tableau on anything that supports ``+``,
``-`` and multiplication by a Python float (numpy arrays, torch tensors); the compiled loop
of :func:`~eostheory.integrate.solve` runs the same tableaux through numba source
generated from them (:mod:`eostheory.integrate._codegen`).  Coefficients are stored as
exact fractions, so :meth:`ButcherTableau.validate` checks the order conditions exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import lcm
from typing import Any, NamedTuple

from eostheory._errors import EosInputError

__all__ = [
    "DOPRI5",
    "EULER",
    "RK4",
    "TABLEAUX",
    "ButcherTableau",
    "StepResult",
    "explicit_step",
    "register_tableau",
    "rooted_trees",
]

Coef = Fraction | int | str


def _frac(v: Any, what: str) -> Fraction:
    if isinstance(v, bool) or not isinstance(v, Fraction | int | str):
        raise EosInputError(
            f"tableau coefficient {what} must be an exact number (int, Fraction or a string like '1/3'), got {v!r}"
        )
    try:
        return Fraction(v)
    except (ValueError, ZeroDivisionError):
        raise EosInputError(f"tableau coefficient {what} is not a rational number: {v!r}") from None


def _fracs(vals: Sequence[Coef], what: str) -> tuple[Fraction, ...]:
    return tuple(_frac(v, f"{what}[{i}]") for i, v in enumerate(vals))


@dataclass(frozen=True)
class ButcherTableau:
    r"""An explicit Runge–Kutta method, as data.

    Attributes:
        name: registry name (``method=`` of :func:`~eostheory.integrate.solve`).
        c: the nodes :math:`c_1 = 0, c_2, \dots, c_s`.
        a: the strictly lower-triangular rows: ``a[i]`` holds :math:`a_{i+1,1..i}` for the
            stages after the first (``s - 1`` rows of lengths ``1, …, s - 1``).
        b: the weights :math:`b_1, \dots, b_s`.
        order: the order :math:`p` of the propagated solution.
        b_err: the error weights :math:`e_i` (``None`` for a method without an embedded
            estimate, which then runs with a fixed step).
        err_order: the order :math:`\hat p` of the embedded solution (weights ``b - b_err``).
        fsal: first same as last: the last stage is evaluated at :math:`y_1`
            (:math:`a_{s,j} = b_j`, :math:`b_s = 0`), so its :math:`k_s = f(y_1)` is the next
            step's :math:`k_1`.
        dense: the dense-output polynomials, one row per stage: ``dense[i][m]`` is the
            coefficient of :math:`\theta^{m+1}` in :math:`b_i(\theta)` (``None``: the loop
            uses the cubic Hermite interpolant of the step's ends).
        dense_order: the order of the continuous extension.
        integer_weights: evaluate each stage combination as integers over their common
            denominator, :math:`h(k_1 + 2k_2 + 2k_3 + k_4)/6` as the classical RK4 is
            written (exact numerators, one rounding of the division), rather than with
            floating coefficients; a choice of rounding only, not of the method.
        description: one line for the docs.
    """

    name: str
    c: tuple[Fraction, ...]
    a: tuple[tuple[Fraction, ...], ...]
    b: tuple[Fraction, ...]
    order: int
    b_err: tuple[Fraction, ...] | None = None
    err_order: int | None = None
    fsal: bool = False
    dense: tuple[tuple[Fraction, ...], ...] | None = None
    dense_order: int | None = None
    integer_weights: bool = False
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier() or not self.name.islower():
            raise EosInputError(f"a tableau name must be a lower-case identifier, got {self.name!r}")
        object.__setattr__(self, "c", _fracs(self.c, "c"))
        object.__setattr__(self, "a", tuple(_fracs(row, f"a[{i}]") for i, row in enumerate(self.a)))
        object.__setattr__(self, "b", _fracs(self.b, "b"))
        if self.b_err is not None:
            object.__setattr__(self, "b_err", _fracs(self.b_err, "b_err"))
        if self.dense is not None:
            object.__setattr__(self, "dense", tuple(_fracs(row, f"dense[{i}]") for i, row in enumerate(self.dense)))
        if not isinstance(self.order, int) or self.order < 1:
            raise EosInputError(f"tableau {self.name}: order must be a positive integer, got {self.order!r}")

    # --- derived properties -------------------------------------------------------------
    @property
    def stages(self) -> int:
        """Number of stages :math:`s` (right-hand sides per step, counting :math:`k_1`)."""
        return len(self.b)

    @property
    def adaptive(self) -> bool:
        """Whether the method carries an embedded error estimate (step-size control)."""
        return self.b_err is not None

    @property
    def rhs_per_step(self) -> int:
        """New right-hand-side evaluations per step when :math:`f(y)` is reused (FSAL or not)."""
        return self.stages - 1 if self.fsal else self.stages

    @property
    def error_exponent(self) -> float:
        r"""The controller's exponent :math:`-1/(\min(p, \hat p) + 1)` (``0`` without an estimate)."""
        if self.b_err is None:
            return 0.0
        q = min(self.order, self.err_order if self.err_order is not None else self.order - 1)
        return -1.0 / (q + 1)

    def matrix(self) -> list[list[Fraction]]:
        """The full :math:`s \\times s` matrix :math:`A` (zeros on and above the diagonal)."""
        s = self.stages
        rows = [[Fraction(0)] * s]
        for i, row in enumerate(self.a, start=1):
            rows.append(list(row) + [Fraction(0)] * (s - i))
        return rows

    # --- checks -------------------------------------------------------------------------
    def order_defects(self, weights: Sequence[Fraction] | None = None, order: int | None = None) -> list[str]:
        r"""The order conditions up to ``order`` that ``weights`` (default :math:`b`) violate.

        For every rooted tree :math:`t` with :math:`|t| \le p` (1, 1, 2, 4, 9, 20 trees of
        orders 1–6) the condition is :math:`\sum_i b_i \Phi_i(t) = 1/\gamma(t)`, with the
        elementary weights :math:`\Phi_i(\bullet) = 1`,
        :math:`\Phi_i([t_1, \dots, t_m]) = \prod_k \sum_j a_{ij} \Phi_j(t_k)` and the density
        :math:`\gamma(t) = |t| \prod_k \gamma(t_k)` (HNW I, Theorem II.2.13).  Exact in
        rational arithmetic.
        """
        w = list(self.b if weights is None else weights)
        p = self.order if order is None else order
        A = self.matrix()
        bad = []
        for t in rooted_trees(p):
            phi = _elementary_weights(t, A)
            lhs = sum((wi * ph for wi, ph in zip(w, phi, strict=True)), Fraction(0))
            if lhs != 1 / Fraction(_density(t)):
                bad.append(f"tree {_tree_str(t)} (order {_tree_order(t)}): sum = {lhs}, needs 1/{_density(t)}")
        return bad

    def validate(self) -> ButcherTableau:
        r"""Check the tableau's shape and its order conditions exactly; return it.

        Checks: shapes (``c``, ``b`` of length :math:`s`, ``a`` strictly lower triangular),
        :math:`c_1 = 0` and the row sums :math:`c_i = \sum_j a_{ij}`; the order conditions of
        :math:`b` up to ``order``; for an embedded pair :math:`\sum_i e_i = 0` and the
        conditions of :math:`b - e` up to ``err_order``; for FSAL the last row equal to
        :math:`b` (and :math:`b_s = 0`, :math:`c_s = 1`); for dense output
        :math:`b_i(1) = b_i` and the order conditions of :math:`b(\theta)` as polynomial
        identities :math:`\sum_i b_i(\theta)\Phi_i(t) = \theta^{|t|}/\gamma(t)` up to
        ``dense_order``.

        Raises:
            EosInputError: naming the first condition that fails.
        """
        s = self.stages
        nm = f"tableau {self.name}"
        if s < 1 or len(self.c) != s:
            raise EosInputError(f"{nm}: c has {len(self.c)} nodes for {s} weights")
        if len(self.a) != s - 1 or any(len(row) != i for i, row in enumerate(self.a, start=1)):
            raise EosInputError(f"{nm}: a must hold s - 1 = {s - 1} rows of lengths 1, 2, …, {s - 1} (explicit method)")
        if self.c[0] != 0:
            raise EosInputError(f"{nm}: the first node c_1 must be 0, got {self.c[0]}")
        for i, row in enumerate(self.a, start=1):
            if sum(row, Fraction(0)) != self.c[i]:
                raise EosInputError(f"{nm}: row sum of stage {i + 1} is {sum(row, Fraction(0))}, but c = {self.c[i]}")
        bad = self.order_defects()
        if bad:
            raise EosInputError(f"{nm}: not of order {self.order}: {bad[0]}")
        if self.b_err is not None:
            if len(self.b_err) != s:
                raise EosInputError(f"{nm}: b_err has {len(self.b_err)} weights for {s} stages")
            if self.err_order is None or not 1 <= self.err_order:
                raise EosInputError(f"{nm}: an embedded pair needs err_order >= 1")
            if sum(self.b_err, Fraction(0)) != 0:
                raise EosInputError(f"{nm}: the error weights must sum to 0, got {sum(self.b_err, Fraction(0))}")
            emb = [bi - ei for bi, ei in zip(self.b, self.b_err, strict=True)]
            bad = self.order_defects(emb, self.err_order)
            if bad:
                raise EosInputError(f"{nm}: the embedded solution b - b_err is not of order {self.err_order}: {bad[0]}")
        if self.fsal and (s < 2 or list(self.a[-1]) != list(self.b[:-1]) or self.b[-1] != 0 or self.c[-1] != 1):
            raise EosInputError(f"{nm}: first-same-as-last needs the last row of a equal to b, b_s = 0 and c_s = 1")
        if self.dense is not None:
            self._validate_dense(nm)
        return self

    def _validate_dense(self, nm: str) -> None:
        dense = self.dense
        assert dense is not None
        s = self.stages
        if len(dense) != s or len({len(r) for r in dense}) != 1:
            raise EosInputError(f"{nm}: dense needs one row of polynomial coefficients per stage, all of one length")
        for i, row in enumerate(dense):
            if sum(row, Fraction(0)) != self.b[i]:
                raise EosInputError(
                    f"{nm}: dense output b_{i + 1}(1) = {sum(row, Fraction(0))} differs from b = {self.b[i]}"
                )
        q = self.dense_order
        if q is None or q < 1:
            raise EosInputError(f"{nm}: dense output needs dense_order >= 1")
        A = self.matrix()
        deg = len(dense[0])
        for t in rooted_trees(q):
            phi = _elementary_weights(t, A)
            coef = [sum((dense[i][m] * phi[i] for i in range(s)), Fraction(0)) for m in range(deg)]
            want = [Fraction(0)] * max(deg, _tree_order(t))
            want[_tree_order(t) - 1] = 1 / Fraction(_density(t))
            if coef + [Fraction(0)] * (len(want) - deg) != want:
                raise EosInputError(f"{nm}: dense output is not of order {q} (tree {_tree_str(t)})")

    # --- float views (what the steps use) -----------------------------------------------
    @functools.cached_property
    def a_float(self) -> tuple[tuple[float, ...], ...]:
        """``a`` as floats (each the correctly rounded value of its fraction)."""
        return tuple(tuple(float(v) for v in row) for row in self.a)

    @functools.cached_property
    def b_float(self) -> tuple[float, ...]:
        """``b`` as floats."""
        return tuple(float(v) for v in self.b)

    @functools.cached_property
    def b_err_float(self) -> tuple[float, ...] | None:
        """``b_err`` as floats (``None`` without an estimate)."""
        return None if self.b_err is None else tuple(float(v) for v in self.b_err)


# --- rooted trees (order conditions) -------------------------------------------------------
Tree = tuple  # a rooted tree: the sorted tuple of its subtrees; () is the single node


def _canon(t: Tree) -> Tree:
    return tuple(sorted((_canon(u) for u in t), key=repr))


def _add_leaf(t: Tree) -> set[Tree]:
    out = {_canon((*t, ()))}
    for k, u in enumerate(t):
        for v in _add_leaf(u):
            out.add(_canon((*t[:k], v, *t[k + 1 :])))
    return out


@functools.cache
def rooted_trees(order: int) -> tuple[Tree, ...]:
    """All rooted trees with at most ``order`` nodes (1, 1, 2, 4, 9, 20, 48 of orders 1–7)."""
    level: set[Tree] = {()}
    out: list[Tree] = [()]
    for _ in range(order - 1):
        level = {v for t in level for v in _add_leaf(t)}
        out += sorted(level, key=repr)
    return tuple(out)


def _tree_order(t: Tree) -> int:
    return 1 + sum(_tree_order(u) for u in t)


def _density(t: Tree) -> int:
    d = _tree_order(t)
    for u in t:
        d *= _density(u)
    return d


def _tree_str(t: Tree) -> str:
    return "•" if not t else "[" + ",".join(_tree_str(u) for u in t) + "]"


def _elementary_weights(t: Tree, A: list[list[Fraction]]) -> list[Fraction]:
    s = len(A)
    phi = [Fraction(1)] * s
    for u in t:
        pu = _elementary_weights(u, A)
        for i in range(s):
            phi[i] *= sum((A[i][j] * pu[j] for j in range(s)), Fraction(0))
    return phi


# --- the methods ---------------------------------------------------------------------------
F = Fraction

EULER = ButcherTableau(
    name="euler",
    c=(0,),
    a=(),
    b=(1,),
    order=1,
    description="explicit Euler, y + h f(y); with h = 1 on gradient flow it is gradient descent",
)

RK4 = ButcherTableau(
    name="rk4",
    c=(0, F(1, 2), F(1, 2), 1),
    a=((F(1, 2),), (0, F(1, 2)), (0, 0, 1)),
    b=(F(1, 6), F(1, 3), F(1, 3), F(1, 6)),
    order=4,
    integer_weights=True,
    description="classical fourth-order Runge-Kutta, fixed step",
)

#: Dormand & Prince (1980) 5(4), first same as last; dense output of Shampine (1986), as
#: in Hairer–Nørsett–Wanner's DOPRI5 and scipy's RK45.
DOPRI5 = ButcherTableau(
    name="dopri5",
    c=(0, F(1, 5), F(3, 10), F(4, 5), F(8, 9), 1, 1),
    a=(
        (F(1, 5),),
        (F(3, 40), F(9, 40)),
        (F(44, 45), F(-56, 15), F(32, 9)),
        (F(19372, 6561), F(-25360, 2187), F(64448, 6561), F(-212, 729)),
        (F(9017, 3168), F(-355, 33), F(46732, 5247), F(49, 176), F(-5103, 18656)),
        (F(35, 384), 0, F(500, 1113), F(125, 192), F(-2187, 6784), F(11, 84)),
    ),
    b=(F(35, 384), 0, F(500, 1113), F(125, 192), F(-2187, 6784), F(11, 84), 0),
    order=5,
    b_err=(F(-71, 57600), 0, F(71, 16695), F(-71, 1920), F(17253, 339200), F(-22, 525), F(1, 40)),
    err_order=4,
    fsal=True,
    dense=(
        (1, F(-8048581381, 2820520608), F(8663915743, 2820520608), F(-12715105075, 11282082432)),
        (0, 0, 0, 0),
        (0, F(131558114200, 32700410799), F(-68118460800, 10900136933), F(87487479700, 32700410799)),
        (0, F(-1754552775, 470086768), F(14199869525, 1410260304), F(-10690763975, 1880347072)),
        (0, F(127303824393, 49829197408), F(-318862633887, 49829197408), F(701980252875, 199316789632)),
        (0, F(-282668133, 205662961), F(2019193451, 616988883), F(-1453857185, 822651844)),
        (0, F(40617522, 29380423), F(-110615467, 29380423), F(69997945, 29380423)),
    ),
    dense_order=4,
    description="Dormand-Prince 5(4): adaptive step (error per unit rtol/atol), 4th-order dense output",
)

#: The registered tableaux, by name (the compiled loop runs every one of them).
TABLEAUX: dict[str, ButcherTableau] = {t.name: t.validate() for t in (EULER, RK4, DOPRI5)}


def register_tableau(tab: ButcherTableau, *, replace: bool = False) -> ButcherTableau:
    """Validate ``tab`` and register it (as a tableau and as a stepper of the same name).

    Once registered, ``solve(..., method=tab.name)`` runs it in the compiled loop (the
    generated integrator source, and so its cache key, then includes it) and Python loops
    get it from :func:`~eostheory.integrate.get_stepper`.

    Raises:
        EosInputError: the tableau fails :meth:`ButcherTableau.validate`, or its name is
            taken (pass ``replace=True`` to replace a registered tableau).
    """
    if not isinstance(tab, ButcherTableau):
        raise EosInputError(f"register_tableau takes a ButcherTableau, got {type(tab).__name__}")
    tab.validate()
    from eostheory.integrate import _steppers

    if not replace and (tab.name in TABLEAUX or tab.name in _steppers.all_stepper_names()):
        raise EosInputError(f"a stepper named {tab.name!r} is already registered (pass replace=True)")
    TABLEAUX[tab.name] = tab
    _steppers._add_tableau_stepper(tab)
    return tab


# --- one step on arrays ---------------------------------------------------------------------
class StepResult(NamedTuple):
    """What one step returns.

    Attributes:
        y_new: the state after the step, :math:`y_1`.
        f_new: :math:`f(y_1)` when the method evaluated it (first same as last), else ``None``.
        err: the local error estimate :math:`h\\sum_i e_i k_i` (``None`` without one).
    """

    y_new: Any
    f_new: Any
    err: Any


def _combine(weights: Sequence[float], ks: Sequence[Any]) -> Any:
    """:math:`\\sum_j w_j k_j` over the non-zero weights, left to right (``None`` if all are zero)."""
    acc = None
    for w, k in zip(weights, ks, strict=False):
        if w == 0.0:
            continue
        term = k if w == 1.0 else w * k
        acc = term if acc is None else acc + term
    return acc


def _integer_combination(weights: Sequence[Fraction]) -> tuple[list[int], int]:
    d = lcm(*(w.denominator for w in weights)) if weights else 1
    return [int(w * d) for w in weights], d


def _increment(
    tab: ButcherTableau, weights: Sequence[Fraction], wf: Sequence[float], ks: Sequence[Any], h: float
) -> Any:
    r""":math:`h \sum_j w_j k_j`, in the tableau's rounding form (``None`` if every weight is 0)."""
    if tab.integer_weights:
        nums, d = _integer_combination(weights)
        acc = _combine([float(v) for v in nums], ks)
        if acc is None:
            return None
        return h * acc if d == 1 else h * acc / float(d)
    acc = _combine(wf, ks)
    return None if acc is None else h * acc


def explicit_step(tab: ButcherTableau, f: Callable[[Any], Any], y: Any, h: float, f0: Any = None) -> StepResult:
    r"""One step of the explicit Runge–Kutta method ``tab`` for :math:`\dot y = f(y)`.

    .. math::

        k_1 = f(y),\quad k_i = f\Big(y + h\sum_{j<i} a_{ij}k_j\Big),\quad
        y_1 = y + h\sum_i b_i k_i,\quad \mathrm{err} = h\sum_i e_i k_i .

    Zero coefficients are skipped and unit ones not multiplied, so Euler is exactly
    ``y + h*f0`` and the arithmetic is the compiled loop's, operation for operation.

    Args:
        tab: the tableau.
        f: the autonomous vector field; ``y`` and ``f(y)`` may be anything with ``+``, ``-``
            and multiplication by a Python float (numpy arrays, torch tensors); a tableau with
            ``integer_weights`` (RK4) also divides by a float.
        y: the state.
        h: the step (a Python float).
        f0: :math:`f(y)` if already known (saves one evaluation).

    Returns:
        :class:`StepResult` ``(y_new, f_new, err)``: ``f_new = f(y_new)`` for a
        first-same-as-last tableau (else ``None``), ``err`` the embedded error (else ``None``).

    Examples:
        >>> import numpy as np
        >>> r = explicit_step(RK4, lambda y: -y, np.array([1.0]), 0.1)
        >>> bool(abs(r.y_new[0] - (1 - 0.1 + 0.1**2 / 2 - 0.1**3 / 6 + 0.1**4 / 24)) < 1e-15)
        True
    """
    h = float(h)
    ks = [f(y) if f0 is None else f0]
    s = tab.stages
    y_new = None
    f_new = None
    for i in range(1, s):
        last = tab.fsal and i == s - 1
        inc = _increment(tab, tab.a[i - 1], tab.a_float[i - 1], ks, h)
        yi = y if inc is None else y + inc
        ki = f(yi)
        ks.append(ki)
        if last:
            y_new, f_new = yi, ki
    if not tab.fsal:
        inc = _increment(tab, tab.b, tab.b_float, ks, h)
        y_new = y if inc is None else y + inc
    err = None
    if tab.b_err is not None:
        assert tab.b_err_float is not None
        err = _increment(tab, tab.b_err, tab.b_err_float, ks, h)
        if err is None:
            err = 0.0 * y
    return StepResult(y_new, f_new, err)
