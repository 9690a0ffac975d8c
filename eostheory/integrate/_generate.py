r"""numba source of the steppers, written from their Butcher tableaux.

The compiled loop (:mod:`eostheory.integrate._src`) calls two functions that depend on
the method: ``_step`` (one step) and ``_interp`` (dense output of the last step).  They are
generated here as source text from the tableau data, with every stage loop unrolled: a
stage is one ``for i in range(n)`` loop over the state whose body is the stage's linear
combination written out with its coefficients as literals, zero coefficients dropped and
unit ones not multiplied.  The result has no per-method arithmetic written by hand, no
arrays of coefficients to index and no allocation, and it performs the same floating-point
operations, in the same order, as :func:`~eostheory.integrate._tableau.explicit_step`.

Stage storage in the generated code: :math:`k_1` is ``f0`` (the loop's :math:`f(y)`),
:math:`k_j` for :math:`j \ge 2` is row ``j - 1`` of the workspace ``K`` (the last stage of a
first-same-as-last method is also copied into ``K``, so that a projection that later
changes ``ynew``/``fnew`` leaves the dense output of the step intact).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from eostheory.integrate._steppers import STEPPERS, Stepper
from eostheory.integrate._tableau import ButcherTableau, _integer_combination

__all__ = ["method_constants", "stepper_source"]


def _lit(v: float) -> str:
    """A float literal that reads back as exactly ``v``."""
    r = repr(float(v))
    return r if ("." in r or "e" in r or "n" in r) else r + ".0"


def _stage(j: int, last: int, fsal: bool) -> str:
    """The expression of stage ``k_{j+1}`` at component ``i``."""
    if j == 0:
        return "f0[i]"
    return f"K[{j}, i]"


def _sum(weights: Sequence[float], terms: Sequence[str]) -> str | None:
    parts = []
    for w, t in zip(weights, terms, strict=False):
        if w == 0.0:
            continue
        parts.append(t if w == 1.0 else f"{_lit(w)} * {t}")
    return " + ".join(parts) if parts else None


def _increment(tab: ButcherTableau, weights: Sequence[Fraction], terms: Sequence[str]) -> str | None:
    r"""Source of :math:`h\sum_j w_j k_j` in the tableau's rounding form (``None``: all zero)."""
    if tab.integer_weights:
        nums, d = _integer_combination(weights)
        acc = _sum([float(v) for v in nums], terms)
        if acc is None:
            return None
        single = len([v for v in nums if v]) == 1 and "*" not in acc
        acc = acc if single else f"({acc})"
        return f"h * {acc}" if d == 1 else f"h * {acc} / {_lit(d)}"
    acc = _sum([float(v) for v in weights], terms)
    if acc is None:
        return None
    single = " + " not in acc and " * " not in acc
    return f"h * {acc}" if single else f"h * ({acc})"


def _step_body(st: Stepper) -> list[str]:
    tab = st.tableau
    assert tab is not None
    s = tab.stages
    terms = [_stage(j, s - 1, tab.fsal) for j in range(s)]
    out: list[str] = []
    for i in range(1, s):
        inc = _increment(tab, tab.a[i - 1], terms[:i])
        last = tab.fsal and i == s - 1
        dest, target = ("ynew", "fnew") if last else ("tmp", f"K[{i}]")
        out += ["for i in range(n):", f"    {dest}[i] = y[i]" + ("" if inc is None else f" + {inc}")]
        out.append(f"rhs({dest}, p, c, ws, {target})")
        if last:
            out += ["for i in range(n):", f"    K[{i}, i] = fnew[i]"]
    if not tab.fsal:
        inc = _increment(tab, tab.b, terms)
        loop = ["for i in range(n):", "    ynew[i] = y[i]" + ("" if inc is None else f" + {inc}")]
        if tab.b_err is None:
            loop.append("    err[i] = 0.0")
        else:
            e = _increment(tab, tab.b_err, terms)
            loop.append(f"    err[i] = {e or '0.0'}")
        out += loop
        out.append("rhs(ynew, p, c, ws, fnew)")
    elif tab.b_err is not None:
        e = _increment(tab, tab.b_err, terms)
        out += ["for i in range(n):", f"    err[i] = {e or '0.0'}"]
    else:
        out += ["for i in range(n):", "    err[i] = 0.0"]
    out.append(f"return {tab.rhs_per_step}")
    return out


