"""Parameter and workspace layouts of the fast path, as data, and the named constants made from them.

A flow's runtime parameter array is ``[eta, (beta), params…]`` in the order of
:meth:`Flow.param_names`; its workspace is ``ws[0:WS0]`` (flags) followed by the named
blocks of ``Flow.workspace``.  :func:`layout_constants` turns both into the constants of
the generated module, so the numba source reads ``p[P_TAU]``, ``p[P_EXTENT] ==
EXTENT_OSCILLATION`` and ``ws[WS_H : WS_H + n * n]`` rather than positions:

- ``P_<NAME>``: the index of parameter ``name`` (``P_ETA = 0``);
- ``<NAME>_<CHOICE>``: the stored value of a categorical parameter's choice (its index);
- ``WS_<BLOCK>``: where a workspace block starts; ``NWS`` where the last one ends.

The names below only serve linters (the source files are read and linted as Python);
the generated module binds the values of its own flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eostheory.flows._base import Flow

__all__ = ["layout_constants"]


def _ident(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in s).upper()


def _dim_expr(size: str) -> str:
    """A block size written in ``n`` (and integers) as an expression in ``DIM``."""
    toks = size.replace("*", " * ").replace("+", " + ").split()
    return "(" + " ".join("DIM" if tok == "n" else tok for tok in toks) + ")"


def layout_constants(flow: Flow) -> dict[str, str]:
    """The named constants of ``flow``'s parameter and workspace layouts (name -> expression)."""
    out: dict[str, str] = {}
    for i, name in enumerate(flow.param_names()):
        out[f"P_{_ident(name)}"] = str(i)
    for fp in flow.params:
        for j, choice in enumerate(fp.choices):
            out[f"{_ident(fp.name)}_{_ident(choice)}"] = f"{float(j)!r}"
    if flow.workspace:
        prev = "WS0"
        for b in flow.workspace:
            out[f"WS_{_ident(b.name)}"] = prev
            prev = f"WS_{_ident(b.name)} + {_dim_expr(b.size)}"
        out["NWS"] = prev
    return out


# placeholders for linters (see the module docstring)
P_ETA = P_BETA = P_K = P_TAU = P_TRACK = P_EXTENT = P_CURVATURE = P_GROWTH = 0
EXTENT_FULL = EXTENT_OSCILLATION = CURVATURE_RAYLEIGH = CURVATURE_SECANT = GROWTH_LINEAR = GROWTH_LOG = 0.0
WS_G = WS_H = WS_LAM = WS_D = WS_X = WS_V = WS_UI = WS_UJ = WS_TMP = WS_BUF = WS_ROW = WS_DS = WS_U = 0
WS_DELTA = WS_WP = WS_WM = WS_GP = WS_GM = WS_HP = WS_HM = WS_SIG = WS_SV = WS_SLAM = 0
WS_UH = WS_HU = WS_CP = WS_CM = 0
