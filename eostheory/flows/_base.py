"""The :class:`Flow` interface, the flow registry and the compilation of (potential, flow) pairs."""

from __future__ import annotations

import functools
import hashlib
import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import sympy as sp

from eostheory._errors import EosInputError
from eostheory._validate import finite_float, positive_float
from eostheory.compile._kernels import CompiledPotential, compile_potential
from eostheory.flows._fields import Block
from eostheory.integrate._solve import function_source, load_system, system_source
from eostheory.symbolic.potential import Potential

__all__ = ["FLAG_MESSAGES", "FLOWS", "Flow", "FlowParam", "compile_flow", "get_flow", "register_flow", "resolve_flow"]

#: What a flow's flag (``ws[0]``) means when the vector field is undefined.
FLAG_MESSAGES = {
    1: "no eigen-gap: the tracked top eigenvalue(s) are degenerate with the next one where the "
    "stability constraint binds (track more eigenvalues, e.g. central with k=2)",
    2: "the sharpness gradient vanishes where the stability constraint binds: nothing can "
    "hold S <= threshold (GD has no self-stabilization here and diverges)",
    3: "the semidefinite complementarity problem was not solved to tolerance",
    4: "the projection onto {S <= 2/eta, grad L . u = 0} did not converge (the set may be empty near here)",
    5: "degenerate state (zero direction vector)",
}

ETA = sp.Symbol("eta", positive=True)

#: above this many parameters the Hessian is diagonalized with LAPACK instead of Jacobi sweeps
LAPACK_DIM = 12
BETA = sp.Symbol("beta", nonnegative=True)


@dataclass(frozen=True)
class FlowParam:
    """A flow parameter besides η: name, default, choices (for categorical ones) and meaning."""

    name: str
    default: float | str
    description: str
    choices: tuple[str, ...] = ()
    integer_range: tuple[int, int] | None = None
    #: a float parameter that may be 0 (the default is > 0)
    nonnegative: bool = False

    def value(self, v: Any) -> float:
        """The runtime float for ``v`` (a choice is stored as its index)."""
        if self.choices:
            s = str(v).strip().lower()
            if s not in self.choices:
                raise EosInputError(f"parameter {self.name} must be one of {', '.join(self.choices)}, got {v!r}")
            return float(self.choices.index(s))
        if self.integer_range is not None:
            lo, hi = self.integer_range
            try:
                k = int(str(v))
            except ValueError:
                raise EosInputError(f"parameter {self.name} must be an integer, got {v!r}") from None
            if not lo <= k <= hi:
                raise EosInputError(f"parameter {self.name} must lie in [{lo}, {hi}], got {k}")
            return float(k)
        if self.nonnegative:
            x = finite_float(self.name, v)
            if x < 0:
                raise EosInputError(f"parameter {self.name} must be >= 0, got {x:g}")
            return x
        return positive_float(self.name, v)


