"""Compiled kernels of a potential: loss, gradient, Hessian, sharpness, ∇³L[u,u]."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import sympy as sp

from eostheory._errors import CompilationError, EosInputError
from eostheory.compile._cache import load_source_module
from eostheory.compile._codegen import backend, emit_function, expr_text, module_header, numba_reason, rename
from eostheory.compile._netkernels import net_source
from eostheory.compile._notice import progress
from eostheory.symbolic.potential import Potential

__all__ = ["CompiledPotential", "compile_potential", "potential_source"]


def potential_source(pot: Potential, backend_name: str) -> str:
    r"""Source of the kernel module of ``pot`` for ``backend_name``.

    Functions (``w`` parameters, ``c`` constants, ``u`` a direction, ``out`` output):
    ``loss(w, c)``, ``grad(w, c, out)``, ``hess(w, c, out)``, ``sharp(w, c)`` (top
    eigenvalue: closed form for :math:`n \le 2`, LAPACK ``eigvalsh`` above) and
    ``third(w, u, c, out)`` (:math:`\nabla^3 L[u, u]`).
    """
    n = pot.dim
    wmap = rename(pot.params, "_w")
    cmap = rename(pot.constant_symbols, "_c")
    umap = rename(pot.direction_symbols, "_u")
    sub = {**wmap, **cmap, **umap}
    unpack = [f"{wmap[p]} = w[{i}]" for i, p in enumerate(pot.params)]
    unpack += [f"{cmap[s]} = c[{k}]" for k, s in enumerate(pot.constant_symbols)]
    u_unpack = [f"{umap[s]} = u[{i}]" for i, s in enumerate(pot.direction_symbols)]

    def x(e: sp.Expr) -> sp.Expr:
        return sp.sympify(e).xreplace(sub)

    grad = pot.gradient()
    hess = pot.hessian()
    third = pot.third_contraction()
    parts = [
        module_header(
            f"potential {pot.name}" if pot.name else f"potential L = {expr_text(pot.expr, 200)}",
            backend_name,
            [
                f"L = {pot.expr}",
                f"params = {[p.name for p in pot.params]}",
                f"constants = {[c.name for c in pot.constants]}",
            ],
        ),
        f"DIM = {n}\n",
        emit_function("loss", ["w", "c"], unpack, [], returns=x(pot.expr)),
        emit_function("grad", ["w", "c", "out"], unpack, [(f"out[{i}]", x(grad[i])) for i in range(n)]),
        emit_function(
            "hess",
            ["w", "c", "out"],
            unpack,
            [(f"out[{i}, {j}]", x(hess[i, j])) for i in range(n) for j in range(i, n)],
            epilogue=[f"out[{j}, {i}] = out[{i}, {j}]" for i in range(n) for j in range(i + 1, n)],
        ),
        emit_function(
            "third", ["w", "u", "c", "out"], [*unpack, *u_unpack], [(f"out[{i}]", x(third[i])) for i in range(n)]
        ),
    ]
    if n == 1:
        parts.append(emit_function("sharp", ["w", "c"], unpack, [], returns=x(hess[0, 0])))
    elif n == 2:
        a, b, d = hess[0, 0], hess[0, 1], hess[1, 1]
        top = (a + d) / 2 + sp.sqrt(((a - d) / 2) ** 2 + b**2)
        parts.append(emit_function("sharp", ["w", "c"], unpack, [], returns=x(top)))
    else:
        parts.append(
            "@jit\ndef sharp(w, c):\n"
            f"    h = np.empty(({n}, {n}))\n"
            "    hess(w, c, h)\n"
            "    return np.linalg.eigvalsh(h)[-1]\n"
        )
    return "\n\n".join(parts)


@dataclass
class CompiledPotential:
    """The compiled kernels of a :class:`Potential` and where they came from.

    Attributes:
        potential: the symbolic potential (the expression the kernels came from).
        module: the generated module; ``module.__file__`` is its source on disk.
        backend: ``"numba"`` or ``"python"``.
        load_seconds: time to generate and import the module.
    """

    potential: Potential
    module: ModuleType
    backend: str
    load_seconds: float
    _compiled: bool = field(default=False, repr=False)

    @property
    def source(self) -> str:
        """The generated source code."""
        with open(self.module.__file__) as fh:  # type: ignore[arg-type]
            return fh.read()

    def constants(self, overrides: dict[str, float] | None = None) -> np.ndarray:
        """The constants array the kernels take, from the potential's values and ``overrides``."""
        return np.array(self.potential.constant_values(overrides), dtype=np.float64)

    @property
    def label(self) -> str:
        """What the kernels are of, for messages: the potential's name, else its expression."""
        return str(self.potential.name or f"L = {expr_text(self.potential.expr, 80)}")

    def _call(self, fname: str, *args: Any) -> Any:
        try:
            return getattr(self.module, fname)(*args)
        except Exception as exc:
            if type(exc).__module__.startswith("numba"):
                raise CompilationError(
                    f"numba cannot compile {fname} of {expr_text(self.potential.expr)}: {numba_reason(exc)}"
                ) from None
            raise

    def loss(self, w: np.ndarray, c: np.ndarray) -> float:
        """:math:`L(w)`."""
        return float(self._call("loss", np.asarray(w, dtype=np.float64), c))

    def grad(self, w: np.ndarray, c: np.ndarray) -> np.ndarray:
        r""":math:`\nabla L(w)` as a new array."""
        out = np.empty(self.potential.dim)
        self._call("grad", np.asarray(w, dtype=np.float64), c, out)
        return out

    def hess(self, w: np.ndarray, c: np.ndarray) -> np.ndarray:
        r""":math:`\nabla^2 L(w)` as a new array."""
        n = self.potential.dim
        out = np.empty((n, n))
        self._call("hess", np.asarray(w, dtype=np.float64), c, out)
        return out

    def sharpness(self, w: np.ndarray, c: np.ndarray) -> float:
        r"""Top Hessian eigenvalue :math:`S(w) = \lambda_{\max}(\nabla^2 L(w))`."""
        return float(self._call("sharp", np.asarray(w, dtype=np.float64), c))

    def third(self, w: np.ndarray, u: np.ndarray, c: np.ndarray) -> np.ndarray:
        r""":math:`\nabla^3 L(w)[u, u]`."""
        out = np.empty(self.potential.dim)
        self._call("third", np.asarray(w, dtype=np.float64), np.asarray(u, dtype=np.float64), c, out)
        return out

    def warm(self, w: np.ndarray | None = None) -> None:
        """Compile every kernel now (first call), turning numba typing errors into clear errors.

        The kernels are called once, at ``w`` when given (the caller's starting point),
        else at a generic point; what they return there is not used, so a singular value
        (``1/w`` at 0, ``log`` of a negative number) is no error.  A first compilation
        prints one notice line (:mod:`eostheory.compile._notice`).

        Args:
            w: a point in parameter space (default: 0.5 in every coordinate).

        Raises:
            CompilationError: numba cannot type or compile a kernel.
        """
        if self._compiled:
            return
        n = self.potential.dim
        x = np.full(n, 0.5)
        if w is not None:
            wa = np.asarray(w, dtype=np.float64).reshape(-1)
            if wa.shape == (n,) and np.all(np.isfinite(wa)):
                x = wa.copy()
        try:
            c = self.constants()
        except EosInputError:  # constants left symbolic: any numbers type-check the kernels
            c = np.zeros(len(self.potential.constants))
        u = np.ones(n)
        with progress(f"kernels of {self.label}"):
            for fname, args in [
                ("loss", (x, c)),
                ("grad", (x, c, np.empty(n))),
                ("hess", (x, c, np.empty((n, n)))),
                ("sharp", (x, c)),
                ("third", (x, u, c, np.empty(n))),
            ]:
                try:
                    self._call(fname, *args)
                except CompilationError:
                    raise
                except (ArithmeticError, ValueError, np.linalg.LinAlgError):
                    pass  # compiled; the value at this point is not needed (a pole, a domain error)
        self._compiled = True


