r"""Per-record metrics of a training run: the stability thresholds at the scheduled rate
:math:`\eta_t` (:class:`_Thresholds`, e.g. :math:`2/\eta_t` for GD), the regime reached, and the
series of the records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from eostheory._errors import EosInputError
from eostheory.analysis.plateau import regime_report
from eostheory.geometry import generalized_threshold_note
from eostheory.symbolic.stability import LAMBDA, thresholds
from eostheory.torch._trainconfig import TrainConfig


def _regime_of(cfg: TrainConfig, series: Mapping[str, list[Any]]) -> dict[str, Any] | None:
    r"""The momentum regime of the tracked curvature (``regime_report``), or ``None`` where it does not apply.

    Computed for plain or heavy-ball SGD/GD that uses mini-batches (:math:`B < n`) or momentum
    (:math:`\beta > 0`), over the tracked ``batch_sharpness`` and ``sharpness`` series: each
    tail is tested for a plateau and placed against :math:`2(1-\beta)/\eta` and
    :math:`2(1+\beta)/\eta` at the base rate.  Runs with weight decay, another optimizer or
    fewer than four records of a measure get ``None`` (or leave that measure out).
    """
    if cfg.optimizer not in ("gd", "sgd", "heavy-ball") or cfg.weight_decay:
        return None
    beta = float(cfg.hyperparameters.get("beta", 0.0) or 0.0)
    b = cfg.batch_size
    n = cfg.n_examples
    if not (beta > 0 or (b is not None and b < n)):
        return None
    eta = float(cfg.hyperparameters.get("eta", math.nan))
    items: dict[str, list[float]] = {}
    for key in ("batch_sharpness", "sharpness"):
        vals = [float(v) for v in series.get(key, []) if v is not None]
        if len(vals) >= 4 and all(math.isfinite(v) for v in vals):
            items[key] = vals
    if not items or not (math.isfinite(eta) and eta > 0):
        return None
    try:
        return regime_report(items, eta, beta, None if b is None or b >= n else b, n)
    except EosInputError:
        return None


#: The name of the weight-decay coefficient in the rule whose stability is derived for decoupled decay.
_WD = "weight_decay"


class _Thresholds:
    r"""The stability thresholds of the step a run takes, on the sharpness of the data loss, at any rate.

        From :func:`eostheory.symbolic.stability.thresholds` of the optimizer's rule (its
        characteristic polynomial :math:`p(z, \lambda)` on :math:`L = 	frac12\lambda w^2`):

        - ``"full-batch"``: :math:`\lambda^*`, where a root leaves the unit disc (``2(1+β)/η``
          for heavy ball);
        - ``"small-batch"`` (SGD only, when it differs): :math:`2/\eta_{
    m eff}` with the
          step's gain on a constant gradient
          :math:`\eta_{
    m eff} = \partial_\lambda p(1, 0) / \partial_z p(1, 0)` (``η/(1−β)`` for
          heavy ball and Nesterov, ``η`` for GD and EMA momentum): the boundary of mean-square
          stability in the noise-dominated regime, where small-batch SGD plateaus.

        Weight decay :math:`\lambda_{wd}`: coupled, the step sees :math:`H + \lambda_{wd} I`, so
        both move down by :math:`\lambda_{wd}` exactly; decoupled, the full-batch threshold is
        derived from the rule with :math:`- \eta\lambda_{wd} w` added to its ``w`` line
        (``(1+β)(2/η − λ_wd)`` for heavy ball), and the small-batch one moves down by
        :math:`\eta\lambda_{wd}/\eta_{
    m eff}`.
    """

    def __init__(self, opt: Any, hyper: Mapping[str, float], wd: float, decoupled: bool, *, sgd: bool) -> None:
        self.hyper = dict(hyper)
        self.wd, self.decoupled, self.sgd = wd, decoupled, sgd
        self.note = ""
        self._full: Any = None
        self._small: Any = None
        self._cache: dict[float, dict[str, float]] = {}
        try:
            base = thresholds(opt)
        except Exception as exc:  # a rule the linear analysis refuses (or cannot read): no line, never a lost run
            # steepest descent under a norm: its threshold is 2/eta on the generalized sharpness
            generalized = generalized_threshold_note(opt, self.hyper.get("eta"))
            self.note = generalized or f"no linear stability threshold for {opt.name}: {exc}"
            return
        self._full = base
        z = base.z
        num = base.polynomial.diff(LAMBDA).subs({z: 1, LAMBDA: 0})
        den = base.polynomial.diff(z).subs({z: 1, LAMBDA: 0})
        if num != 0:
            self._small = 2 * den / num
        if wd and decoupled:
            self._full = self._decoupled_rule(opt, thresholds)

    def _decoupled_rule(self, opt: Any, thresholds: Any) -> Any:
        lines = list(getattr(opt, "update", None) or ())
        targets = [ln.split("=", 1)[0].strip() for ln in lines]
        if _WD in {h.name for h in opt.hyperparameters} or targets.count("w") != 1 or targets[-1:] != ["w"]:
            self.note = f"no threshold derived for decoupled weight decay on {opt.name} (its w line is not last)"
            return None
        lines[-1] = f"w = ({lines[-1].split('=', 1)[1].strip()}) - eta*{_WD}*w"
        try:
            return thresholds(lines)
        except (EosInputError, TypeError, ValueError) as exc:
            self.note = f"no linear stability threshold for {opt.name} with decoupled weight decay: {exc}"
            return None

    def at(self, eta: float) -> dict[str, float]:
        """The thresholds at the rate ``eta`` (finite values only)."""
        if eta in self._cache:
            return self._cache[eta]
        vals = {**self.hyper, "eta": eta}
        out: dict[str, float] = {}
        if self._full is not None:
            try:
                if self.wd and self.decoupled:
                    full = self._full.value(**vals, **{_WD: self.wd})
                else:
                    full = self._full.value(**vals) - self.wd
            except (EosInputError, TypeError, ValueError, ZeroDivisionError):
                full = math.nan
            if math.isfinite(full):
                out["full-batch"] = float(full)
            elif not self.note:
                self.note = f"the linear stability threshold is not finite here ({full})"
        if self.sgd and self._small is not None:
            try:
                small = float(self._small.subs({s: vals[s.name] for s in self._small.free_symbols}))
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                small = math.nan
            if math.isfinite(small) and small > 0:
                small -= self.wd * (eta * small / 2 if self.decoupled else 1.0)  # eta/eta_eff = eta*small/2
                if not math.isclose(small, out.get("full-batch", math.nan), rel_tol=1e-12):
                    out["small-batch"] = small
        if len(self._cache) < 10_000:
            self._cache[eta] = out
        return out


def _series(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys: list[str] = []
    for r in records:
        for k in r:
            if k not in keys:
                keys.append(k)
    return {k: [r.get(k) for r in records] for k in keys}


#: Arguments of :func:`train` that :func:`resume` accepts as ``options``, to be checked against the saved run.