@dataclass(frozen=True)
class Flow:
    r"""A continuous-time (or discrete) model of GD, defined once.

    A flow is a vector field on a state :math:`y` (the parameters :math:`w` and possibly
    more: a momentum buffer, a rod extent, a direction and a magnitude), written as numba
    source over the potential's compiled kernels (``grad``, ``hess``, ``third``, ``sharp``),
    plus how its state starts from a GD initial point, what it predicts (centre,
    time-averaged loss, oscillation amplitude) and its equations in sympy.

    Time is counted in GD steps: :math:`\dot w = -\eta \nabla L + \dots`.

    Attributes:
        name: registry name (``gradient``, ``central``, ``rod`` …).
        title: a short human name.
        description: one paragraph.
        reference: the paper it comes from.
        params: parameters besides η (and β for momentum flows).
        optimizer: the explicit optimizer it models (``gd`` or ``heavy-ball``).
        discrete: a discrete map (runs as the Euler step with ``dt = 1``).
        stop_on_enter: integration ends when the edge of stability is reached.
        time_offset: the flow's time 0 is GD time ``time_offset`` (the rod centre sits
            between two iterates: 0.5).
        extras: names of the extra observables after the common ones.
        cost: work per vector-field evaluation (gradients, Hessian-vector products,
            third-derivative contractions, eigen-decompositions).
        inline: functions (by their source name) compiled inline into their callers.
        workspace: the fast path's scratch blocks after ``ws[0:WS0]`` (sizes in ``n``), from
            which the generated module's ``WS_<NAME>`` and ``NWS`` constants are made
            (:func:`eostheory.flows._layout.layout_constants`, with the ``P_<NAME>`` indices
            of the parameters and the values of their choices).
        vector_field: the reference definition (:class:`eostheory.flows._fields.VectorField`):
            state blocks, initial state, vector field and observables written once against
            an oracle, run by the toy reference and by the torch path; the numba source is
            its fast path on toys.
    """

    name: str
    title: str
    description: str
    reference: str
    source_module: Any = field(repr=False, default=None)
    functions: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    params: tuple[FlowParam, ...] = ()
    optimizer: str = "gd"
    discrete: bool = False
    stop_on_enter: bool = False
    time_offset: float = 0.0
    extras: tuple[str, ...] = ()
    cost: Mapping[str, str] = field(default_factory=dict)
    inline: tuple[str, ...] = ()
    vector_field: Any = field(repr=False, default=None)
    workspace: tuple[Block, ...] = ()

    # --- source ---------------------------------------------------------------------------
    def parts(self, dim: int = 1, p: np.ndarray | None = None) -> list[str]:
        """Source texts spliced into the generated module (common helpers, then the flow).

        The Hessian's eigen-decomposition is closed-form or Jacobi (pure loops, fast to
        compile) up to :data:`LAPACK_DIM` parameters and LAPACK's above.
        """
        from eostheory.flows import _linalg, _src_common

        out = [
            f"# eostheory.flows._linalg source sha256 {_linalg_hash()}\n"
            f"from eostheory.flows._linalg import {', '.join(_linalg.FUNCTIONS)}\n\n"
            + "\n".join(f"{n} = {getattr(_src_common, n)!r}" for n in _src_common.CONSTANTS)
        ]
        out += [function_source(getattr(_src_common, f), inline=f in _src_common.INLINE) for f in _src_common.FUNCTIONS]
        if dim > LAPACK_DIM:
            out.append(function_source(_src_common.sym_eigh_lapack, "sym_eigh"))
        elif dim <= 2:
            eigh12 = getattr(_linalg.eigh12, "py_func", _linalg.eigh12)
            out.append(function_source(eigh12, "_eigh12_inline", inline=True))
            out.append(function_source(_src_common.sym_eigh_closed, "sym_eigh", inline=True))
        else:
            out.append(function_source(_src_common.sym_eigh))
        functions, rename = self.variant(p)
        for f in functions:
            out.append(function_source(getattr(self.source_module, f), rename.get(f), inline=f in self.inline))
        return out

    def variant(self, p: np.ndarray | None) -> tuple[tuple[str, ...], Mapping[str, str]]:
        """The functions to splice (and their renames) for parameters ``p``.

        A flow whose parameters change the code that must be compiled (central flow with one
        eigenvalue needs no SDCP solver) overrides this; a runtime parameter otherwise.
        """
        return self.functions, self.rename

    def module_source(self, cp: CompiledPotential, p: np.ndarray | None = None) -> str:
        """The whole generated module for the compiled potential ``cp`` (and parameters ``p``)."""
        # the text depends on the vector field only (not on the flow's name), so flows that
        # share a field and differ in parameters (edge / edge-rayleigh) share one module
        from eostheory.flows._layout import layout_constants

        kind = self.source_module.__name__.rsplit(".", 1)[-1].removeprefix("_src_")
        constants = {k: v for k, v in self.constants.items() if not (k == "NWS" and self.workspace)}
        constants.update(layout_constants(self))
        return system_source(
            cp.module.__name__,
            f"{kind} flow functions {', '.join(self.variant(p)[0])}",
            constants,
            self.parts(cp.potential.dim, p),
            cp.backend,
            [f"kernels: {cp.module.__name__} (the model is identified by their hash)"],
        )

    # --- parameters -------------------------------------------------------------------------
    def param_array(self, eta: float, beta: float | None = None, **values: Any) -> np.ndarray:
        """``[eta, (beta), params…]`` as the runtime float array, validated."""
        eta = positive_float("eta", eta)
        known = {fp.name for fp in self.params}
        unknown = set(values) - known
        if unknown:
            raise EosInputError(f"flow {self.name!r} has no parameter(s) {sorted(unknown)}; it has {sorted(known)}")
        vals = [eta]
        if self.optimizer == "heavy-ball":
            if beta is None:
                raise EosInputError(f"flow {self.name!r} models heavy-ball momentum: give beta")
            b = finite_float("beta", beta)
            if not 0.0 <= b < 1.0:
                raise EosInputError(f"beta must lie in [0, 1), got {b:g}")
            vals.append(b)
        elif beta is not None:
            raise EosInputError(f"flow {self.name!r} models plain GD; beta applies only to momentum flows")
        for fp in self.params:
            vals.append(fp.value(values.get(fp.name, fp.default)))
        return np.array(vals, dtype=np.float64)

    def param_names(self) -> tuple[str, ...]:
        """The names of the runtime array's entries: ``eta``, ``beta`` (momentum flows), the parameters."""
        return ("eta", *(("beta",) if self.optimizer == "heavy-ball" else ()), *(fp.name for fp in self.params))

    def param_index(self, name: str) -> int:
        """Where parameter ``name`` sits in the runtime array (the fast path's ``P_<NAME>`` constant)."""
        return self.param_names().index(name)

    def named(self, p: np.ndarray) -> Any:
        """The runtime array ``p`` by name (:class:`eostheory.flows._fields.Params`; choices as strings)."""
        from eostheory.flows._fields import Params

        out: dict[str, Any] = {}
        for name, v in zip(self.param_names(), np.asarray(p, dtype=np.float64).tolist(), strict=True):
            fp = next((q for q in self.params if q.name == name), None)
            if fp is not None and fp.choices:
                out[name] = fp.choices[int(v)]
            elif fp is not None and fp.integer_range is not None:
                out[name] = int(v)
            else:
                out[name] = v
        return Params(out)

    def threshold(self, p: np.ndarray) -> float:
        """The stability threshold the flow holds the sharpness at (2/η, or 2(1+β)/η)."""
        if self.vector_field is not None:
            return float(self.vector_field.threshold(self.named(p)))
        return 2.0 * (1.0 + (p[1] if self.optimizer == "heavy-ball" else 0.0)) / p[0]

    def check_applicable(self, pot: Potential, p: np.ndarray) -> None:
        """Raise :class:`EosInputError` when the flow cannot be defined on ``pot`` at all."""
        if self.vector_field is not None:
            why = self.vector_field.applicable(pot.dim, self.named(p))
            if why is not None:
                raise EosInputError(why.replace("it has", f"{pot} has"))

    # --- state ------------------------------------------------------------------------------
    def initial_state(self, cp: CompiledPotential, w0: np.ndarray, c: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The flow's state at its time 0 for GD started at ``w0`` (its reference field's ``initial``)."""
        if self.vector_field is None:
            return np.array(w0, dtype=np.float64)
        from eostheory.flows._oracle import ToyOracle

        o = ToyOracle(cp, c)
        return np.asarray(self.vector_field.initial(o, np.array(w0, dtype=np.float64), self.named(p)), dtype=np.float64)

    # --- printing ---------------------------------------------------------------------------
    def equations(self, pot: Potential) -> str:
        """The flow's equations for ``pot``, derived with sympy (one per line)."""
        raise NotImplementedError

    def cost_line(self) -> str:
        """Cost per vector-field evaluation, in words."""
        return ", ".join(f"{v} {k}" for k, v in self.cost.items())

    def __str__(self) -> str:
        return f"{self.name}: {self.title}"


