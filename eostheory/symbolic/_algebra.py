r"""Exact polynomial algebra behind :mod:`eostheory.symbolic.equilibria`.

* :func:`limited`: run a sympy computation in a forked process with a wall-clock limit
  (sympy cannot be interrupted from a thread), raising :class:`Intractable` on time-out.
* :func:`components` / :func:`solve_charted`: the isolated solutions of a polynomial
  system over :math:`\mathbb{Q}(\text{parameters})`, split into irreducible components,
  each given by its reduced lexicographic Gröbner basis (a triangular set).
* :func:`numeric_points`: the points of a component at numeric parameter values.
* :func:`eliminate`: the univariate polynomial in one parameter whose roots are where an
  extra polynomial vanishes on a component (a boundary of existence or stability).
* :func:`intervals`: the parameter intervals where a numeric predicate holds.
* :class:`Budget`: a wall-clock budget shared by the steps of one derivation.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import mpmath
import sympy as sp

from eostheory._errors import EosInputError

__all__ = [
    "Budget",
    "Intractable",
    "NumericFamily",
    "components",
    "eliminate",
    "intervals",
    "limited",
    "numeric_points",
    "poly_numer",
    "sample_inside",
    "solve_charted",
]

_DPS = 30
mpmath.mp.dps = max(mpmath.mp.dps, _DPS)


class Intractable(Exception):  # noqa: N818 - reads as a state, like StopIteration
    """A symbolic computation did not finish within its time limit."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what}: not finished within the time limit of {seconds:g} s (intractable here)")
        self.what = what
        self.seconds = seconds


