r"""The oracle a flow's vector field is written against, and its toy implementation.

A flow's reference vector field (:mod:`eostheory.flows._fields`) asks for the loss, the
gradient, Hessian-vector products, the third-derivative contraction and the top
eigenpairs of the Hessian at a point, and does its own arithmetic with a small array
namespace ``xp``.  Two oracles implement that contract:

- :class:`ToyOracle` over a compiled sympy potential (:class:`CompiledPotential`): dense
  Hessian, exact ``numpy.linalg.eigh``, the generated third-derivative kernel; arrays are
  NumPy float64.
- the network oracle of :mod:`eostheory.torch` (matrix-free: gradient graphs, HVPs,
  warm-started Lanczos), with torch tensors on the objective's device and dtype.

Work is organized by point: ``o.at(w, curvature=True)`` returns a :class:`Point` whose
gradient, HVPs and third contractions share one gradient graph on the torch path (a graph
costs about 1.5 gradients, a plain gradient 1), which is what keeps the shared fields as
cheap per step as hand-written ones.  The oracle also carries the flag a field raises
when it is undefined (the codes of :data:`eostheory.flows.FLAG_MESSAGES`).

The array namespace is a thin one of our own rather than ``array-api-compat``: the fields
use about fifteen operations, the toy path must not depend on torch, and the two
namespaces below are short enough to read whole (``torch`` tensors and ``numpy`` arrays
differ in exactly the places written out here: ``cat``/``concatenate``, ``clone``/``copy``,
``linalg`` spellings and how a scalar leaves the array).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

__all__ = ["NUMPY", "ArrayOps", "Oracle", "Point", "ToyOracle"]


class ArrayOps:
    """The array operations a vector field may use (NumPy float64 here; torch in ``eostheory.torch``)."""

    name = "numpy"

    @staticmethod
    def asarray(x: Any, like: Any = None) -> Any:
        """``x`` as an array of the namespace (float64)."""
        return np.asarray(x, dtype=np.float64)

    @staticmethod
    def zeros(n: int | tuple[int, ...], like: Any) -> Any:
        """Zeros of shape ``n`` with the dtype and device of ``like``."""
        return np.zeros(n, dtype=np.float64)

    @staticmethod
    def cat(parts: list[Any]) -> Any:
        """Concatenate 1-D arrays."""
        return np.concatenate([np.reshape(p, -1) for p in parts])

    @staticmethod
    def cat_columns(blocks: list[Any]) -> Any:
        """Concatenate matrices side by side."""
        return np.concatenate(blocks, axis=1)

    @staticmethod
    def stack(rows: list[Any]) -> Any:
        """Stack 1-D arrays as the rows of a matrix."""
        return np.stack(rows)

    @staticmethod
    def dot(a: Any, b: Any) -> float:
        """Inner product as a Python float."""
        return float(np.dot(a, b))

    @staticmethod
    def norm(a: Any) -> float:
        """Euclidean norm as a Python float."""
        return float(np.linalg.norm(a))

    @staticmethod
    def outer(a: Any, b: Any) -> Any:
        """Outer product :math:`ab^\\top`."""
        return np.outer(a, b)

    @staticmethod
    def copy(a: Any) -> Any:
        """A copy of ``a``."""
        return np.array(a, dtype=np.float64)

    @staticmethod
    def to_numpy(a: Any) -> np.ndarray:
        """``a`` as a NumPy float64 array (a copy on the torch path)."""
        return np.asarray(a, dtype=np.float64)

    @staticmethod
    def from_numpy(a: np.ndarray, like: Any) -> Any:
        """A NumPy array in the namespace of ``like``."""
        return np.asarray(a, dtype=np.float64)

    @staticmethod
    def eigh(a: Any) -> tuple[Any, Any]:
        """Eigen-decomposition of a symmetric matrix, ascending."""
        return np.linalg.eigh(0.5 * (a + a.T))

    @staticmethod
    def qr(a: Any) -> tuple[Any, Any]:
        """Reduced QR factorization."""
        return np.linalg.qr(a)

    @staticmethod
    def diag(a: Any) -> Any:
        """The diagonal matrix of a vector."""
        return np.diag(a)

    @staticmethod
    def flip_columns(a: Any) -> Any:
        """Columns in reverse order."""
        return a[:, ::-1]

    @staticmethod
    def sqrt_pos(a: Any) -> Any:
        """Entrywise :math:`\\sqrt{\\max(a, 0)}`."""
        return np.sqrt(np.maximum(a, 0.0))

    @staticmethod
    def all_finite(a: Any) -> bool:
        """Whether every entry is finite."""
        return bool(np.all(np.isfinite(a)))

    @staticmethod
    def maxabs(a: Any) -> float:
        """Largest absolute entry."""
        return float(np.max(np.abs(a))) if np.size(a) else 0.0


#: the NumPy namespace of the toy path
NUMPY = ArrayOps()


class Point(Protocol):
    """The oracle at one point ``w`` (a shared gradient graph on the torch path)."""

    def loss(self) -> float: ...

    def grad(self) -> Any: ...

    def hvp(self, v: Any) -> Any: ...

    def third(self, u: Any, v: Any = None) -> Any:
        r""":math:`\nabla_w(u^\top H(w) v)` (``v = u`` when omitted; polarization otherwise)."""
        ...

    def eigh_top(self, k: int) -> tuple[np.ndarray, Any, float | None]:
        """Top-``k`` eigenvalues (descending, NumPy), eigenvectors (columns) and the next eigenvalue (or ``None``)."""
        ...


class Oracle(Protocol):
    """What a flow's reference vector field may ask about the loss (see the module docstring)."""

    xp: ArrayOps
    n: int
    flag: int
    flag_value: float

    def at(self, w: Any, curvature: bool = False) -> Point: ...

    def loss(self, w: Any) -> float: ...

    def grad(self, w: Any) -> Any: ...

    def hvp(self, w: Any, v: Any) -> Any: ...

    def third(self, w: Any, u: Any, v: Any = None) -> Any: ...

    def eigh_top(self, w: Any, k: int, warm: Any = None) -> tuple[np.ndarray, Any, float | None]: ...

    def sharpness(self, w: Any) -> float: ...

    def raise_flag(self, code: int, value: float) -> None: ...


