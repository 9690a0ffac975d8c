"""numba source shared by the flows and spliced into each generated module.

What depends on the potential's kernels (``third_pair`` calls ``third``) or on its
dimension (which eigen-decomposition the Hessian gets) lives here as text to splice; the
potential-independent linear algebra is compiled once in :mod:`eostheory.flows._linalg`
and imported.
"""

from __future__ import annotations

import numpy as np

from eostheory.flows._linalg import eigh12 as _eigh12_inline
from eostheory.flows._linalg import small_eigh
from eostheory.integrate._names import third

# workspace flags (ws[0]) raised by a flow when it is undefined at the current state
F_OK = 0.0
F_NO_GAP = 1.0  # the tracked eigenvalues are not separated from the rest
F_NO_GRADS = 2.0  # the sharpness gradient vanishes where the constraint binds
F_SDCP = 3.0  # the semidefinite complementarity problem was not solved to tolerance
F_PROJECTION = 4.0  # the projection onto the stable set did not converge
F_DEGENERATE = 5.0  # another degenerate configuration (see the flow)


def _dot(a, b):
    """Dot product of two vectors (inlined where it is called)."""
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


def sym_eigh(h, lam, V):
    """Eigen-decomposition of the Hessian (spliced as one of the variants below by dimension)."""
    small_eigh(h, lam, V)


def sym_eigh_closed(h, lam, V):
    """Eigen-decomposition of a 1 x 1 or 2 x 2 Hessian in closed form (inlined copy of ``eigh12``)."""
    _eigh12_inline(h, lam, V)


def sym_eigh_lapack(h, lam, V):
    """Eigen-decomposition of a larger symmetric matrix with LAPACK (``numpy.linalg.eigh``)."""
    n = h.shape[0]
    hs = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            hs[i, j] = 0.5 * (h[i, j] + h[j, i])
    ev, vecs = np.linalg.eigh(hs)
    for i in range(n):
        lam[i] = ev[i]
        for j in range(n):
            V[i, j] = vecs[i, j]


def third_pair(w, a, b, c, out, tmp, buf):
    r"""Polarization: :math:`\nabla^3 L[a, b] = \tfrac14(\nabla^3 L[a+b, a+b] - \nabla^3 L[a-b, a-b])`."""
    n = w.shape[0]
    for i in range(n):
        tmp[i] = a[i] + b[i]
    third(w, tmp, c, out)
    for i in range(n):
        tmp[i] = a[i] - b[i]
    third(w, tmp, c, buf)
    for i in range(n):
        out[i] = 0.25 * (out[i] - buf[i])


FUNCTIONS = ("_dot", "third_pair")
#: helpers compiled inline at every call site (small and hot: saves call and reference-count costs)
INLINE = ("_dot",)
CONSTANTS = ("F_OK", "F_NO_GAP", "F_NO_GRADS", "F_SDCP", "F_PROJECTION", "F_DEGENERATE")
