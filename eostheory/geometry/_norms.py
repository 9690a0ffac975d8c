r"""Norms over the parameters: norm, dual norm, steepest direction, block structure.

A *geometry* is a norm :math:`\|\cdot\|` on the parameters.  Steepest descent under it
needs three things, and every norm here provides them on numpy arrays and on torch
tensors alike:

- the norm :math:`\|d\|`;
- the dual norm :math:`\|g\|_* = \max_{\|d\|\le 1}\langle g, d\rangle`;
- the linear minimisation oracle (LMO), the steepest direction
  :math:`d(g) = \arg\max_{\|d\|\le 1}\langle g, d\rangle`, so that
  :math:`\langle g, d(g)\rangle = \|g\|_*` and :math:`\|d(g)\| = 1` (for :math:`g\ne 0`;
  :math:`d(0) = 0`).

Parameters come in *blocks* (a network's parameter tensors; declared groups of symbols on
a toy).  A norm is built from a norm on each block and a reduction over the blocks:

- ``l2``: :math:`\|d\|_2`, dual :math:`\|g\|_2`, direction :math:`g/\|g\|_2` (gradient descent);
- ``linf``: :math:`\max_i |d_i|`, dual :math:`\|g\|_1`, direction :math:`\operatorname{sign} g`
  (sign descent);
- ``l1``: :math:`\sum_i |d_i|`, dual :math:`\|g\|_\infty`, direction
  :math:`\operatorname{sign}(g_i) e_i` at :math:`i = \arg\max_i|g_i|` (greedy coordinate descent);
- ``block``: :math:`\sum_b \|d_b\|_2`, dual :math:`\max_b \|g_b\|_2`, direction
  :math:`g_b/\|g_b\|_2` on the block of largest gradient norm, zero elsewhere;
- ``spectral``: :math:`\max_b \|D_b\|_{op}`, dual :math:`\sum_b \|G_b\|_{nuc}`, direction
  :math:`U_bV_b^\top` in every matrix block (:math:`G_b = U_b\Sigma_bV_b^\top`).

``block`` is the :math:`\ell_{1,2}` norm: its steepest descent is greedy block coordinate
descent.  ``spectral`` takes the operator norm of every matrix block (a tensor of more
than two axes is reshaped to ``(shape[0], -1)``; a vector block is a one-column matrix,
whose operator norm is its :math:`\ell_2` norm) and the largest over the blocks, the
geometry of spectral gradient descent and Muon (Bernstein & Newhouse 2024, "Old optimizer,
new norm: an anthology"; Jordan et al. 2024, "Muon").

:class:`Combined` composes any block norms with a reduction ``max`` (dual: sum),
``sum`` (dual: max) or ``l2`` (dual: ``l2``), with per-block scales :math:`s_b`:
:math:`\|d\| = R_b(\|d_b\|_b/s_b)` and :math:`\|g\|_* = R^*_b(s_b\|g_b\|_{b,*})`.
:class:`CustomNorm` takes a norm from three user callables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory.geometry import _xp as xp

__all__ = [
    "NORMS",
    "BlockNorm",
    "Combined",
    "CustomNorm",
    "Geometry",
    "L1Block",
    "L2Block",
    "Layout",
    "LinfBlock",
    "Norm",
    "SpectralBlock",
    "get_norm",
    "newton_schulz",
    "newton_schulz_error",
]


# ----------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """How a flat parameter vector splits into blocks.

    Either contiguous blocks of given shapes (a network's parameter tensors, in order), or
    index groups that partition ``range(n)`` (declared groups of symbols on a toy).

    Args:
        shapes: the blocks' shapes (contiguous layout), or for a grouped layout one
            ``(len(group),)`` per group.
        groups: index groups (grouped layout) or ``None``.
        names: a name per block.

    Examples:
        >>> lay = Layout.from_shapes([(2, 3), (3,)])
        >>> [b.shape for b in lay.split(np.arange(9.0))]
        [(2, 3), (3,)]
        >>> Layout.from_groups([[0, 2], [1]], 3).split(np.array([10.0, 11.0, 12.0]))[0].tolist()
        [10.0, 12.0]
    """

    shapes: tuple[tuple[int, ...], ...]
    groups: tuple[tuple[int, ...], ...] | None = None
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.names:
            object.__setattr__(self, "names", tuple(f"block{i}" for i in range(len(self.shapes))))
        if len(self.names) != len(self.shapes):
            raise EosInputError(f"{len(self.names)} names for {len(self.shapes)} blocks")

    @classmethod
    def from_shapes(cls, shapes: Sequence[Sequence[int]], names: Sequence[str] | None = None) -> Layout:
        """Contiguous blocks of these shapes (row-major, as ``torch.cat([p.reshape(-1) ...])``)."""
        sh = tuple(tuple(int(k) for k in s) for s in shapes)
        if not sh:
            raise EosInputError("a layout needs at least one block")
        if any(k < 0 for s in sh for k in s):
            raise EosInputError(f"block shapes must be non-negative, got {sh}")
        return cls(sh, None, tuple(names) if names else ())

    @classmethod
    def from_groups(cls, groups: Sequence[Sequence[int]], n: int, names: Sequence[str] | None = None) -> Layout:
        """Blocks from index groups that partition ``range(n)``."""
        gs = tuple(tuple(int(i) for i in g) for g in groups)
        flat = sorted(i for g in gs for i in g)
        if flat != list(range(n)) or any(len(g) == 0 for g in gs):
            raise EosInputError(f"the groups {[list(g) for g in gs]} must partition the {n} parameters (each once)")
        return cls(tuple((len(g),) for g in gs), gs, tuple(names) if names else ())

    @classmethod
    def flat(cls, n: int) -> Layout:
        """One block of ``n`` entries."""
        return cls.from_shapes([(int(n),)])

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def n(self) -> int:
        return sum(self.sizes)

    def split(self, flat: Any) -> list[Any]:
        """The blocks of a flat vector (views where the backend allows)."""
        if int(flat.shape[0]) != self.n or len(flat.shape) != 1:
            raise EosInputError(f"a flat vector of {self.n} entries is needed, got shape {tuple(flat.shape)}")
        if self.groups is not None:
            if xp.is_torch(flat):
                t = xp._torch()
                return [flat[t.as_tensor(g, device=flat.device)] for g in self.groups]
            return [flat[np.asarray(g, dtype=np.intp)] for g in self.groups]
        out, k = [], 0
        for s, m in zip(self.shapes, self.sizes, strict=True):
            out.append(flat[k : k + m].reshape(s))
            k += m
        return out

    def merge(self, blocks: Sequence[Any]) -> Any:
        """The flat vector of blocks (the inverse of :meth:`split`)."""
        if len(blocks) != len(self.shapes):
            raise EosInputError(f"{len(blocks)} blocks for a layout of {len(self.shapes)}")
        torch_ = xp.is_torch(blocks[0])
        if self.groups is not None:
            if torch_:
                t = xp._torch()
                out = blocks[0].new_zeros((self.n,))
                for g, b in zip(self.groups, blocks, strict=True):
                    out[t.as_tensor(g, device=out.device)] = b.reshape(-1)
                return out
            out = np.zeros(self.n, dtype=np.result_type(*[np.asarray(b).dtype for b in blocks]))
            for g, b in zip(self.groups, blocks, strict=True):
                out[np.asarray(g, dtype=np.intp)] = np.asarray(b).reshape(-1)
            return out
        if torch_:
            return xp._torch().cat([b.reshape(-1) for b in blocks])
        return np.concatenate([np.asarray(b).reshape(-1) for b in blocks])


# ----------------------------------------------------------------------------- block norms


class BlockNorm:
    """A norm on one block (an array of any shape): ``norm``, ``dual``, ``lmo``."""

    name = "block-norm"

    def norm(self, x: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def dual(self, g: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def lmo(self, g: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class L2Block(BlockNorm):
    r"""Euclidean: :math:`\|x\|_2`, self-dual, :math:`d = g/\|g\|_2`."""

    name = "l2"

    def norm(self, x: Any) -> Any:
        return xp.sqrt(xp.sum_(x * x))

    dual = norm

    def lmo(self, g: Any) -> Any:
        n = self.norm(g)
        return g / n if float(n) > 0 else xp.zeros_like(g)


class LinfBlock(BlockNorm):
    r""":math:`\|x\|_\infty`; dual :math:`\|g\|_1`; :math:`d = \operatorname{sign} g` (``sign(0) = 0``)."""

    name = "linf"

    def norm(self, x: Any) -> Any:
        return xp.amax(xp.abs_(x))

    def dual(self, g: Any) -> Any:
        return xp.sum_(xp.abs_(g))

    def lmo(self, g: Any) -> Any:
        return xp.sign(g)


class L1Block(BlockNorm):
    r""":math:`\|x\|_1`; dual :math:`\|g\|_\infty`; :math:`d = \operatorname{sign}(g_i)e_i` at the largest
    :math:`|g_i|`."""

    name = "l1"

    def norm(self, x: Any) -> Any:
        return xp.sum_(xp.abs_(x))

    def dual(self, g: Any) -> Any:
        return xp.amax(xp.abs_(g))

    def lmo(self, g: Any) -> Any:
        d = xp.zeros_like(g)
        flat_g, flat_d = g.reshape(-1), d.reshape(-1)
        if flat_g.shape[0] == 0:
            return d
        i = int(xp.abs_(flat_g).argmax())
        flat_d[i] = xp.sign(flat_g[i])
        return flat_d.reshape(g.shape)


def _as_matrix(x: Any) -> Any:
    if len(x.shape) == 0:
        return x.reshape(1, 1)
    if len(x.shape) == 1:
        return x.reshape(-1, 1)
    return x.reshape(x.shape[0], -1)


#: Coefficients of Newton–Schulz iterations on :math:`X \leftarrow aX + b(XX^\top)X + c(XX^\top)^2X`:
#: ``cubic`` converges to :math:`UV^\top` (singular values :math:`\to 1`); ``muon`` is the
#: quintic of Jordan et al. (2024), fast but approximate (singular values end in about [0.7, 1.2]).
NS_COEFFICIENTS = {"cubic": (1.5, -0.5, 0.0), "muon": (3.4445, -4.7750, 2.0315)}


def newton_schulz(g: Any, steps: int = 10, coefficients: str = "cubic") -> Any:
    r"""Approximate :math:`UV^\top` of a matrix by Newton–Schulz iterations (no SVD).

    :math:`X_0 = G/\|G\|_F` (all singular values in :math:`(0, 1]`), then ``steps`` times
    :math:`X \leftarrow aX + b(XX^\top)X + c(XX^\top)^2X` with the coefficients of
    :data:`NS_COEFFICIENTS`.  The cubic iteration maps each singular value
    :math:`\sigma \mapsto \tfrac32\sigma - \tfrac12\sigma^3`, which converges to 1
    quadratically near 1 but slowly for small :math:`\sigma`; :func:`newton_schulz_error`
    measures what is left.

    Args:
        g: a matrix (numpy array or torch tensor).
        steps: iterations.
        coefficients: ``"cubic"`` or ``"muon"``.
    """
    if coefficients not in NS_COEFFICIENTS:
        raise EosInputError(f"unknown Newton–Schulz coefficients {coefficients!r}; known: {', '.join(NS_COEFFICIENTS)}")
    a, b, c = NS_COEFFICIENTS[coefficients]
    fro = float(xp.sqrt(xp.sum_(g * g)))
    if fro == 0:
        return xp.zeros_like(g)
    transpose = g.shape[0] > g.shape[1]
    x = (g.T if transpose else g) / fro
    for _ in range(int(steps)):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if transpose else x


def newton_schulz_error(g: Any, steps: int = 10, coefficients: str = "cubic") -> dict[str, float]:
    r"""How far Newton–Schulz is from the exact steepest direction :math:`UV^\top` of ``g``.

    Returns:
        ``{"dual_gap": 1 - <G, X>/||G||_nuc, "norm_excess": ||X||_op - 1,
        "distance": ||X - UV^T||_F / sqrt(rank)}`` (each 0 for the exact direction).
    """
    g64 = np.asarray(g.detach().cpu() if xp.is_torch(g) else g, dtype=np.float64)
    x = np.asarray(newton_schulz(g64, steps, coefficients))
    u, s, vh = np.linalg.svd(g64, full_matrices=False)
    r = int(np.sum(s > s.max() * 1e-12)) if s.size and s.max() > 0 else 0
    if r == 0:
        return {"dual_gap": 0.0, "norm_excess": 0.0, "distance": 0.0}
    exact = u[:, :r] @ vh[:r]
    return {
        "dual_gap": float(1 - np.sum(g64 * x) / s.sum()),
        "norm_excess": float(np.linalg.norm(x, 2) - 1),
        "distance": float(np.linalg.norm(x - exact) / math.sqrt(r)),
    }


class SpectralBlock(BlockNorm):
    r"""Operator (spectral) norm of a matrix block; dual: nuclear norm; :math:`d = UV^\top`.

    Args:
        method: ``"svd"`` (exact; singular values below ``rtol`` times the largest count
            as zero) or ``"newton-schulz"`` (approximate, see :func:`newton_schulz`).
        steps, coefficients: of the Newton–Schulz iteration.
        rtol: rank cut-off of the exact method.
    """

    name = "spectral"

    def __init__(self, method: str = "svd", steps: int = 10, coefficients: str = "cubic", rtol: float = 1e-12):
        if method not in ("svd", "newton-schulz"):
            raise EosInputError(f"the spectral LMO is computed by 'svd' or 'newton-schulz', got {method!r}")
        self.method, self.steps, self.coefficients, self.rtol = method, int(steps), coefficients, float(rtol)
        if method == "newton-schulz":
            self.name = f"spectral[newton-schulz {coefficients} x{self.steps}]"

    def norm(self, x: Any) -> Any:
        if len(x.shape) <= 1:
            return L2Block().norm(x)
        return xp.svd(_as_matrix(x))[1][0]

    def dual(self, g: Any) -> Any:
        if len(g.shape) <= 1:
            return L2Block().norm(g)
        return xp.sum_(xp.svd(_as_matrix(g))[1])

    def lmo(self, g: Any) -> Any:
        if len(g.shape) <= 1:
            return L2Block().lmo(g)
        m = _as_matrix(g)
        if self.method == "newton-schulz":
            return newton_schulz(m, self.steps, self.coefficients).reshape(g.shape)
        u, s, vh = xp.svd(m)
        smax = float(s[0]) if s.shape[0] else 0.0
        if smax == 0:
            return xp.zeros_like(g)
        keep = s > smax * self.rtol
        return ((u * keep) @ vh).reshape(g.shape)


class CustomNorm(BlockNorm):
    """A norm on one block from three callables on arrays (the user's own geometry).

    Args:
        norm: ``norm(x) -> scalar``.
        dual: ``dual(g) -> scalar``, the dual norm :math:`\\max_{\\|d\\|\\le1}\\langle g,d\\rangle`.
        lmo: ``lmo(g) -> array`` shaped like ``g``, a maximiser of :math:`\\langle g, d\\rangle` on the unit ball.
        name: a name for reports.

    Use :func:`check_norm` on small arrays to verify the three agree.
    """

    def __init__(self, norm: Callable[[Any], Any], dual: Callable[[Any], Any], lmo: Callable[[Any], Any], name: str):
        if not all(callable(f) for f in (norm, dual, lmo)):
            raise EosInputError("a custom norm needs three callables: norm, dual, lmo")
        self._norm, self._dual, self._lmo, self.name = norm, dual, lmo, str(name)

    def norm(self, x: Any) -> Any:
        return self._norm(x)

    def dual(self, g: Any) -> Any:
        return self._dual(g)

    def lmo(self, g: Any) -> Any:
        d = self._lmo(g)
        if tuple(d.shape) != tuple(g.shape):
            raise EosInputError(
                f"the custom norm {self.name!r}: lmo returned shape {tuple(d.shape)} for {tuple(g.shape)}"
            )
        return d


_BLOCKS: dict[str, Callable[[], BlockNorm]] = {
    "l2": L2Block,
    "linf": LinfBlock,
    "l1": L1Block,
    "spectral": SpectralBlock,
}


# ----------------------------------------------------------------------------- norms over blocks


class Norm:
    """A norm over a list of blocks (see :class:`Combined`)."""

    name = "norm"

    def norm(self, blocks: Sequence[Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def dual(self, blocks: Sequence[Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def lmo(self, blocks: Sequence[Any]) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def bind(self, layout: Layout) -> Geometry:
        """This norm on flat vectors split by ``layout``."""
        return Geometry(self, layout)

    def __repr__(self) -> str:
        return self.name


class Combined(Norm):
    r"""Block norms reduced over the blocks, with per-block scales.

    :math:`\|d\| = R_b(\|d_b\|_b / s_b)`, :math:`\|g\|_* = R^*_b(s_b \|g_b\|_{b,*})`, where
    :math:`R` is ``max`` (:math:`R^*` = sum), ``sum`` (:math:`R^*` = max) or ``l2``
    (:math:`R^* = R`).  Steepest directions: ``max`` — :math:`d_b = s_b d_b(g_b)` in every
    block; ``sum`` — :math:`s_b d_b(g_b)` in the block of largest :math:`s_b\|g_b\|_{b,*}`,
    zero elsewhere; ``l2`` — :math:`d_b = s_b (a_b/\|a\|_2)\, d_b(g_b)`,
    :math:`a_b = s_b\|g_b\|_{b,*}`.

    Args:
        parts: one :class:`BlockNorm` for all blocks, or one per block.
        reduce: ``"max"``, ``"sum"`` or ``"l2"``.
        scales: one positive scale for all blocks, or one per block (default 1).
        name: a name for reports.
    """

    def __init__(
        self,
        parts: BlockNorm | Sequence[BlockNorm],
        reduce: str = "max",
        scales: float | Sequence[float] | None = None,
        name: str | None = None,
    ) -> None:
        if reduce not in ("max", "sum", "l2"):
            raise EosInputError(f"a block reduction is 'max', 'sum' or 'l2', got {reduce!r}")
        self.parts = parts if isinstance(parts, BlockNorm) else tuple(parts)
        if not isinstance(self.parts, BlockNorm) and not all(isinstance(p, BlockNorm) for p in self.parts):
            raise EosInputError("the parts of a combined norm must be block norms (L2Block(), SpectralBlock(), ...)")
        if scales is None or isinstance(scales, int | float):
            s = 1.0 if scales is None else float(scales)
            if not (math.isfinite(s) and s > 0):
                raise EosInputError(f"a block scale must be finite and > 0, got {scales!r}")
            self.scales: float | tuple[float, ...] = s
        else:
            ss = tuple(float(v) for v in scales)
            if not all(math.isfinite(v) and v > 0 for v in ss):
                raise EosInputError(f"block scales must be finite and > 0, got {list(ss)}")
            self.scales = ss
        self.reduce = reduce
        self.name = name or f"{reduce}({self.parts!r})"

    def _check(self, blocks: Sequence[Any]) -> tuple[list[BlockNorm], list[float]]:
        k = len(blocks)
        parts = [self.parts] * k if isinstance(self.parts, BlockNorm) else list(self.parts)
        scales = [self.scales] * k if isinstance(self.scales, float) else list(self.scales)
        if len(parts) != k or len(scales) != k:
            raise EosInputError(
                f"the norm {self.name!r} has {len(parts)} block norms and {len(scales)} scales for {k} blocks"
            )
        return parts, scales

    def norm(self, blocks: Sequence[Any]) -> Any:
        parts, scales = self._check(blocks)
        v = xp.stack([p.norm(b) / s for p, s, b in zip(parts, scales, blocks, strict=True)])
        return _reduce(v, self.reduce)

    def dual(self, blocks: Sequence[Any]) -> Any:
        parts, scales = self._check(blocks)
        v = xp.stack([p.dual(b) * s for p, s, b in zip(parts, scales, blocks, strict=True)])
        return _reduce(v, {"max": "sum", "sum": "max", "l2": "l2"}[self.reduce])

    def lmo(self, blocks: Sequence[Any]) -> list[Any]:
        parts, scales = self._check(blocks)
        if self.reduce == "max":
            return [p.lmo(b) * s for p, s, b in zip(parts, scales, blocks, strict=True)]
        a = xp.stack([p.dual(b) * s for p, s, b in zip(parts, scales, blocks, strict=True)])
        if self.reduce == "sum":
            i = int(a.argmax())
            out = [xp.zeros_like(b) for b in blocks]
            if float(a[i]) > 0:
                out[i] = parts[i].lmo(blocks[i]) * scales[i]
            return out
        total = xp.sqrt(xp.sum_(a * a))
        if float(total) == 0:
            return [xp.zeros_like(b) for b in blocks]
        return [p.lmo(b) * (s * a[j] / total) for j, (p, s, b) in enumerate(zip(parts, scales, blocks, strict=True))]


def _reduce(v: Any, how: str) -> Any:
    if how == "max":
        return xp.amax(v)
    if how == "sum":
        return xp.sum_(v)
    return xp.sqrt(xp.sum_(v * v))


@dataclass(frozen=True)
class Geometry:
    """A norm on flat parameter vectors: a :class:`Norm` and the :class:`Layout` that splits them.

    Examples:
        >>> geo = get_norm("linf").bind(Layout.flat(3))
        >>> g = np.array([1.0, -2.0, 0.5])
        >>> float(geo.dual(g)), geo.lmo(g).tolist(), float(geo.norm(geo.lmo(g)))
        (3.5, [1.0, -1.0, 1.0], 1.0)
    """

    norm_: Norm
    layout: Layout

    @property
    def name(self) -> str:
        return self.norm_.name

    def norm(self, x: Any) -> Any:
        r""":math:`\|x\|`."""
        return self.norm_.norm(self.layout.split(x))

    def dual(self, g: Any) -> Any:
        r""":math:`\|g\|_*`."""
        return self.norm_.dual(self.layout.split(g))

    def lmo(self, g: Any) -> Any:
        r"""The steepest direction :math:`\arg\max_{\|d\|\le 1}\langle g, d\rangle` (flat)."""
        return self.layout.merge(self.norm_.lmo(self.layout.split(g)))


#: The named norms (see the module docstring).
NORMS: dict[str, str] = {
    "l2": "Euclidean norm (steepest descent = gradient descent)",
    "linf": "max-norm over all parameters (steepest direction sign(g); normalized: sign descent)",
    "l1": "l1 norm over all parameters (steepest direction: the largest gradient coordinate)",
    "block": "l(1,2) block norm, sum of the blocks' l2 norms (greedy block coordinate descent)",
    "spectral": "largest operator norm over the matrix blocks (steepest direction U V^T per matrix; Muon's geometry)",
}

_ALIASES = {"sign": "linf", "l-inf": "linf", "max": "linf", "euclidean": "l2", "block-cd": "block", "muon": "spectral"}


def get_norm(name: str | Norm, **options: Any) -> Norm:
    """A named norm (:data:`NORMS`) or a :class:`Norm` as is.

    Args:
        name: ``l2``, ``linf``, ``l1``, ``block``, ``spectral`` (aliases: ``sign``, ``euclidean``, ``block-cd``).
        options: for ``spectral``: ``method`` (``"svd"`` or ``"newton-schulz"``), ``steps``, ``coefficients``.

    Raises:
        EosInputError: an unknown name or option.
    """
    if isinstance(name, Norm):
        if options:
            raise EosInputError("options apply only to a norm given by name")
        return name
    key = _ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in NORMS:
        raise EosInputError(f"unknown norm {name!r}; known: {', '.join(NORMS)}")
    if options and key != "spectral":
        raise EosInputError(f"the {key} norm takes no options, got {sorted(options)}")
    if key == "l2":
        return Combined(L2Block(), "l2", name="l2")
    if key == "linf":
        return Combined(LinfBlock(), "max", name="linf")
    if key == "l1":
        return Combined(L1Block(), "sum", name="l1")
    if key == "block":
        return Combined(L2Block(), "sum", name="block")
    try:
        part = SpectralBlock(**options)
    except TypeError as exc:
        raise EosInputError(f"the spectral norm takes method, steps, coefficients, rtol: {exc}") from None
    return Combined(part, "max", name="spectral" if not options else f"spectral({part.name})")