class OracleBase:
    """Point-free conveniences and the flag, shared by the oracles."""

    xp: ArrayOps = NUMPY
    n: int = 0
    flag: int = 0
    flag_value: float = 0.0

    def at(self, w: Any, curvature: bool = False) -> Point:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, w: Any) -> float:
        return self.at(w).loss()

    def grad(self, w: Any) -> Any:
        return self.at(w).grad()

    def hvp(self, w: Any, v: Any) -> Any:
        return self.at(w, True).hvp(v)

    def third(self, w: Any, u: Any, v: Any = None) -> Any:
        return self.at(w, True).third(u, v)

    def eigh_top(self, w: Any, k: int, warm: Any = None) -> tuple[np.ndarray, Any, float | None]:
        return self.at(w, True).eigh_top(k)

    def sharpness(self, w: Any) -> float:
        """:math:`\\lambda_{\\max}(H(w))` (the observation's eigensolver on the torch path)."""
        lam, _U, _nxt = self.at(w, True).eigh_top(1)
        return float(lam[0])

    def raise_flag(self, code: int, value: float) -> None:
        """Mark the field undefined here (the last flag raised wins, as in the fast path's ``ws[0]``)."""
        self.flag = int(code)
        self.flag_value = float(value)

    def clear_flag(self) -> None:
        self.flag = 0
        self.flag_value = 0.0

    def remember(self, key: str, y: Any, value: Any) -> None:
        """Keep ``value`` computed at the state object ``y`` (a stepper reuses the field's own evaluation)."""
        memo = self.__dict__.setdefault("_memo", {})
        memo[key] = (y, value)

    def recall(self, key: str, y: Any) -> Any:
        """What :meth:`remember` kept for this very state object ``y`` (``None`` otherwise)."""
        hit = self.__dict__.get("_memo", {}).get(key)
        return hit[1] if hit is not None and hit[0] is y else None


