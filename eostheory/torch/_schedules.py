r"""Learning-rate schedules: the rate of step :math:`t` as a pure function :math:`\eta_t = \eta\,f(t)`.

A :class:`Schedule` is a shape :math:`f(t)` (``schedule(t)``) and :meth:`Schedule.eta`
scales it by the base rate: :math:`\eta_t` is the rate of the step from :math:`w_t` to
:math:`w_{t+1}` (``t = 0, 1, …``, counted in steps of the whole run, so a resumed run or a
branch continues the same schedule).  Four shapes:

=========================================  ==================================================================
spec                                       :math:`f(t)`
=========================================  ==================================================================
``constant``                               :math:`1`
``warmup:steps=W``                         :math:`\min(1, (t+1)/W)` (linear warm-up)
``cosine[:warmup=W,final=F,steps=T]``      :math:`(t+1)/W` for :math:`t < W`; then
                                           :math:`F + (1-F)\,\tfrac12\bigl(1+\cos\pi\tfrac{t-W}{T-W}\bigr)`;
                                           :math:`F` from :math:`t \ge T` (defaults ``W = 0``,
                                           ``F = 0``, ``T`` = the run's steps)
``step:every=K,factor=γ``                  :math:`\gamma^{\lfloor t/K\rfloor}`
=========================================  ==================================================================

The warm-up starts at :math:`\eta/W` (not 0: the first step moves) and reaches
:math:`\eta` at step :math:`W-1`.  A spec is parsed by :func:`parse_schedule` with strict
validation (names and numbers only; nothing is evaluated); :meth:`Schedule.spec` is its
canonical text (every value written out, the cosine's length included), which is what a run
stores in its configuration.

Examples:
    >>> s = parse_schedule("cosine:warmup=2,final=0.1", steps=10)
    >>> s.spec()
    'cosine:warmup=2,final=0.1,steps=10'
    >>> [round(s(t), 4) for t in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.55, 0.1]
    >>> parse_schedule("step:every=3,factor=0.5").eta(7, 0.4)  # 0.4 * 0.5**2
    0.1
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from eostheory._errors import EosInputError

__all__ = ["SCHEDULES", "Schedule", "parse_schedule"]

#: Schedule kinds, their options, and which options are whole numbers.
SCHEDULES: dict[str, tuple[str, ...]] = {
    "constant": (),
    "warmup": ("steps",),
    "cosine": ("warmup", "final", "steps"),
    "step": ("every", "factor"),
}
_INTEGER = ("steps", "warmup", "every")
_REQUIRED = {"warmup": ("steps",), "step": ("every", "factor")}


@dataclass(frozen=True)
class Schedule:
    r"""A learning-rate shape :math:`f(t)`; ``schedule(t)`` is :math:`f(t)`, :meth:`eta` is :math:`\eta f(t)`.

    Build one with :func:`parse_schedule`, which validates the options.

    Attributes:
        kind: ``"constant"``, ``"warmup"``, ``"cosine"`` or ``"step"``.
        steps: warm-up length (``warmup``) or the cosine's end :math:`T`.
        warmup: the cosine's linear warm-up :math:`W` (``0``: none).
        final: the cosine's final fraction :math:`F \in [0, 1]`.
        every: the step schedule's period :math:`K`.
        factor: the step schedule's factor :math:`\gamma > 0`.
    """

    kind: str = "constant"
    steps: int = 0
    warmup: int = 0
    final: float = 0.0
    every: int = 0
    factor: float = 1.0

    @property
    def is_constant(self) -> bool:
        """True when :math:`f \\equiv 1` (the rate never changes)."""
        return self.kind == "constant" or (self.kind == "step" and self.factor == 1.0)

    def __call__(self, t: int) -> float:
        """:math:`f(t)` at step ``t >= 0``."""
        if self.kind == "constant":
            return 1.0
        if self.kind == "warmup":
            return min(1.0, (t + 1) / self.steps)
        if self.kind == "step":
            return self.factor ** (t // self.every)
        # cosine
        if t < self.warmup:
            return (t + 1) / self.warmup
        if t >= self.steps:
            return self.final
        phase = (t - self.warmup) / (self.steps - self.warmup)
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * phase))

    def eta(self, t: int, eta: float) -> float:
        r""":math:`\eta_t = \eta f(t)`, the rate of step ``t`` (exactly ``eta`` where :math:`f(t) = 1`)."""
        f = self(t)
        return eta if f == 1.0 else eta * f

    def spec(self) -> str:
        """The canonical text (``"cosine:warmup=100,final=0.1,steps=3000"``), parsed back by :func:`parse_schedule`."""
        if self.kind == "constant":
            return "constant"
        vals = {k: getattr(self, k) for k in SCHEDULES[self.kind]}
        return f"{self.kind}:" + ",".join(f"{k}={v!r}" for k, v in vals.items())

    def __str__(self) -> str:
        return self.spec()


def _number(kind: str, key: str, text: str) -> int | float:
    where = f"schedule {kind}: {key}"
    if key in _INTEGER:
        try:
            v = int(text)
        except ValueError:
            raise EosInputError(f"{where} must be a whole number, got {text!r}") from None
        if v < 0:
            raise EosInputError(f"{where} must be >= 0, got {v}")
        return v
    try:
        x = float(text)
    except ValueError:
        raise EosInputError(f"{where} must be a number, got {text!r}") from None
    if not math.isfinite(x):
        raise EosInputError(f"{where} must be finite, got {text!r}")
    return x


def parse_schedule(spec: str | Schedule | None, *, steps: int | None = None) -> Schedule:
    """Parse a schedule spec ``"KIND"`` or ``"KIND:key=value,…"`` (see the module docstring).

    Args:
        spec: the text (``None`` or ``""``: constant), or a :class:`Schedule` (returned,
            its cosine length filled in from ``steps`` when unset).
        steps: the run's total steps: the default end of a cosine schedule.

    Returns:
        The :class:`Schedule`.

    Raises:
        EosInputError: an unknown kind or option (the message lists the known ones), a
            repeated option, a value that is not a number, a missing required option,
            ``steps``/``every`` < 1, a warm-up not shorter than the cosine, ``final``
            outside ``[0, 1]`` or ``factor`` <= 0.

    Examples:
        >>> parse_schedule("warmup:steps=4")(1)
        0.5
    """
    if isinstance(spec, Schedule):
        if spec.kind == "cosine" and spec.steps == 0:
            return parse_schedule(spec.spec().replace(",steps=0", ""), steps=steps)
        return spec
    if spec is None:
        return Schedule()
    if not isinstance(spec, str):
        raise EosInputError(f"a schedule is a spec such as 'cosine:warmup=100,final=0.1', got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        return Schedule()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in SCHEDULES:
        raise EosInputError(f"unknown schedule {kind!r}; known: {', '.join(SCHEDULES)} (e.g. cosine:warmup=100)")
    known = SCHEDULES[kind]
    opts: dict[str, int | float] = {}
    for part in rest.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise EosInputError(f"schedule {kind}: expects key=value options separated by commas, got {part.strip()!r}")
        k, v = (s.strip() for s in part.split("=", 1))
        if k not in known:
            opts_text = ", ".join(known) if known else "none"
            raise EosInputError(f"schedule {kind} has no option {k!r}; its options: {opts_text}")
        if k in opts:
            raise EosInputError(f"schedule {kind} gives {k} twice")
        opts[k] = _number(kind, k, v)
    missing = [k for k in _REQUIRED.get(kind, ()) if k not in opts]
    if missing:
        raise EosInputError(f"schedule {kind} needs {', '.join(missing)} (e.g. {_EXAMPLES[kind]})")
    if kind == "constant":
        return Schedule()
    if kind == "warmup":
        if opts["steps"] < 1:
            raise EosInputError("schedule warmup: steps must be >= 1")
        return Schedule("warmup", steps=int(opts["steps"]))
    if kind == "step":
        if opts["every"] < 1:
            raise EosInputError("schedule step: every must be >= 1")
        if opts["factor"] <= 0:
            raise EosInputError(f"schedule step: factor must be > 0, got {opts['factor']:g}")
        return Schedule("step", every=int(opts["every"]), factor=float(opts["factor"]))
    total = opts.get("steps", steps)
    if total is None or int(total) < 1:
        raise EosInputError("schedule cosine needs steps >= 1 (its length; default: the run's steps)")
    warm = int(opts.get("warmup", 0))
    final = float(opts.get("final", 0.0))
    if warm >= int(total):
        raise EosInputError(f"schedule cosine: warmup = {warm} must be shorter than steps = {int(total)}")
    if not 0.0 <= final <= 1.0:
        raise EosInputError(f"schedule cosine: final must be in [0, 1] (a fraction of eta), got {final:g}")
    return Schedule("cosine", steps=int(total), warmup=warm, final=final)


_EXAMPLES = {"warmup": "warmup:steps=100", "step": "step:every=500,factor=0.5"}