def _dense_body(st: Stepper) -> list[str]:
    tab = st.tableau
    assert tab is not None and tab.dense is not None
    deg = len(tab.dense[0])
    out = ["t1 = theta"] + [f"t{m} = t{m - 1} * theta" for m in range(2, deg + 1)]
    powers = [f"t{m}" for m in range(1, deg + 1)]
    bs = []
    for j, row in enumerate(tab.dense):
        acc = _sum([float(v) for v in row], powers)
        if acc is not None:
            out.append(f"b{j} = {acc}")
            bs.append(j)
    terms = [_stage(j, tab.stages - 1, tab.fsal) for j in range(tab.stages)]
    comb = " + ".join(f"b{j} * {terms[j]}" for j in bs)
    out += ["for i in range(n):", f"    out[i] = y[i] + h * ({comb})" if comb else "    out[i] = y[i]", "return"]
    return out


def _indent(lines: list[str], k: int) -> list[str]:
    return [" " * k + ln for ln in lines]


def stepper_source(steppers: Sequence[Stepper] | None = None) -> str:
    """Source of ``_step`` and ``_interp`` for the compiled steppers (default: all of :data:`STEPPERS`).

    ``_step(method, y, h, f0, p, c, ws, K, ynew, fnew, err, tmp) -> nfev`` dispatches on
    ``method`` (the stepper's ``code``) to the unrolled stages of its tableau;
    ``_interp(method, y, ynew, f0, fnew, K, h, theta, out)`` to its dense output, or to the
    cubic Hermite interpolant ``_hermite`` for a tableau without one.
    """
    sts = [s for s in (STEPPERS.values() if steppers is None else steppers) if s.compiled]
    step = [
        "@jit",
        "def _step(method, y, h, f0, p, c, ws, K, ynew, fnew, err, tmp):",
        '    """One step of ``method`` from ``y`` (``f0 = f(y)``): fills ynew, fnew, err; returns nfev."""',
        "    n = y.shape[0]",
    ]
    for st in sts:
        step += [f"    if method == {st.code}:  # {st.name}", *_indent(_step_body(st), 8)]
    step.append("    return 0")
    interp = [
        "@jit",
        "def _interp(method, y, ynew, f0, fnew, K, h, theta, out):",
        '    """Dense output at ``t + theta*h`` of the last step (0 <= theta <= 1)."""',
        "    n = y.shape[0]",
    ]
    for st in sts:
        assert st.tableau is not None
        if st.tableau.dense is not None:
            interp += [f"    if method == {st.code}:  # {st.name}", *_indent(_dense_body(st), 8)]
    interp.append("    _hermite(y, ynew, f0, fnew, h, theta, out)")
    return "\n".join(step) + "\n\n\n" + "\n".join(interp) + "\n"


def method_constants(steppers: Sequence[Stepper] | None = None) -> dict[str, str]:
    """Per-method data the loop indexes by ``method``, as ``NAME = expression`` source.

    ``M_ADAPTIVE`` (1: error control), ``M_LOCATE`` (1: events located on the dense output;
    first-order methods report them at the step's end, so Euler with ``dt = 1`` is GD),
    ``M_EXPONENT`` (the controller's :math:`-1/(q+1)`), ``NK`` (rows of the stage workspace).
    """
    sts = list(STEPPERS.values() if steppers is None else steppers)
    ncode = 1 + max(s.code for s in sts)
    adaptive = [0] * ncode
    locate = [0] * ncode
    expo = [0.0] * ncode
    nk = 1
    for st in sts:
        if st.tableau is None or st.code < 0:
            continue
        adaptive[st.code] = int(st.tableau.adaptive)
        locate[st.code] = int(st.tableau.order >= 2)
        expo[st.code] = st.tableau.error_exponent
        nk = max(nk, st.tableau.stages)
    return {
        "M_ADAPTIVE": f"np.array({adaptive!r}, dtype=np.int64)",
        "M_LOCATE": f"np.array({locate!r}, dtype=np.int64)",
        "M_EXPONENT": f"np.array([{', '.join(_lit(v) for v in expo)}])",
        "NK": str(nk),
    }
