"""Generated integration modules, :func:`solve` and the :class:`Trajectory` it returns."""

from __future__ import annotations

import inspect
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import finite_float, finite_vector, positive_float, positive_int
from eostheory.compile._cache import load_source_module
from eostheory.compile._codegen import module_header
from eostheory.integrate import _control, _events, _src
from eostheory.integrate._generate import method_constants, stepper_source
from eostheory.integrate._names import FLOW_ALIASES
from eostheory.integrate._steppers import STEPPERS, Stepper, get_stepper

__all__ = [
    "STATUS_NAMES",
    "CompiledSystem",
    "Trajectory",
    "function_source",
    "hook_aliases",
    "integrator_source",
    "solve",
    "system_source",
]

#: Statuses of an integration: ``completed`` (reached the final time), ``diverged`` (a state
#: or derivative overflowed: stopped at the last finite state), ``step_too_small`` (the
#: adaptive step collapsed: a stiff blow-up or a singularity), ``max_steps``, ``undefined``
#: (the vector field is not defined at the state reached, e.g. no eigen-gap), ``stopped``
#: (a terminal event: the stable flow reached the edge of stability).
STATUS_NAMES = ("completed", "diverged", "step_too_small", "max_steps", "undefined", "stopped")


def function_source(func: Callable[..., Any], rename: str | None = None, inline: bool = False) -> str:
    """Source text of a plain module-level function, decorated with ``@jit``, optionally renamed.

    ``inline=True`` decorates it with ``@jiti`` instead: compiled into each caller (numba's
    ``inline="always"``), which removes the call and its array reference counting.
    """
    src = inspect.getsource(func)
    while src.startswith("@"):  # drop the function's own decorators
        src = src.split("\n", 1)[1]
    if rename is not None:
        src = re.sub(rf"^def {func.__name__}\(", f"def {rename}(", src, count=1, flags=re.M)
    return ("@jiti\n" if inline else "@jit\n") + src


