r"""Has a tracked series plateaued, and at which of the two momentum-SGD thresholds?

A series :math:`s_1, \dots, s_N` (sharpness, Batch Sharpness, GNI, ... recorded during
training) is judged on its tail, the last fraction ``tail`` of the records.

**Mean with an autocorrelation-aware interval.**  The tail is cut into :math:`k`
contiguous batches; their means :math:`\bar s_1, \dots, \bar s_k` are close to independent
when a batch is much longer than the correlation time, so the tail mean
:math:`\bar s` has standard error :math:`\mathrm{sd}(\bar s_j)/\sqrt k` and a Student-t
interval with :math:`k-1` degrees of freedom (the method of batch means).  The integrated
autocorrelation time :math:`\tau = 1 + 2\sum_{l\ge1}\rho_l` (initial positive sequence) is
reported, with the effective sample size :math:`N_{\text{tail}}/\tau`.

**Drift.**  The batch means are regressed on their time (the batch midpoints); the
slope's t interval times the tail length is the drift across the tail with its interval.
The series is called *plateaued* when the whole drift interval lies inside
:math:`\pm\,\text{rtol}\cdot|\bar s|` (an equivalence test: a drift that is merely not
significant because the series is noisy does not pass), and the two halves of the tail
agree to the same tolerance.

**Regime under heavy-ball momentum.**  Small-batch SGD with momentum :math:`\beta` and
learning rate :math:`\eta` keeps Batch Sharpness near :math:`2(1-\beta)/\eta`; full-batch
momentum GD keeps the top Hessian eigenvalue near :math:`2(1+\beta)/\eta`
(:func:`regime`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from eostheory._errors import EosInputError

__all__ = [
    "Plateau",
    "autocorrelation_time",
    "crossover",
    "plateau",
    "plot_edge_test",
    "plot_eoss",
    "regime",
    "regime_report",
]


@dataclass(frozen=True)
class Plateau:
    """The verdict on a series' tail.

    Attributes:
        plateaued: the drift interval and the half-to-half difference are within ``rtol``.
        value: the tail mean; ``ci``: its two-sided interval at ``level`` (batch means).
        stderr: standard error of the tail mean.
        drift, drift_ci: change of the fitted line across the tail and its interval.
        half_difference: mean of the second half of the tail minus the first.
        tau: integrated autocorrelation time (in records); ``ess``: tail length / tau.
        n_tail, n_batches: records in the tail and batches they were cut into.
        rtol, level: the tolerance and confidence level used.
        reason: one sentence.
    """

    plateaued: bool
    value: float
    ci: tuple[float, float]
    stderr: float
    drift: float
    drift_ci: tuple[float, float]
    half_difference: float
    tau: float
    ess: float
    n_tail: int
    n_batches: int
    rtol: float
    level: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite numbers become ``None``)."""

        def fin(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        d = asdict(self)
        for k in ("value", "stderr", "drift", "half_difference", "tau", "ess"):
            d[k] = fin(d[k])
        d["ci"], d["drift_ci"] = [fin(v) for v in self.ci], [fin(v) for v in self.drift_ci]
        return d


def autocorrelation_time(x: Sequence[float] | np.ndarray) -> float:
    r"""Integrated autocorrelation time :math:`\tau = 1 + 2\sum_{l\ge1}\rho_l`.

    The sum runs over Geyer's initial positive sequence (pairs
    :math:`\rho_{2m-1}+\rho_{2m}` while positive), so noise in the far tail of the
    autocorrelation does not enter.  AR(1) with coefficient :math:`\phi`:
    :math:`\tau = (1+\phi)/(1-\phi)`.  A constant series has :math:`\tau = 1`.
    """
    a = np.asarray(x, dtype=float)
    n = a.size
    if n < 4:
        return 1.0
    c = a - a.mean()
    var = float(c @ c) / n
    if var == 0.0:
        return 1.0
    f = np.fft.rfft(c, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n] / (n * var)
    tau = 1.0
    for m in range(1, n // 2):
        pair = acf[2 * m - 1] + acf[2 * m]
        if pair <= 0:
            break
        tau += 2 * pair
    return max(1.0, float(tau))


def _clean(series: Any, name: str = "series") -> np.ndarray:
    try:
        vals = [math.nan if v is None else float(v) for v in series]
    except (TypeError, ValueError):
        raise EosInputError(f"{name} must be a sequence of numbers") from None
    a = np.asarray(vals, dtype=float)
    return a


def plateau(
    series: Sequence[float] | np.ndarray,
    *,
    tail: float = 0.5,
    n_batches: int = 10,
    level: float = 0.95,
    rtol: float = 0.05,
    min_records: int = 20,
) -> Plateau:
    r"""Test whether the tail of ``series`` is stationary and estimate its level.

    Args:
        series: the values in time order (``None`` entries, i.e. steps where the measure
            was not recorded, are dropped).
        tail: fraction of the records judged (the last ones), in (0, 1].
        n_batches: batches for the batch-means interval and the drift fit (>= 4).
        level: confidence level of both intervals.
        rtol: largest drift across the tail, and largest half-to-half difference,
            relative to the tail mean, still called a plateau.
        min_records: fewest tail records for a verdict.

    Returns:
        A :class:`Plateau`.  Not plateaued when the tail is too short, has non-finite
        values, or drifts.

    Raises:
        EosInputError: bad ``tail``, ``n_batches``, ``level`` or ``rtol``.

    Examples:
        >>> import numpy as np
        >>> p = plateau(10 + np.random.default_rng(0).normal(0, 0.1, 400))
        >>> p.plateaued, abs(p.value - 10) < 0.05
        (True, True)
    """
    if not 0 < tail <= 1:
        raise EosInputError(f"tail must be in (0, 1], got {tail}")
    if int(n_batches) != n_batches or n_batches < 4:
        raise EosInputError(f"n_batches must be an integer >= 4, got {n_batches}")
    if not 0 < level < 1:
        raise EosInputError(f"level must be in (0, 1), got {level}")
    if not rtol > 0:
        raise EosInputError(f"rtol must be positive, got {rtol}")
    raw = _clean(series)
    keep = ~np.isnan(raw) if raw.size else np.zeros(0, bool)
    a = raw[keep] if raw.size else raw
    nan = (math.nan, math.nan)
    n_tail = math.ceil(tail * a.size)
    x = a[a.size - n_tail :]
    k = int(n_batches)

    def refuse(reason: str, **kw: Any) -> Plateau:
        base = {"value": math.nan, "ci": nan, "stderr": math.nan, "drift": math.nan, "drift_ci": nan}
        base.update(kw)
        return Plateau(False, half_difference=math.nan, tau=math.nan, ess=math.nan, n_tail=int(x.size),
                       n_batches=k, rtol=rtol, level=level, reason=reason, **base)  # fmt: skip

    if x.size < max(min_records, 2 * k):
        return refuse(f"too few records in the tail ({x.size} < {max(min_records, 2 * k)})")
    if not np.all(np.isfinite(x)):
        return refuse("the tail has infinite values (the run diverged)")
    m = x.size // k
    xb = x[x.size - m * k :].reshape(k, m)
    means = xb.mean(axis=1)
    mean = float(x.mean())
    tq = float(stats.t.ppf(0.5 + level / 2, k - 1))
    se = float(means.std(ddof=1) / math.sqrt(k))
    ci = (mean - tq * se, mean + tq * se)
    tmid = (np.arange(k) + 0.5) * m
    fit = stats.linregress(tmid, means) if np.ptp(means) > 0 else None
    span = float(m * k)
    if fit is None:
        slope, slope_se = 0.0, 0.0
    else:
        slope, slope_se = float(fit.slope), float(fit.stderr)
    tq2 = float(stats.t.ppf(0.5 + level / 2, k - 2))
    drift = slope * span
    dci = ((slope - tq2 * slope_se) * span, (slope + tq2 * slope_se) * span)
    half = float(xb[k // 2 :].mean() - xb[: k // 2].mean())
    tau = autocorrelation_time(x)
    scale = abs(mean)
    tol = rtol * scale
    ok_drift = -tol <= dci[0] and dci[1] <= tol
    ok_half = abs(half) <= tol
    if scale == 0.0:
        reason = "the tail is zero" if np.ptp(x) == 0 else "the tail mean is zero: no relative tolerance"
        ok = np.ptp(x) == 0
    elif ok_drift and ok_half:
        reason = f"drift across the tail {drift:+.3g} (CI {dci[0]:+.3g}, {dci[1]:+.3g}) within +-{tol:.3g}"
    elif not ok_drift:
        reason = (
            f"drift across the tail {drift:+.3g} (CI {dci[0]:+.3g}, {dci[1]:+.3g}) "
            f"not within +-{rtol:g} of the mean ({tol:.3g})"
        )
    else:
        reason = f"the halves of the tail differ by {half:+.3g}, more than {rtol:g} of the mean"
    if scale != 0.0:
        ok = ok_drift and ok_half
    if m < 2 * tau:
        reason += f"; batches of {m} records are short against the correlation time {tau:.1f} (interval optimistic)"
    return Plateau(
        bool(ok),
        mean,
        ci,
        se,
        drift,
        dci,
        half,
        tau,
        float(x.size / tau),
        int(x.size),
        k,
        rtol,
        level,
        reason,
    )


#: names of the regimes :func:`regime` returns
REGIMES = ("below", "small-batch", "between", "full-batch", "above", "edge")


def regime(value: float, eta: float, beta: float, *, tol: float = 0.15) -> dict[str, Any]:
    r"""Where a plateau value sits against :math:`2(1-\beta)/\eta` and :math:`2(1+\beta)/\eta`.

    Args:
        value: the plateau (Batch Sharpness or top eigenvalue).
        eta: learning rate; ``beta``: heavy-ball momentum in [0, 1).
        tol: relative distance to a threshold still counted as sitting on it.

    Returns:
        ``{"regime", "low", "high", "ratio_low", "ratio_high", "position"}``: ``low`` and
        ``high`` the two thresholds, the ratios of ``value`` to each, ``position`` the place
        between them on a 0 (low) to 1 (high) scale, and ``regime`` one of ``small-batch``
        (within ``tol`` of the low threshold), ``full-batch`` (of the high one),
        ``between``, ``below``, ``above``, or ``edge`` when :math:`\beta = 0` (the two
        coincide at :math:`2/\eta`) and the value is within ``tol`` of it.

    Raises:
        EosInputError: :math:`\eta \le 0`, :math:`\beta \notin [0, 1)`, ``tol`` not in (0, 1).
    """
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta > 0):
        raise EosInputError(f"eta must be a positive number, got {eta}")
    if not (isinstance(beta, (int, float)) and 0 <= beta < 1):
        raise EosInputError(f"beta must be in [0, 1), got {beta}")
    if not 0 < tol < 1:
        raise EosInputError(f"tol must be in (0, 1), got {tol}")
    low, high = 2 * (1 - beta) / eta, 2 * (1 + beta) / eta
    v = float(value)
    out: dict[str, Any] = {"low": low, "high": high}
    if not math.isfinite(v):
        return {**out, "regime": "unknown", "ratio_low": None, "ratio_high": None, "position": None}
    r_lo, r_hi = v / low, v / high
    pos = (v - low) / (high - low) if high > low else None
    if beta == 0:
        name = "edge" if abs(r_lo - 1) <= tol else ("below" if v < low else "above")
    elif abs(r_lo - 1) <= tol and (abs(r_lo - 1) <= abs(r_hi - 1)):
        name = "small-batch"
    elif abs(r_hi - 1) <= tol:
        name = "full-batch"
    elif v < low:
        name = "below"
    elif v > high:
        name = "above"
    else:
        name = "between"
    return {**out, "regime": name, "ratio_low": r_lo, "ratio_high": r_hi, "position": pos}


def regime_report(
    series: Sequence[float] | np.ndarray | Mapping[str, Sequence[float]],
    eta: float,
    beta: float | None,
    batch_size: int | None,
    n: int,
    *,
    tail: float = 0.5,
    rtol: float = 0.05,
    tol: float = 0.15,
) -> dict[str, Any]:
    r"""Plateau test and momentum regime of a training series, JSON-ready.

    Args:
        series: one series, or a mapping of measure name to series (for instance a
            :class:`~eostheory.torch.TrainResult`'s ``series`` restricted to
            ``batch_sharpness`` and ``sharpness``; keys ``step`` and ``*_se`` are ignored).
        eta: learning rate; ``beta``: heavy-ball momentum (``None`` means 0).
        batch_size: SGD batch size (``None`` for full batch); ``n``: examples.
        tail, rtol: see :func:`plateau`; ``tol``: see :func:`regime`.

    Returns:
        ``{"eta", "beta", "batch_size", "n", "full_batch", "low", "high", "measures"}``
        with, per measure, the :meth:`Plateau.as_dict` record and, when plateaued, the
        :func:`regime` fields.  A measure that has not plateaued gets ``regime: None``.

    Raises:
        EosInputError: as :func:`plateau` and :func:`regime`; ``n`` or ``batch_size`` < 1.
    """
    b = 0.0 if beta is None else beta
    if int(n) != n or n < 1:
        raise EosInputError(f"n must be a positive integer, got {n}")
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise EosInputError(f"batch_size must be a positive integer, got {batch_size}")
    base = regime(math.nan, eta, b, tol=tol)
    items: dict[str, Any]
    if isinstance(series, Mapping):
        items = {k: v for k, v in series.items() if k != "step" and not str(k).endswith("_se")}
    else:
        items = {"series": series}
    out: dict[str, Any] = {}
    for name, s in items.items():
        p = plateau(s, tail=tail, rtol=rtol)
        rec = p.as_dict()
        if p.plateaued:
            rec.update({k: v for k, v in regime(p.value, eta, b, tol=tol).items() if k not in ("low", "high")})
        else:
            rec["regime"] = None
        out[str(name)] = rec
    full = batch_size is None or batch_size >= n
    return {
        "eta": float(eta),
        "beta": float(b),
        "batch_size": None if batch_size is None else int(batch_size),
        "n": int(n),
        "full_batch": full,
        "low": base["low"],
        "high": base["high"],
        "measures": out,
    }


def crossover(batch_sizes: Sequence[float], values: Sequence[Any], level: float = 1.0) -> float | None:
    r"""The batch size at which a plateau curve first rises through ``level``, interpolated on log–log axes.

    For consecutive points :math:`(B_j, y_j)`, :math:`(B_{j+1}, y_{j+1})` (sorted by batch
    size, missing values skipped) with :math:`y_j < \ell \le y_{j+1}`:

    .. math:: B^* = B_j \Big(\frac{B_{j+1}}{B_j}\Big)^{\ln(\ell/y_j)/\ln(y_{j+1}/y_j)} .

    With plateaus times :math:`\eta/2` and :math:`\ell = 1`, the midpoint of :math:`1-\beta`
    and :math:`1+\beta`, it is where a heavy-ball run changes from the small-batch to the
    full-batch regime.  ``None`` if the curve never rises through ``level``.

    Raises:
        EosInputError: lengths differ, a batch size is not positive, ``level`` not positive.
    """
    if len(batch_sizes) != len(values):
        raise EosInputError("batch_sizes and values must have the same length")
    if not (math.isfinite(level) and level > 0):
        raise EosInputError(f"level must be positive, got {level}")
    pts = sorted(
        (float(b), float(v))
        for b, v in zip(batch_sizes, values, strict=True)
        if v is not None and math.isfinite(float(v)) and float(v) > 0
    )
    if any(not b > 0 for b, _ in pts):
        raise EosInputError("batch sizes must be positive")
    for (b0, y0), (b1, y1) in itertools.pairwise(pts):
        if y0 < level <= y1:
            return b0 * (b1 / b0) ** (math.log(level / y0) / math.log(y1 / y0))
    return None


def plot_eoss(result: Mapping[str, Any], path: Any, *, title: str | None = None) -> None:
    r"""The figure *plateau × η/2 against batch size*, one colour per β.

    Filled markers: Batch-Sharpness plateau times :math:`\eta/2` (mean and standard
    deviation over seeds); hollow markers: top-eigenvalue plateau times :math:`\eta/2`;
    dotted: the mean-square prediction for each (from the final state's curvatures);
    thin horizontal lines :math:`1-\beta` and :math:`1+\beta`.  ``result`` is the output of
    :func:`eostheory.torch.eoss_experiment`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(result["summary"])
    betas = sorted({r["beta"] for r in rows})
    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def series(rs: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y, e = [], [], []
        for r in rs:
            m = r[key]["mean"]
            if m is not None:
                x.append(r["batch_size"])
                y.append(m)
                e.append(r[key]["sd"] or 0.0)
        return np.array(x), np.array(y), np.array(e)

    for i, beta in enumerate(betas):
        c = colors[i % len(colors)]
        rs = sorted((r for r in rows if r["beta"] == beta), key=lambda r: r["batch_size"])
        x, y, e = series(rs, "bs_ratio")
        ax.errorbar(x, y, e, fmt="o-", color=c, capsize=3, label=f"β={beta:g}: Batch Sharpness")
        x, y, e = series(rs, "lam_ratio")
        ax.errorbar(x, y, e, fmt="s--", color=c, mfc="none", capsize=3, label=f"β={beta:g}: λ_max")
        x, y, _ = series(rs, "predicted_bs_ratio")
        ax.plot(x, y, ":", color=c, marker="x", label=f"β={beta:g}: predicted (m₂/a)")
        x, y, _ = series(rs, "predicted_lam_ratio")
        ax.plot(x, y, ":", color=c, marker="+", ms=9, label=f"β={beta:g}: predicted (λ_max)")
        for level in {1 - beta, 1 + beta}:
            ax.axhline(level, color=c, lw=0.8, alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("plateau × η/2")
    ax.set_title(title or "heavy-ball SGD: plateaus against batch size (lines: 1−β, 1+β)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_edge_test(result: Mapping[str, Any], path: Any, *, title: str | None = None) -> None:
    r"""The edge test's figure: full-data loss after each restart (log scale), one line per η factor.

    The horizontal line is the loss level before the restart and the dashed one ``k`` times
    it (the catapult detector's spike level); ``result`` is the output of
    :func:`eostheory.torch.eoss_edge_test`.  The legend gives each quantity against its edge
    at the new rate, from the mean of the last quarter of the source run where the result
    has it (``*_edge_recent``), else from the estimate at the fork step.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    base = float(result["baseline"])
    k = float(result["detector"]["k"])
    tops = [k * base]
    for r in result["branches"]:
        st = np.asarray(r["step"], dtype=float) - float(result["fork_step"])
        lo = np.asarray([math.nan if v is None else v for v in r["loss"]], dtype=float)
        if r["catapult"]["kind"] != "diverged" and np.isfinite(lo).any():
            tops.append(float(np.nanmax(lo)))
        c = r["catapult"]
        # the last quarter's mean where the result has it (the plateau), else the fork-step estimate
        bs, gn, lm = (r.get(key + "_recent", r[key]) for key in ("bs_edge", "gni_edge", "lam_edge"))
        lab = f"η×{r['factor']:g}: {c['kind']} (η'/2(1−β)·BS = {bs:.2f}, ·GNI = {gn:.2f}; η'/2(1+β)·λ = {lm:.2f})"
        ax.plot(st, lo, lw=1.2, label=lab)
    ax.axhline(base, color="k", lw=0.8)
    ax.axhline(k * base, color="k", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_ylim(top=3 * max(tops))  # a diverging branch leaves the frame instead of flattening the others
    ax.set_xlabel("steps after the restart")
    ax.set_ylabel("full-data loss")
    src = result["source"]
    ax.set_title(
        title or f"restart from the plateau: β={src['beta']:g}, B={src['batch_size']}, η={src['eta']:.3g}", fontsize=9
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