@functools.cache
def _linalg_hash() -> str:
    from eostheory.flows import _linalg

    return hashlib.sha256(inspect.getsource(_linalg).encode()).hexdigest()[:20]


FLOWS: dict[str, Flow] = {}


def register_flow(flow: Flow, *, replace: bool = False) -> Flow:
    """Add a flow to the registry."""
    if flow.name in FLOWS and not replace:
        raise EosInputError(f"flow {flow.name!r} already exists")
    FLOWS[flow.name] = flow
    return flow


def get_flow(name: str | Flow) -> Flow:
    """Look a flow up by name."""
    if isinstance(name, Flow):
        return name
    try:
        return FLOWS[name.strip()]
    except KeyError:
        raise EosInputError(f"unknown flow {name!r}; known: {', '.join(FLOWS)}") from None


def resolve_flow(spec: str | Flow) -> tuple[Flow, dict[str, str]]:
    """Parse ``"name"`` or ``"name:key=value:key=value"`` into the flow and its parameters.

    Examples:
        >>> f, kw = resolve_flow("central:k=2")
        >>> f.name, kw
        ('central', {'k': '2'})
    """
    if isinstance(spec, Flow):
        return spec, {}
    parts = [s.strip() for s in str(spec).split(":")]
    flow = get_flow(parts[0])
    kw: dict[str, str] = {}
    for item in parts[1:]:
        if "=" not in item:
            raise EosInputError(f"flow parameters are written name:key=value, got {spec!r}")
        k, v = (s.strip() for s in item.split("=", 1))
        kw[k] = v
    return flow, kw


_MEMO: dict[tuple[str, str, str], tuple[ModuleType, float]] = {}


def compile_flow(
    pot: Potential, flow: Flow | str, p: np.ndarray | None = None, backend_name: str | None = None
) -> ModuleType:
    """Generate, cache and import the integration module of ``flow`` on ``pot``.

    The module imports the potential's kernel module (named by the hash of its source) and
    contains the flow's vector field and the integrator as text; its own name is the hash of
    that text, so it can never be stale.  Memoized per process.
    """
    flow = get_flow(flow)
    cp = compile_potential(pot, backend_name)
    cp.warm()
    from eostheory.flows import _linalg

    if cp.backend == "numba" and _linalg.BACKEND != "numba":
        raise EosInputError(
            "EOSTHEORY_DISABLE_NUMBA changed after eostheory.flows was imported; set it before importing"
        )
    src = flow.module_source(cp, p)
    key = (cp.module.__name__, src, cp.backend)
    hit = _MEMO.get(key)
    if hit is not None:
        return hit[0]
    t0 = time.perf_counter()
    mod = load_system(src)
    _MEMO[key] = (mod, time.perf_counter() - t0)
    return mod


def vector_str(name: str, comps: list[sp.Expr], syms: tuple[sp.Symbol, ...] | list[sp.Symbol]) -> list[str]:
    """``d<sym>/dt = expr`` lines."""
    return [
        f"d{s}/dt = {sp.sstr(sp.simplify(e) if sp.count_ops(e) < 60 else e)}" for s, e in zip(syms, comps, strict=True)
    ]