def _const_source(name: str, value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{name} = np.array({value.tolist()!r})"
    return f"{name} = {value!r}"


def integrator_source() -> str:
    """The integration loop and the steppers as source text (constants, then functions).

    The steppers' ``_step`` and ``_interp`` are generated from their Butcher tableaux
    (:func:`~eostheory.integrate._generate.stepper_source`), so the text, and the name of
    every module that splices it, changes with the registered tableaux.
    """
    consts = [_const_source(n, getattr(_src, n)) for n in dir(_src) if n.isupper() and n.startswith("S_")]
    consts += [f"{k} = {v}" for k, v in method_constants().items()]
    funcs = [function_source(getattr(_control, f), inline=f in _control.INLINE) for f in _control.FUNCTIONS]
    funcs += [function_source(getattr(_src, f)) for f in _src.FUNCTIONS[:-2]]
    funcs.append(stepper_source())
    funcs += [function_source(getattr(_events, f), inline=f in _events.INLINE) for f in _events.FUNCTIONS]
    funcs += [function_source(getattr(_src, f)) for f in _src.FUNCTIONS[-2:]]
    return "\n".join(consts) + "\n\n\n" + "\n\n".join(funcs)


def hook_aliases(parts: Sequence[str]) -> str:
    """``new = old`` lines binding the loop's hooks (``rhs``, ``event``, ``post``, ``observe``)
    to a system's functions when its source defines them under their earlier names
    (``flow_rhs``, ``flow_edge``, ``flow_post``, ``flow_aux``), and the other way round."""
    text = "\n".join(parts)

    def defined(name: str) -> bool:
        return re.search(rf"^(def {name}\(|{name} = )", text, re.M) is not None

    lines = []
    for old, new in FLOW_ALIASES.items():
        if defined(old) and not defined(new):
            lines.append(f"{new} = {old}")
        elif defined(new) and not defined(old):
            lines.append(f"{old} = {new}")
    return "\n".join(lines) + "\n"


def system_source(
    kernel_module: str,
    title: str,
    constants: Mapping[str, str],
    parts: Sequence[str],
    backend_name: str,
    comments: Sequence[str] = (),
) -> str:
    """Source of a generated integration module.

    It imports the potential's kernels from ``kernel_module`` (itself named by a hash of its
    source), defines ``constants`` (``NAME = expression`` lines, e.g. ``NY = DIM + 1``), the
    system's functions (``parts``: source texts binding the hooks ``rhs``, ``event``,
    ``post``, ``observe``, or their earlier names ``flow_rhs``, ``flow_edge``, ``flow_post``,
    ``flow_aux``) and the integrator.  The module name is a hash of all of
    this text, so a compiled copy can never be stale.
    """
    header = module_header(title, backend_name, comments)
    if backend_name == "numba":
        header += "jiti = njit(cache=True, error_model='numpy', inline='always')\n"
    else:
        header += "jiti = jit\n"
    imports = f"from {kernel_module} import DIM, loss, grad, hess, sharp, third\n"
    const_lines = "\n".join(f"{k} = {v}" for k, v in constants.items()) + "\n"
    return "\n\n".join([header, imports, const_lines, *parts, hook_aliases(parts), integrator_source()]) + "\n"


def load_system(source: str) -> ModuleType:
    """Write and import a generated integration module (cached on disk by the hash of its source)."""
    return load_source_module("eos_flow", source)


@dataclass
class CompiledSystem:
    """A generated integration module together with its runtime arrays.

    Attributes:
        module: the generated module (``integrate``, ``NY``, ``NAUX`` …).
        p: the flow's parameter array.
        c: the potential's constants array.
        name: a label for messages.
        discrete: a discrete map (only the Euler step with ``dt = 1`` is allowed).
        stop_on_enter: end the integration when the edge indicator turns non-negative.
    """

    module: ModuleType
    p: np.ndarray
    c: np.ndarray
    name: str = "system"
    discrete: bool = False
    stop_on_enter: bool = False

    @property
    def ny(self) -> int:
        """Size of the state vector."""
        return int(self.module.NY)

    def rhs(self, y: np.ndarray) -> np.ndarray:
        """The vector field at ``y`` (a new array)."""
        out = np.empty(self.ny)
        ws = np.zeros(int(self.module.NWS))
        self.module.rhs(np.asarray(y, dtype=np.float64), self.p, self.c, ws, out)
        return out


@dataclass
class Trajectory:
    """What :func:`solve` returns.

    Attributes:
        t: recorded times (the requested output times reached).
        y: recorded states, one row per time.
        status: one of :data:`STATUS_NAMES`.
        message: a sentence about the status.
        t_final, y_final: where the integration ended.
        events: ``[(t, "enter" | "leave"), …]``: sign changes of the edge indicator.
        work: ``rhs`` (vector-field evaluations), ``steps`` (accepted), ``rejected``.
        method: the stepper's name; ``seconds`` the wall time of the compiled loop.
        flag: the flow's flag code when ``status == "undefined"`` (0 otherwise).
        aux: the system's observables (``observe``) at the recorded states.
        steady_from: when the state was recognized as a contracting equilibrium (else None).
    """

    t: np.ndarray
    y: np.ndarray
    status: str
    message: str
    t_final: float
    y_final: np.ndarray
    events: list[tuple[float, str]]
    work: dict[str, int]
    method: str
    seconds: float
    flag: int = 0
    flag_value: float = 0.0
    aux: np.ndarray | None = None
    steady_from: float | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "status": self.status,
            "message": self.message,
            "t_final": self.t_final,
            "y_final": [float(v) for v in self.y_final],
            "events": [[float(t), k] for t, k in self.events],
            "work": dict(self.work),
            "method": self.method,
            "seconds": self.seconds,
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``trajectory.json`` and ``trajectory.npz`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        from eostheory._json import write_json  # strict JSON: a non-finite value is null, listed in non_finite

        write_json(d / "trajectory.json", self.summary(), annotate=True)
        np.savez(d / "trajectory.npz", t=self.t, y=self.y, y_final=self.y_final)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> Trajectory:
        """Read a directory written by :meth:`save`."""
        d = Path(directory)
        s = json.loads((d / "trajectory.json").read_text())
        a = np.load(d / "trajectory.npz")
        return cls(
            a["t"],
            a["y"],
            s["status"],
            s["message"],
            s["t_final"],
            a["y_final"],
            [(float(t), k) for t, k in s["events"]],
            s["work"],
            s["method"],
            s["seconds"],
        )


_MAXABS = 1e100


def solve(
    system: CompiledSystem,
    y0: Sequence[float] | np.ndarray,
    t_span: tuple[float, float],
    *,
    method: str | Stepper = "dopri5",
    dt: float | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    t_eval: Sequence[float] | np.ndarray | None = None,
    max_step: float = math.inf,
    max_steps: int = 10_000_000,
    first_step: float | None = None,
    stop_on_enter: bool | None = None,
    steady_state: bool = True,
    maxabs: float = _MAXABS,
    event_capacity: int = 256,
) -> Trajectory:
    r"""Integrate a compiled system :math:`\dot y = f(y)` over ``t_span`` with the compiled loop.

    Args:
        system: a :class:`CompiledSystem` (e.g. from :func:`eostheory.flows.compile_flow`).
        y0: the initial state.
        t_span: ``(t0, t1)`` with ``t1 >= t0``, in GD steps.
        method: ``"euler"``, ``"rk4"`` (fixed step ``dt``), ``"dopri5"`` (adaptive) or any
            registered tableau (:func:`~eostheory.integrate._tableau.register_tableau`).
        dt: the fixed step (required for Euler and RK4; ``1`` for a discrete map).
        rtol, atol: tolerances of the adaptive method (error per step measured in
            :math:`\mathrm{atol} + \mathrm{rtol}\,|y|`, root-mean-square over components).
        t_eval: output times within ``t_span`` (default: ``t0`` and ``t1``).
        max_step: largest adaptive step.
        max_steps: budget of attempted steps.
        first_step: first adaptive step (default: chosen from the derivatives).
        stop_on_enter: stop when the edge indicator first turns non-negative (default: the
            system's own setting).
        steady_state: (``dopri5`` only) end the integration once the state is, to tolerance,
            an attracting equilibrium (every eigenvalue of the finite-difference Jacobian in
            the left half-plane, and the Newton step to the equilibrium below the tolerance);
            the remaining outputs are the equilibrium (the state after that Newton step).
        maxabs: a component beyond this counts as divergence.
        event_capacity: how many events are stored (more are counted).

    Returns:
        A :class:`Trajectory`; only the output times reached are kept.

    Raises:
        EosInputError: bad tolerances, times, step, or a fixed step for a discrete map
            other than 1.
    """
    stepper = get_stepper(method)
    if not stepper.compiled:
        raise EosInputError(
            f"method {stepper.name!r} is a Python step function: the compiled loop runs the tableau "
            f"methods ({', '.join(STEPPERS)}); run it with a Python loop over arrays"
        )
    ny = system.ny
    y = finite_vector("y0", y0, ny)
    t0 = finite_float("t0", t_span[0])
    t1 = finite_float("t1", t_span[1])
    if t1 < t0:
        raise EosInputError(f"t_span must be increasing, got {t_span}")
    rtol = positive_float("rtol", rtol)
    atol = positive_float("atol", atol)
    if system.discrete:
        if stepper.name != "euler" or (dt is not None and float(dt) != 1.0):
            raise EosInputError(f"{system.name} is a discrete map: it runs only as the Euler step with dt = 1")
        dt = 1.0
    if stepper.adaptive:
        h = 0.0 if first_step is None else positive_float("first_step", first_step)
    else:
        if dt is None:
            raise EosInputError(f"method {stepper.name!r} needs a fixed step dt")
        h = positive_float("dt", dt)
    hmax = float(max_step) if math.isfinite(max_step) else 1e300
    if not hmax > 0:
        raise EosInputError(f"max_step must be > 0, got {max_step}")
    te = np.array([t0, t1] if t_eval is None else np.asarray(t_eval, dtype=np.float64).reshape(-1))
    if te.size and (not np.all(np.isfinite(te)) or np.any(np.diff(te) < 0) or te[0] < t0 - 1e-12 or te[-1] > t1 + 1e-9):
        raise EosInputError("t_eval must be finite, sorted and within t_span")
    max_steps = positive_int("max_steps", max_steps)
    stop = system.stop_on_enter if stop_on_enter is None else bool(stop_on_enter)
    Y = np.zeros((te.size, ny))
    A = np.zeros((te.size, int(system.module.NAUX)))
    ev_t = np.zeros(event_capacity)
    ev_kind = np.zeros(event_capacity, dtype=np.int64)
    y_end = np.zeros(ny)
    counts = np.zeros(6, dtype=np.int64)
    info = np.zeros(5)
    mod = system.module
    t_start = time.perf_counter()
    code = mod.integrate(
        stepper.code,
        y,
        t0,
        t1,
        h,
        rtol,
        atol,
        hmax,
        max_steps,
        stop,
        bool(steady_state),
        float(maxabs),
        system.p,
        system.c,
        te,
        Y,
        A,
        ev_t,
        ev_kind,
        y_end,
        counts,
        info,
    )
    seconds = time.perf_counter() - t_start
    status = STATUS_NAMES[int(code)]
    nout = int(counts[3])
    t_fin = float(info[0])
    nev = int(min(counts[4], event_capacity))
    events = [(float(ev_t[i]), "enter" if ev_kind[i] == 1 else "leave") for i in range(nev)]
    steady_note = f" (a contracting equilibrium from t = {info[4]:g} on)" if counts[5] else ""
    messages = {
        "completed": f"integrated to t = {t_fin:g}{steady_note}",
        "diverged": f"diverged at t = {t_fin:g}: the state overflowed; reporting the last finite state",
        "step_too_small": f"the adaptive step collapsed at t = {t_fin:g} (stiff blow-up or singularity)",
        "max_steps": f"step budget ({max_steps}) exhausted at t = {t_fin:g}",
        "undefined": f"the vector field is undefined at t = {t_fin:g}",
        "stopped": f"stopped on entering the edge of stability at t = {t_fin:g}",
    }
    return Trajectory(
        t=te[:nout].copy(),
        y=Y[:nout].copy(),
        status=status,
        message=messages[status],
        t_final=t_fin,
        y_final=y_end,
        events=events,
        work={"rhs": int(counts[0]), "steps": int(counts[1]), "rejected": int(counts[2])},
        steady_from=float(info[4]) if counts[5] else None,
        method=stepper.name,
        seconds=seconds,
        flag=int(info[2]),
        flag_value=float(info[3]),
        aux=A[:nout].copy(),
    )