class _ToyPoint:
    def __init__(self, o: ToyOracle, w: np.ndarray) -> None:
        self.o = o
        self.w = np.asarray(w, dtype=np.float64)
        self._g: np.ndarray | None = None
        self._h: np.ndarray | None = None
        self._eig: tuple[np.ndarray, np.ndarray] | None = None

    def loss(self) -> float:
        return float(self.o.cp.loss(self.w, self.o.c))

    def grad(self) -> np.ndarray:
        if self._g is None:
            self._g = np.asarray(self.o.cp.grad(self.w, self.o.c), dtype=np.float64)
        return self._g

    def hessian(self) -> np.ndarray:
        if self._h is None:
            self._h = np.asarray(self.o.cp.hess(self.w, self.o.c), dtype=np.float64)
        return self._h

    def hvp(self, v: Any) -> np.ndarray:
        return self.hessian() @ np.asarray(v, dtype=np.float64)

    def third(self, u: Any, v: Any = None) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        if v is None:
            return np.asarray(self.o.cp.third(self.w, u, self.o.c), dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        # polarization, as the fast path's third_pair
        a = np.asarray(self.o.cp.third(self.w, u + v, self.o.c), dtype=np.float64)
        b = np.asarray(self.o.cp.third(self.w, u - v, self.o.c), dtype=np.float64)
        return 0.25 * (a - b)

    def eigh_all(self) -> tuple[np.ndarray, np.ndarray]:
        """All eigenpairs, ascending (exact ``numpy.linalg.eigh`` of the symmetrized Hessian)."""
        if self._eig is None:
            h = self.hessian()
            self._eig = np.linalg.eigh(0.5 * (h + h.T))
        return self._eig

    def eigh_top(self, k: int) -> tuple[np.ndarray, np.ndarray, float | None]:
        lam, V = self.eigh_all()
        n = lam.shape[0]
        idx = np.arange(n - 1, n - 1 - k, -1)
        return lam[idx].copy(), V[:, idx].copy(), (float(lam[n - 1 - k]) if n > k else None)


class ToyOracle(OracleBase):
    r"""The oracle over a compiled sympy potential: dense Hessian, exact eigen-decomposition.

    Args:
        cp: the compiled potential (its ``grad``, ``hess``, ``third`` and ``loss`` kernels).
        c: the potential's constants array.

    Examples:
        >>> from eostheory.compile._kernels import compile_potential
        >>> from eostheory import toy
        >>> pot = toy("quadratic")
        >>> o = ToyOracle(compile_potential(pot), np.array(pot.constant_values(None)))
        >>> lam, U, nxt = o.eigh_top(np.array([0.3, -0.2]), 1)
        >>> float(lam[0]), nxt   # Hessian diag(1, 4)
        (4.0, 1.0)
    """

    def __init__(self, cp: Any, c: np.ndarray) -> None:
        self.cp = cp
        self.c = np.asarray(c, dtype=np.float64)
        self.n = int(cp.potential.dim)
        self.xp = NUMPY
        self.flag = 0
        self.flag_value = 0.0

    def at(self, w: Any, curvature: bool = False) -> _ToyPoint:
        return _ToyPoint(self, w)

    def sharpness(self, w: Any) -> float:
        lam, _V = _ToyPoint(self, w).eigh_all()
        return float(lam[-1])


def finite_or_nan(x: float) -> float:
    """``x`` if finite, else NaN (observables never carry infinities)."""
    return x if math.isfinite(x) else math.nan