def _child(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    try:
        out = (True, fn(*args, **kwargs))
    except EosInputError as exc:
        out = (False, ("EosInputError", str(exc)))
    except Intractable as exc:
        out = (False, ("Intractable", (exc.what, exc.seconds)))
    except Exception as exc:  # report in the parent
        out = (False, (type(exc).__name__, f"{exc}\n{traceback.format_exc(limit=4)}"))
    try:
        conn.send_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception as exc:  # an unpicklable result
        conn.send_bytes(pickle.dumps((False, ("PicklingError", str(exc)))))
    conn.close()


def limited(fn: Callable[..., Any], *args: Any, seconds: float | None, what: str, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` with a wall-clock limit of ``seconds``.

    The call runs in a forked child process, which is killed at the limit; its result
    comes back pickled.  Without ``fork`` (or with ``seconds=None``, or with the environment
    variable ``EOS_NO_FORK`` set, for profiling) the call runs inline, unlimited.

    Raises:
        Intractable: the limit was reached.
        EosInputError: raised by ``fn``.
        RuntimeError: any other error raised by ``fn`` (with its message).
    """
    if seconds is None or "fork" not in multiprocessing.get_all_start_methods() or os.environ.get("EOS_NO_FORK"):
        return fn(*args, **kwargs)
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args, kwargs), daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(seconds):
            raise Intractable(what, seconds)
        ok, payload = pickle.loads(recv.recv_bytes())
    except EOFError:
        raise RuntimeError(f"{what}: the worker process died (exit code {proc.exitcode})") from None
    finally:
        recv.close()
        if proc.is_alive():
            proc.kill()
        proc.join()
    if ok:
        return payload
    kind, msg = payload
    if kind == "EosInputError":
        raise EosInputError(msg)
    if kind == "Intractable":
        raise Intractable(*msg)
    raise RuntimeError(f"{what}: {kind}: {msg}")


# --------------------------------------------------------------------------------------
# polynomials
# --------------------------------------------------------------------------------------
def poly_numer(expr: sp.Expr) -> sp.Expr:
    """The expanded numerator of a rational expression (its zero set, away from poles)."""
    num, _ = sp.fraction(sp.together(sp.sympify(expr)))
    return sp.expand(num)


def _domain(params: Sequence[sp.Symbol]) -> Any:
    return sp.QQ.frac_field(*params) if params else sp.QQ


def _involves(p: sp.Expr, gens: Sequence[sp.Symbol]) -> set[sp.Symbol]:
    return p.free_symbols & set(gens)


def _clear(p: sp.Expr, gens: Sequence[sp.Symbol]) -> sp.Expr:
    """``p`` with its denominator and its content in the parameters removed (primitive in ``gens``)."""
    num = poly_numer(p)
    if num == 0:
        return num
    if not _involves(num, gens):
        return sp.Integer(1)
    _, facs = sp.factor_list(num)
    out = sp.Integer(1)
    for f, m in facs:
        if _involves(f, gens):
            out *= f**m
    return sp.expand(out)


def _lex(polys: Iterable[sp.Expr], gens: Sequence[sp.Symbol], params: Sequence[sp.Symbol]) -> list[sp.Expr]:
    G = sp.groebner([sp.expand(p) for p in polys], *gens, order="lex", domain=_domain(params))
    return [sp.expand(e) for e in G.exprs]


def _split(G: list[sp.Expr], gens: Sequence[sp.Symbol], params: Sequence[sp.Symbol], level: int) -> list[list[sp.Expr]]:
    """Split a lex basis into components by factoring, from the last generator up."""
    if G == [1]:
        return []
    for i in range(level, -1, -1):
        later = set(gens[i:])
        cands = [p for p in G if gens[i] in p.free_symbols and _involves(p, gens) <= later]
        if not cands:
            continue
        p = min(cands, key=lambda q: (sp.degree(q, gens[i]), len(str(q))))
        _, facs = sp.factor_list(poly_numer(p))
        facs = [f for f, _ in facs if gens[i] in f.free_symbols]
        if len(facs) > 1:
            out: list[list[sp.Expr]] = []
            for f in facs:
                out += _split(_lex([*G, f], gens, params), gens, params, i)
            return out
    return [G]


def _components_impl(
    polys: list[sp.Expr], gens: tuple[sp.Symbol, ...], params: tuple[sp.Symbol, ...]
) -> tuple[list[list[sp.Expr]], bool]:
    polys = [sp.expand(p) for p in polys if sp.expand(p) != 0]
    if not polys:
        return [], True
    G = sp.groebner(polys, *gens, order="grevlex", domain=_domain(params))
    if list(G.exprs) == [1]:
        return [], False
    if not G.is_zero_dimensional:
        return [], True
    lex = [sp.expand(e) for e in G.fglm("lex").exprs]
    comps = _split(lex, gens, params, len(gens) - 1)
    out = []
    for c in comps:
        c = [_clear(p, gens) for p in c]
        c = sorted({p for p in c if p != 0}, key=lambda q: [-gens.index(s) for s in _involves(q, gens)] + [0])
        if c and c != [1]:
            out.append(_order(c, gens))
    return out, False


def _order(c: list[sp.Expr], gens: Sequence[sp.Symbol]) -> list[sp.Expr]:
    """Triangular order: polynomials of the last generator first."""

    def key(p: sp.Expr) -> tuple[int, int]:
        lead = min(gens.index(s) for s in _involves(p, gens))
        return (-lead, len(str(p)))

    return sorted(c, key=key)


def _substitute_linear(polys: list[sp.Expr], gens: Sequence[sp.Symbol]) -> list[sp.Expr]:
    """Eliminate unknowns that an equation gives linearly with a parameter-only coefficient."""
    polys = [sp.expand(p) for p in polys]
    done: list[sp.Expr] = []
    changed = True
    while changed:
        changed = False
        for p in polys:
            for v in gens:
                if v not in p.free_symbols or sp.degree(p, v) != 1:
                    continue
                coeff = p.coeff(v, 1)
                if _involves(coeff, gens):
                    continue
                value = sp.cancel(-(p - coeff * v) / coeff)
                rest = [poly_numer(q.xreplace({v: value})) for q in polys if q is not p]
                done.append(p)
                done = [poly_numer(q.xreplace({v: value})) if q is not p else q for q in done]
                polys = [q for q in rest if q != 0]
                changed = True
                break
            if changed:
                break
    return done + polys


def _branches(polys: list[sp.Expr], gens: Sequence[sp.Symbol], limit: int = 48) -> list[list[sp.Expr]]:
    """Split a system into branches along the factors of its reducible equations."""
    out: list[list[sp.Expr]] = []
    seen: set[str] = set()
    stack = [_substitute_linear(polys, gens)]
    while stack:
        system = stack.pop()
        if any(not _involves(p, gens) and p != 0 for p in system):
            continue  # a nonzero constant: no solution
        split = None
        if len(out) + len(stack) < limit:
            for k, p in enumerate(system):
                facs = [f for f, _ in sp.factor_list(p)[1] if _involves(f, gens)]
                if len(facs) > 1:
                    split = (k, facs)
                    break
        if split is None:
            key = str(sorted(map(str, system)))
            if key not in seen:
                seen.add(key)
                out.append(system)
            continue
        k, facs = split
        for f in facs:
            stack.append(_substitute_linear([*system[:k], f, *system[k + 1 :]], gens))
    return out


def components(
    polys: Sequence[sp.Expr],
    gens: Sequence[sp.Symbol],
    params: Sequence[sp.Symbol],
    *,
    seconds: float | None,
    what: str,
) -> tuple[list[list[sp.Expr]], bool]:
    r"""Irreducible components of ``{polys = 0}`` over :math:`\mathbb{Q}(\text{params})`.

    The system is first split along the factors of its reducible equations (and unknowns
    given linearly are substituted); each branch is solved by a Gröbner basis (grevlex,
    converted to lex by FGLM) and split further by factoring.

    Args:
        polys: polynomials in ``gens`` with coefficients rational in ``params``.
        gens: the unknowns, in lexicographic order (the last is solved for first).
        params: symbols treated as generic parameters.
        seconds: the time limit for the whole system.
        what: a label for the time-out message.

    Returns:
        ``(components, positive_dimensional)``: each component is its reduced lex basis,
        denominators cleared, the polynomials of the last unknowns first; the flag says the
        solution set (also) has a positive-dimensional part, which is not returned.

    Raises:
        Intractable: the time limit was reached before every branch was solved.
    """
    import time

    t0 = time.perf_counter()
    deadline = None if seconds is None else t0 + seconds
    try:
        branches = limited(_branches, [sp.expand(p) for p in polys], tuple(gens), seconds=seconds, what=what)
    except Intractable:
        branches = [list(polys)]
    out: list[list[sp.Expr]] = []
    keys: set[str] = set()
    positive = False
    for br in branches:
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0.05:
            raise Intractable(what, float(seconds or 0))
        try:
            comps, pos = limited(_components_impl, br, tuple(gens), tuple(params), seconds=left, what=what)
        except Intractable:
            raise Intractable(what, float(seconds or 0)) from None
        positive |= pos
        for c in comps:
            key = str(sorted(map(str, _canonical(c, gens, params))))
            if key not in keys:
                keys.add(key)
                out.append(c)
    return out, positive


def _canonical(c: list[sp.Expr], gens: Sequence[sp.Symbol], params: Sequence[sp.Symbol]) -> list[sp.Expr]:
    return [sp.expand(e) for e in sp.groebner(c, *gens, order="lex", domain=_domain(params)).exprs]


# --------------------------------------------------------------------------------------
# numeric points of a component
# --------------------------------------------------------------------------------------
def _uni_roots(coeffs: list[mpmath.mpc]) -> list[mpmath.mpc] | None:
    """Roots of a polynomial from its coefficients (highest power first); ``None`` if all vanish."""
    scale = max((abs(c) for c in coeffs), default=mpmath.mpf(0))
    if scale == 0:
        return None
    while coeffs and abs(coeffs[0]) <= mpmath.mpf(10) ** (-_DPS + 8) * scale:
        coeffs = coeffs[1:]
    if len(coeffs) <= 1:
        return []
    if len(coeffs) == 2:
        return [-coeffs[1] / coeffs[0]]
    try:
        return list(mpmath.polyroots(coeffs, maxsteps=400, extraprec=300))
    except mpmath.libmp.NoConvergence:
        return list(mpmath.polyroots(coeffs, maxsteps=2000, extraprec=1000, error=False))


class NumericFamily:
    """Numeric points of a component (a triangular lex basis) at numeric parameter values.

    Each relation is compiled once (mpmath, 30 digits) as the coefficients of its leading
    unknown in terms of the later unknowns and the parameters; the points are found by
    back-substitution, the lowest-degree relation in each unknown being solved given the
    later ones, and a candidate is kept when every relation vanishes there to ``tol``
    relative to the size of its terms.
    """

    def __init__(self, relations: Sequence[sp.Expr], gens: Sequence[sp.Symbol], params: Sequence[sp.Symbol]):
        self.gens = tuple(gens)
        self.params = tuple(params)
        args = [*self.gens, *self.params]
        self.levels: list[list[tuple[int, Any]]] = [[] for _ in self.gens]
        self.checks: list[Any] = []
        for r in relations:
            used = [g for g in self.gens if g in r.free_symbols]
            if not used:
                continue
            v = used[0]
            P = sp.Poly(r, v)
            f = sp.lambdify(args, list(P.all_coeffs()), modules="mpmath")
            self.levels[self.gens.index(v)].append((P.degree(), f))
            self.checks.append(sp.lambdify(args, list(sp.Add.make_args(sp.expand(r))), modules="mpmath"))
        for lv in self.levels:
            lv.sort(key=lambda t: t[0])

    def points(self, values: Sequence[Any], *, tol: float = 1e-12) -> list[tuple[mpmath.mpc, ...]]:
        """All points (one value per unknown, in ``gens`` order) at parameter ``values``."""
        pv = [v if isinstance(v, mpmath.mpf) else mpmath.mpf(str(sp.N(v, _DPS + 10))) for v in values]
        n = len(self.gens)
        sols: list[list[mpmath.mpc]] = [[mpmath.mpc(0)] * n]
        for i in range(n - 1, -1, -1):
            new: list[list[mpmath.mpc]] = []
            for sol in sols:
                roots = None
                for _deg, f in self.levels[i]:
                    roots = _uni_roots([mpmath.mpc(c) for c in f(*sol, *pv)])
                    if roots is not None:
                        break
                if roots is None:
                    new.append(sol)  # a free unknown: not expected for a zero-dimensional component
                    continue
                for r in roots:
                    s2 = list(sol)
                    s2[i] = r
                    new.append(s2)
            sols = new
        out = []
        for sol in sols:
            ok = True
            for chk in self.checks:
                vals = chk(*sol, *pv)
                total = abs(mpmath.fsum(vals))
                size = mpmath.fsum(abs(x) for x in vals)
                if size > 0 and total > tol * size:
                    ok = False
                    break
            if ok:
                out.append(tuple(sol))
        return out


def numeric_points(
    relations: Sequence[sp.Expr], gens: Sequence[sp.Symbol], at: Mapping[sp.Symbol, Any], *, tol: float = 1e-12
) -> list[dict[sp.Symbol, mpmath.mpc]]:
    """The points of a component at the parameter values ``at`` (see :class:`NumericFamily`)."""
    params = list(at)
    fam = NumericFamily(relations, gens, params)
    vals = [sp.nsimplify(v, rational=True) if isinstance(v, float) else v for v in at.values()]
    return [dict(zip(gens, p, strict=True)) for p in fam.points(vals, tol=tol)]


# --------------------------------------------------------------------------------------
# boundaries in one parameter
# --------------------------------------------------------------------------------------
def _eliminate_impl(
    relations: list[sp.Expr],
    extra: sp.Expr,
    gens: tuple[sp.Symbol, ...],
    target: sp.Symbol,
    others: tuple[sp.Symbol, ...],
) -> sp.Expr | None:
    num = poly_numer(extra)
    if num == 0:
        return None
    G0 = sp.groebner(relations, *gens, order="lex", domain=_domain((target, *others)))
    if list(G0.exprs) == [1]:
        return sp.Integer(1)
    r = G0.reduce(num)[1]
    if r == 0:  # vanishes identically on the component
        return None
    # project onto the parameter by resultants down the triangular set (may add spurious
    # roots, which only cost a test), the reduced form first
    r = poly_numer(r)
    basis = [poly_numer(e) for e in G0.exprs]
    for v in gens:
        if v not in r.free_symbols:
            continue
        lead = [
            b for b in basis if v in b.free_symbols and min(gens.index(x) for x in _involves(b, gens)) == gens.index(v)
        ]
        if not lead:
            break
        b = min(lead, key=lambda q: sp.degree(q, v))
        r = poly_numer(sp.resultant(b, r, v))
        if r == 0:
            break
    if r == 0 or (r.free_symbols & set(gens)):
        G = sp.groebner([*relations, num], *gens, target, order="lex", domain=_domain(others))
        if list(G.exprs) == [1]:
            return sp.Integer(1)
        uni = [e for e in G.exprs if not (e.free_symbols & set(gens))]
        if not uni:
            return None
        r = poly_numer(uni[-1])
    return r


def eliminate(
    relations: Sequence[sp.Expr],
    extra: sp.Expr,
    gens: Sequence[sp.Symbol],
    target: sp.Symbol,
    others: Sequence[sp.Symbol],
    *,
    seconds: float | None,
    what: str,
) -> sp.Expr | None:
    r"""The polynomial :math:`P(t)` whose roots are the values of the parameter ``target``
    where ``extra`` vanishes at a point of the component ``relations``.

    Returns ``None`` when ``extra`` vanishes identically on the component (or nowhere can
    be said), and ``1`` when it vanishes nowhere.
    """
    return limited(
        _eliminate_impl,
        [sp.expand(r) for r in relations],
        extra,
        tuple(gens),
        target,
        tuple(others),
        seconds=seconds,
        what=what,
    )


def _nice(a: float, b: float) -> float:
    """A short decimal strictly inside (a, b), near the middle."""
    if math.isinf(b):
        return a * 1.25 if a > 0 else 1.0
    mid = (a + b) / 2
    width = b - a
    for digits in range(1, 12):
        v = round(mid, digits)
        if a + 0.2 * width < v < b - 0.2 * width:
            return v
    return mid


def intervals(
    predicate: Callable[[float], bool],
    candidates: Iterable[float],
    *,
    scale: float = 1.0,
) -> tuple[list[tuple[float, float]], list[float]]:
    """Maximal intervals of ``t > 0`` where ``predicate(t)`` holds.

    The predicate can change only at a candidate (a root of a boundary polynomial); it is
    tested at several points of every gap between candidates, and a change inside a gap
    that no candidate explains is located by bisection (so a missed boundary still shows,
    as a numeric end point).

    Returns:
        ``(intervals, bisected)``: the intervals (``inf`` for an unbounded end) and the end
        points found by bisection rather than among the candidates.
    """
    cands = sorted({float(c) for c in candidates if c is not None and math.isfinite(c) and c > 1e-12})
    merged: list[float] = []
    for c in cands:
        if not merged or abs(c - merged[-1]) > 1e-10 * (1 + abs(c)):
            merged.append(c)
    edges = [0.0, *merged, math.inf]
    bisected: list[float] = []
    tests: list[tuple[float, bool]] = []
    for a, b in itertools.pairwise(edges):
        if a == 0.0 and math.isinf(b):
            pts = [scale * 10.0**k for k in range(-3, 4)]
        elif a == 0.0:
            pts = [b * f for f in (0.02, 0.15, 0.3, 0.5, 0.7, 0.85, 0.98)]
        elif math.isinf(b):
            pts = [a * f for f in (1.01, 1.05, 1.15, 1.3, 1.6, 2.0, 4.0, 10.0)]
        else:
            pts = [a + (b - a) * f for f in (0.01, 0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95, 0.99)]
        vals = [(t, bool(predicate(t))) for t in pts]
        for (t0, v0), (t1, v1) in itertools.pairwise(vals):
            if v0 != v1:
                lo, hi = t0, t1
                for _ in range(32):
                    mid = (lo + hi) / 2
                    if bool(predicate(mid)) == v0:
                        lo = mid
                    else:
                        hi = mid
                bisected.append((lo + hi) / 2)
        tests += vals
    bounds = sorted({0.0, *merged, *bisected})
    bounds.append(math.inf)
    out: list[tuple[float, float]] = []
    for a, b in itertools.pairwise(bounds):
        inside = [v for t, v in tests if a < t < b]
        if not inside:
            inside = [bool(predicate(_nice(a, b) if a > 0 else (b / 2 if math.isfinite(b) else scale)))]
        if sum(inside) * 2 > len(inside):
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out, bisected


def sample_inside(a: float, b: float) -> float:
    """A short decimal well inside ``(a, b)`` (``b`` may be ``inf``)."""
    return _nice(a, b)


def solve_charted(
    polys: Sequence[sp.Expr],
    gens: Sequence[sp.Symbol],
    params: Sequence[sp.Symbol],
    directions: Sequence[sp.Symbol],
    *,
    seconds: float | None,
    what: str,
) -> tuple[list[list[sp.Expr]], bool, list[str]]:
    """:func:`components` of a charted system, the axis-aligned solutions first.

    With the chart's direction unknowns ``directions`` set to zero the system is much
    smaller (the equilibria that move along one coordinate, common on toys with a
    symmetry); it is solved first, then the full system with the time that is left.  When
    the full system does not finish, the aligned families are returned with a note.

    Returns:
        ``(components, positive_dimensional, notes)``.
    """
    import time

    notes: list[str] = []
    t0 = time.perf_counter()
    comps: list[list[sp.Expr]] = []
    positive = False
    keys: set[str] = set()

    def add(cs: list[list[sp.Expr]]) -> None:
        for c in cs:
            key = str(sorted(map(str, _canonical(c, gens, params))))
            if key not in keys:
                keys.add(key)
                comps.append(c)

    if directions:
        try:
            cs, pos = components([*polys, *directions], gens, params, seconds=seconds, what=what)
            add(cs)
            positive |= pos
        except Intractable:
            pass
    left = None if seconds is None else seconds - (time.perf_counter() - t0)
    if left is not None and left <= 0.1:
        if not comps:
            raise Intractable(what, float(seconds or 0))
        names = ", ".join(map(str, directions))
        notes.append(f"{what}: time limit reached; only the families moving along a coordinate axis ({names} = 0)")
        return comps, positive, notes
    try:
        cs, pos = components(polys, gens, params, seconds=left, what=what)
        add(cs)
        positive |= pos
    except Intractable as exc:
        if not directions or not comps:
            raise
        names = ", ".join(map(str, directions))
        notes.append(f"{exc}; only the families moving along a coordinate axis ({names} = 0) are listed")
    return comps, positive, notes


class Budget:
    """A wall-clock budget shared by the steps of one derivation."""

    def __init__(self, seconds: float | None) -> None:
        import time

        self.seconds = seconds
        self._end = None if seconds is None else time.perf_counter() + seconds

    def left(self, cap: float | None = None, share: float = 1.0) -> float | None:
        """Seconds left (times ``share``, at most ``cap``); ``None`` when unlimited."""
        import time

        if self._end is None:
            return cap
        rest = max(0.0, self._end - time.perf_counter()) * share
        return rest if cap is None else min(rest, cap)

    @property
    def spent(self) -> bool:
        """Whether the budget is used up."""
        left = self.left()
        return left is not None and left <= 0.05