_MEMO: dict[tuple[str, str], CompiledPotential] = {}


#: Kernel generators by model family (a model's ``kernel_family``): the models stay
#: sympy-only, the generated source is this package's job.
_FAMILIES = {"net": net_source}


def _family_source(family: str, pot: Any, be: str) -> str:
    gen = _FAMILIES.get(family)
    if gen is None:
        raise EosInputError(f"unknown kernel family {family!r}; known: {', '.join(sorted(_FAMILIES))}")
    return gen(pot, be)


def compile_potential(pot: Potential, backend_name: str | None = None) -> CompiledPotential:
    """Generate, cache and import the kernels of ``pot`` (memoized per process).

    Args:
        pot: the potential.
        backend_name: ``"numba"`` or ``"python"``; default from :func:`backend`
            (``EOSTHEORY_DISABLE_NUMBA=1`` selects the pure-Python/numpy fallback).

    Returns:
        The :class:`CompiledPotential` (numba compiles each kernel at its first call, or
        at :meth:`CompiledPotential.warm`).

    Raises:
        CompilationError: the expression uses a function that cannot be compiled.
    """
    be = backend_name or backend()
    memo_key = (pot.key, be)
    if memo_key in _MEMO:
        cp = _MEMO[memo_key]
        # same code, maybe other constant values or data: keep the kernels, bind this model
        return cp if cp.potential is pot else dataclasses.replace(cp, potential=pot)
    t0 = time.perf_counter()
    # any model that generates its own kernel module (same contract) plugs in here,
    # e.g. symbolic networks whose data are summed inside the kernel
    try:
        family = getattr(pot, "kernel_family", None)
        if family is not None:
            src = _family_source(family, pot, be)
        elif hasattr(pot, "kernel_source"):
            src = pot.kernel_source(be)
        else:
            src = potential_source(pot, be)
    except CompilationError as exc:  # name the user's expression, not the code variables (_w0, _t3)
        why = str(exc).split(": ", 1)[-1] if str(exc).startswith("cannot compile") else str(exc)
        raise CompilationError(f"cannot compile L = {expr_text(pot.expr)}: {why}") from None
    module = load_source_module("eos_pot", src)
    cp = CompiledPotential(pot, module, be, time.perf_counter() - t0)
    _MEMO[memo_key] = cp
    return cp
