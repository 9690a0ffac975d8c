r"""Kernel modules of symbolic networks: per-example code, data summed in a loop.

The generated module has the kernel contract of :mod:`eostheory.compile._kernels`
(``DIM``, ``loss``, ``grad``, ``hess``, ``sharp``, ``third``) plus ``n_examples(c)``,
``outputs(w, c, out)`` (predictions, ``N x K``) and ``jacobian(w, c, out)`` (the
per-example output Jacobians stacked, ``N K x n``).  The runtime array ``c`` holds the
named constants, then each example's input and target; the kernels read the number of
examples from its length, so the data are arguments and never part of the code.

Per example the code evaluates, with common subexpressions shared:
:math:`f`, :math:`J = \partial f/\partial\theta` (non-zero entries), the non-zero
entries of :math:`\nabla^2 f_k` and :math:`\nabla^3 f_k[u, u]`, and the loss derivatives
:math:`\ell_k, \ell_{kl}, \ell_{klm}` in the outputs.  The loops assemble

.. math::
    \nabla^2 L \mathrel{+}= \sum_{kl}\ell_{kl} J_k J_l^\top + \sum_k \ell_k \nabla^2 f_k, \qquad
    \nabla^3 L[u,u] \mathrel{+}= \sum_m \Big(\sum_{kl}\ell_{klm} d_k d_l + \sum_k \ell_{km} q_k\Big) J_m
        + 2\sum_{kl}\ell_{kl} d_l\, e_k + \sum_k \ell_k\, \nabla^3 f_k[u,u],

with :math:`d_k = J_k\cdot u`, :math:`e_k = \nabla^2 f_k\, u`, :math:`q_k = u\cdot e_k`.

The generated source is itself cached on disk under a hash of the net's :attr:`key`,
the backend and the generator's own files, so loading a net from the cache does no
symbolic work at all.  Because that name is a hash of the *inputs*, not of the text, the
file is sealed: its first line is ``# sha256=<hex>`` over the rest, checked on every
load; an edited or damaged file is quarantined and derived again (one warning line).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import sympy as sp
from sympy.codegen.cfunctions import log1p

from eostheory._errors import CompilationError, EosInputError
from eostheory.compile._cache import (
    _private_dir,
    cache_dir,
    configured_cache_dir,
    read_sealed_text,
    write_sealed_text,
)
from eostheory.compile._codegen import (
    GENERATOR_VERSION,
    _print,
    emit_function,
    expr_text,
    module_header,
    real_form,
    rename,
)
from eostheory.compile._notice import progress, warn
from eostheory.symbolic.nets import sigmoid, softplus

__all__ = ["net_source"]

_MEMO: dict[str, str] = {}


def _fingerprint() -> str:
    """Hash of the files that determine the generated code (so an edit never reuses a stale source)."""
    import eostheory.compile._codegen as cg
    import eostheory.symbolic.nets as nets

    h = hashlib.sha256()
    net_files = sorted(Path(nets.__file__).parent.glob("*.py")) if Path(nets.__file__).name == "__init__.py" else []
    for path in (__file__, cg.__file__, nets.__file__, *net_files):
        h.update(Path(path).read_bytes())  # type: ignore[arg-type]
    return h.hexdigest()[:16]


def _code_ready(e: sp.Expr) -> sp.Expr:
    """Replace softplus/sigmoid by overflow-free elementary forms for the printer (no ``exp`` of
    a positive argument is ever evaluated, so plain Python raises no OverflowError either)."""
    e = sp.sympify(e)
    if e.has(softplus):  # max(t, 0) + log1p(exp(-|t|))
        e = e.replace(softplus, lambda t: sp.Piecewise((t, t > 0), (0, True)) + log1p(sp.exp(-sp.Abs(t))))
    if e.has(sigmoid):  # 1/(1 + exp(-t)) for t >= 0, exp(t)/(1 + exp(t)) below, via exp(-|t|)
        e = e.replace(
            sigmoid,
            lambda t: sp.Piecewise(
                (1 / (1 + sp.exp(-sp.Abs(t))), t >= 0), (sp.exp(-sp.Abs(t)) / (1 + sp.exp(-sp.Abs(t))), True)
            ),
        )
    return e


def net_source(net: Any, backend_name: str) -> str:
    """Source of the kernel module of a :class:`~eostheory.symbolic.nets.SymbolicNet`.

    Cached in memory and on disk (``<cache>/eos_netsrc_<hash>.py.txt``) under a hash of
    ``net.key``, the backend, :data:`GENERATOR_VERSION` and the generator's files.
    """
    tag = hashlib.sha256("|".join([net.key, backend_name, GENERATOR_VERSION, _fingerprint()]).encode()).hexdigest()
    tag = tag[:20]
    if tag in _MEMO:
        return _MEMO[tag]
    name = f"eos_netsrc_{tag}.py.txt"
    src = None
    try:
        src = read_sealed_text(cache_dir() / name)
    except OSError as exc:  # e.g. another user's unreadable file in a shared cache
        warn(f"cannot read the cached kernel source {cache_dir() / name} ({exc.strerror or exc}); deriving it again")
    if src is None:
        with progress(f"kernels of {net.name}", verb="deriving", after=1.0):
            src = _generate(net, backend_name)
        _store(name, src)
    _MEMO[tag] = src
    return src


def _store(name: str, src: str) -> None:
    """Write a sealed kernel source into the cache (a private directory if the cache refuses)."""
    folder = cache_dir()
    try:
        write_sealed_text(folder / name, src)
    except OSError as exc:
        if folder != configured_cache_dir():
            raise EosInputError(f"cannot write {name} in {folder}: {exc}") from None
        write_sealed_text(_private_dir(folder, f"cannot write {name}: {exc.strerror or exc}") / name, src)


_LOOPS = '''
@jit
def n_examples(c):
    """Number of examples in the runtime array ``c``."""
    return (c.shape[0] - C0) // STRIDE


@jit
def loss(w, c):
    N = (c.shape[0] - C0) // STRIDE
    if N < 1:
        return math.nan
    f = np.empty(NOUT)
    s = 0.0
    for e in range(N):
        o = C0 + e * STRIDE
        _ex_f(w, c, o, f)
        s += _l_val(f, c, o)
    return s / N


@jit
def outputs(w, c, out):
    N = (c.shape[0] - C0) // STRIDE
    f = np.empty(NOUT)
    for e in range(N):
        o = C0 + e * STRIDE
        _ex_f(w, c, o, f)
        for k in range(NOUT):
            out[e, k] = f[k]


@jit
def jacobian(w, c, out):
    N = (c.shape[0] - C0) // STRIDE
    f = np.empty(NOUT)
    jf = np.zeros((NOUT, DIM))
    for e in range(N):
        o = C0 + e * STRIDE
        _ex_j(w, c, o, f, jf)
        for k in range(NOUT):
            for i in range(DIM):
                out[e * NOUT + k, i] = jf[k, i]


@jit
def grad(w, c, out):
    N = (c.shape[0] - C0) // STRIDE
    f = np.empty(NOUT)
    jf = np.zeros((NOUT, DIM))
    l1 = np.empty(NOUT)
    l2 = np.empty((NOUT, NOUT))
    l3 = np.empty((NOUT, NOUT, NOUT))
    for i in range(DIM):
        out[i] = 0.0
    for e in range(N):
        o = C0 + e * STRIDE
        _ex_j(w, c, o, f, jf)
        _l_der(f, c, o, l1, l2, l3)
        for k in range(NOUT):
            g = l1[k]
            for i in range(DIM):
                out[i] += g * jf[k, i]
    inv = 1.0 / N if N > 0 else math.nan
    for i in range(DIM):
        out[i] *= inv


@jit
def hess(w, c, out):
    N = (c.shape[0] - C0) // STRIDE
    f = np.empty(NOUT)
    jf = np.zeros((NOUT, DIM))
    hf = np.zeros(NNZ_H)
    l1 = np.empty(NOUT)
    l2 = np.empty((NOUT, NOUT))
    l3 = np.empty((NOUT, NOUT, NOUT))
    for i in range(DIM):
        for j in range(DIM):
            out[i, j] = 0.0
    for e in range(N):
        o = C0 + e * STRIDE
        _ex_h(w, c, o, f, jf, hf)
        _l_der(f, c, o, l1, l2, l3)
        for k in range(NOUT):
            for l in range(NOUT):
                s = l2[k, l]
                if s != 0.0:
                    for i in range(DIM):
                        a = s * jf[k, i]
                        if a != 0.0:
                            for j in range(i, DIM):
                                out[i, j] += a * jf[l, j]
        for m in range(NNZ_H):
            out[H_I[m], H_J[m]] += l1[H_K[m]] * hf[m]
    inv = 1.0 / N if N > 0 else math.nan
    for i in range(DIM):
        for j in range(i, DIM):
            v = out[i, j] * inv
            out[i, j] = v
            out[j, i] = v


@jit
def sharp(w, c):
    h = np.empty((DIM, DIM))
    hess(w, c, h)
    for i in range(DIM):
        for j in range(DIM):
            if not math.isfinite(h[i, j]):
                return math.nan  # overflowed (a diverging run): LAPACK would refuse it
    return np.linalg.eigvalsh(h)[-1]


@jit
def third(w, u, c, out):
    N = (c.shape[0] - C0) // STRIDE
    f = np.empty(NOUT)
    jf = np.zeros((NOUT, DIM))
    hf = np.zeros(NNZ_H)
    tf = np.zeros((NOUT, DIM))
    l1 = np.empty(NOUT)
    l2 = np.empty((NOUT, NOUT))
    l3 = np.empty((NOUT, NOUT, NOUT))
    dk = np.empty(NOUT)
    qk = np.empty(NOUT)
    cj = np.empty(NOUT)
    ce = np.empty(NOUT)
    ek = np.empty((NOUT, DIM))
    for i in range(DIM):
        out[i] = 0.0
    for e in range(N):
        o = C0 + e * STRIDE
        _ex_h(w, c, o, f, jf, hf)
        _ex_t(w, u, c, o, tf)
        _l_der(f, c, o, l1, l2, l3)
        for k in range(NOUT):
            s = 0.0
            for i in range(DIM):
                s += jf[k, i] * u[i]
                ek[k, i] = 0.0
            dk[k] = s
        for m in range(NNZ_H):
            k = H_K[m]
            i = H_I[m]
            j = H_J[m]
            h = hf[m]
            ek[k, i] += h * u[j]
            if i != j:
                ek[k, j] += h * u[i]
        for k in range(NOUT):
            s = 0.0
            for i in range(DIM):
                s += u[i] * ek[k, i]
            qk[k] = s
        for m in range(NOUT):
            s = 0.0
            t = 0.0
            for k in range(NOUT):
                s += l2[k, m] * qk[k]
                t += l2[m, k] * dk[k]
                for l in range(NOUT):
                    s += l3[k, l, m] * dk[k] * dk[l]
            cj[m] = s
            ce[m] = 2.0 * t
        for k in range(NOUT):
            a = cj[k]
            b = ce[k]
            g = l1[k]
            for i in range(DIM):
                out[i] += a * jf[k, i] + b * ek[k, i] + g * tf[k, i]
    inv = 1.0 / N if N > 0 else math.nan
    for i in range(DIM):
        out[i] *= inv
'''


def _shared_cse(outputs: list[tuple[str, sp.Expr]]) -> tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]:
    """One common-subexpression elimination over all per-example outputs."""
    exprs = [real_form(e) for _, e in outputs]
    for e in exprs:
        if not isinstance(e, sp.Expr) or e.has(sp.I, sp.zoo, sp.nan):
            raise CompilationError(f"cannot compile {expr_text(e)}: not a real expression")
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_t"), optimizations="basic")
    return repl, reduced


def _emit_pruned(
    name: str,
    args: list[str],
    prologue: list[str],
    repl: list[tuple[sp.Symbol, sp.Expr]],
    outputs: list[tuple[str, sp.Expr]],
    *,
    loop: tuple[list[str], list[str]] | None = None,
) -> str:
    """``def name(args)`` computing ``outputs`` (already reduced by :func:`_shared_cse`) with
    only the temporaries they need.

    A target is ``"lhs"`` (assignment) or ``"lhs +"`` (accumulation).  With ``loop =
    (init, head)`` the computation runs inside ``for j in range(UNITS)`` after the lines
    ``init``; ``head`` are the first lines of the loop body (unpacking unit ``j``).
    """
    needed: set[sp.Basic] = set()
    for _, e in outputs:
        needed |= e.free_symbols
    keep = []
    for sym, e in reversed(repl):
        if sym in needed:
            needed |= e.free_symbols
            keep.append((sym, e))
    body = ["@jit", f"def {name}({', '.join(args)}):", *(f"    {p}" for p in prologue)]
    ind = "    "
    if loop is not None:
        init, head = loop
        body += [f"    {line}" for line in init]
        body.append("    for j in range(UNITS):")
        ind = "        "
        body += [f"{ind}{line}" for line in head]
    body += [f"{ind}{sym} = {_print(e)}" for sym, e in reversed(keep)]
    for target, e in outputs:
        op = "+=" if target.endswith(" +") else "="
        body.append(f"{ind}{target.removesuffix(' +')} {op} {_print(e)}")
    return "\n".join(body) + "\n"


def _int_array(name: str, values: list[int]) -> str:
    return f"{name} = np.array({values!r}, dtype=np.int64)\n"


def _generic_functions(
    net: Any, x: Any, pro: list[str], un_u: list[str]
) -> tuple[list[str], list[int], list[int], list[int]]:
    """Per-example functions written out for every parameter (any net)."""
    n, K = net.dim, net.output_dim
    J = net.jacobian()
    Hf = net.output_hessian()
    T = net.output_third()
    f_out = [(f"f[{k}]", x(net.outputs[k])) for k in range(K)]
    j_out = [(f"jf[{k}, {i}]", x(J[k, i])) for k in range(K) for i in range(n) if J[k, i] != 0]
    h_out = [(f"hf[{m}]", x(h)) for m, (_, _, _, h) in enumerate(Hf)]
    t_out = [(f"tf[{k}, {i}]", x(T[k, i])) for k in range(K) for i in range(n) if T[k, i] != 0]
    allout = f_out + j_out + h_out + t_out
    repl, reduced = _shared_cse(allout)
    red = [(t, e) for (t, _), e in zip(allout, reduced, strict=True)]
    nf, nj, nh = len(f_out), len(f_out) + len(j_out), len(f_out) + len(j_out) + len(h_out)
    fns = [
        _emit_pruned("_ex_f", ["w", "c", "o", "f"], pro, repl, red[:nf]),
        _emit_pruned("_ex_j", ["w", "c", "o", "f", "jf"], pro, repl, red[:nj]),
        _emit_pruned("_ex_h", ["w", "c", "o", "f", "jf", "hf"], pro, repl, red[:nh]),
        _emit_pruned("_ex_t", ["w", "u", "c", "o", "tf"], [*pro, *un_u], repl, red[nh:]),
    ]
    return fns, [k for k, _, _, _ in Hf], [i for _, i, _, _ in Hf], [j for _, _, j, _ in Hf]


def _unit_functions(
    net: Any, cmap: dict[sp.Symbol, sp.Symbol], xmap: dict[sp.Symbol, sp.Symbol], pro: list[str]
) -> tuple[list[str], list[int], list[int], list[int]]:
    """Per-example functions for a sum of identical units: code for one unit, looped over units."""
    unit = net.unit
    K = net.output_dim
    P = len(unit.params)
    pmap = rename(unit.params, "_p")
    vmap = rename(unit.direction, "_v")
    sub = {**pmap, **vmap, **cmap, **xmap}

    def x(e: sp.Expr) -> sp.Expr:
        return _code_ready(sp.sympify(e).xreplace(sub))

    J, H, T = unit.derivatives
    nnz = len(H)
    f_out = [(f"f[{k}] +", x(unit.outputs[k])) for k in range(K)]
    j_out = [(f"jf[{k}, UIDX[j, {i}]]", x(J[k, i])) for k in range(K) for i in range(P) if J[k, i] != 0]
    h_out = [(f"hf[j * NNZ_U + {m}]", x(h)) for m, (_, _, _, h) in enumerate(H)]
    t_out = [(f"tf[{k}, UIDX[j, {i}]]", x(T[k, i])) for k in range(K) for i in range(P) if T[k, i] != 0]
    allout = f_out + j_out + h_out + t_out
    repl, reduced = _shared_cse(allout)
    red = [(t, e) for (t, _), e in zip(allout, reduced, strict=True)]
    nf, nj, nh = len(f_out), len(f_out) + len(j_out), len(f_out) + len(j_out) + len(h_out)
    head = [f"{pmap[q]} = w[UIDX[j, {i}]]" for i, q in enumerate(unit.params)]
    head_u = [f"{vmap[q]} = u[UIDX[j, {i}]]" for i, q in enumerate(unit.direction)]
    zero_f = [f"f[{k}] = 0.0" for k in range(K)]
    fns = [
        _emit_pruned("_ex_f", ["w", "c", "o", "f"], pro, repl, red[:nf], loop=(zero_f, head)),
        _emit_pruned("_ex_j", ["w", "c", "o", "f", "jf"], pro, repl, red[:nj], loop=(zero_f, head)),
        _emit_pruned("_ex_h", ["w", "c", "o", "f", "jf", "hf"], pro, repl, red[:nh], loop=(zero_f, head)),
        _emit_pruned("_ex_t", ["w", "u", "c", "o", "tf"], pro, repl, red[nh:], loop=([], [*head, *head_u])),
    ]
    hk, hi, hj = [], [], []
    for j in range(unit.index.shape[0]):
        for k, a, b, _ in H:
            ga, gb = int(unit.index[j, a]), int(unit.index[j, b])
            hk.append(k)
            hi.append(min(ga, gb))
            hj.append(max(ga, gb))
    assert len(hk) == unit.index.shape[0] * nnz
    return fns, hk, hi, hj


def _generate(net: Any, backend_name: str) -> str:
    n, K, d = net.dim, net.output_dim, net.input_dim
    consts = net.constant_symbols
    C0 = len(consts)
    wmap = rename(net.params, "_w")
    cmap = rename(consts, "_c")
    xmap = rename(net.input_symbols, "_x")
    ymap = rename(net.target_symbols, "_y")
    umap = rename(net.direction_symbols, "_u")
    fmap = rename(net.output_symbols, "_F")
    sub = {**wmap, **cmap, **xmap, **ymap, **umap, **fmap}

    def x(e: sp.Expr) -> sp.Expr:
        return _code_ready(sp.sympify(e).xreplace(sub))

    un_w = [f"{wmap[p]} = w[{i}]" for i, p in enumerate(net.params)]
    un_c = [f"{cmap[s]} = c[{k}]" for k, s in enumerate(consts)]
    un_x = [f"{xmap[s]} = c[o + {k}]" for k, s in enumerate(net.input_symbols)]
    un_y = [f"{ymap[s]} = c[o + {d + k}]" for k, s in enumerate(net.target_symbols)]
    un_u = [f"{umap[s]} = u[{i}]" for i, s in enumerate(net.direction_symbols)]
    un_f = [f"{fmap[s]} = f[{k}]" for k, s in enumerate(net.output_symbols)]
    pro = [*un_w, *un_c, *un_x]

    if net.unit is not None:
        per_example, hk, hi, hj = _unit_functions(net, cmap, xmap, pro[len(un_w) :])
    else:
        per_example, hk, hi, hj = _generic_functions(net, x, pro, un_u)
    ell, d1, d2, d3 = net.loss_derivatives()
    l_out = [(f"l1[{k}]", x(d1[k])) for k in range(K)]
    l_out += [(f"l2[{k}, {m}]", x(d2[k][m])) for k in range(K) for m in range(K)]
    l_out += [(f"l3[{k}, {m}, {q}]", x(d3[k][m][q])) for k in range(K) for m in range(K) for q in range(K)]

    header = module_header(
        f"symbolic net {net.name}",
        backend_name,
        [
            f"per-example loss: {net.loss_of_output}",
            f"outputs: {[str(o) for o in net.outputs]}" if n <= 12 else f"kind {net.kind}, arch {net.arch}",
            f"params = {[p.name for p in net.params]}" if n <= 40 else f"{n} params",
            f"constants = {[c.name for c in consts]}",
            f"key {net.key}",
        ],
    )
    consts_src = (
        f"DIM = {n}\nNOUT = {K}\nNIN = {d}\nC0 = {C0}\nSTRIDE = {d + K}\nNNZ_H = {len(hk)}\n"
        + _int_array("H_K", hk)
        + _int_array("H_I", hi)
        + _int_array("H_J", hj)
    )
    if net.unit is not None:
        idx = net.unit.index
        consts_src += f"UNITS = {idx.shape[0]}\nNNZ_U = {len(hk) // idx.shape[0]}\n"
        consts_src += f"UIDX = np.array({idx.tolist()!r}, dtype=np.int64)\n"
    parts = [
        header,
        consts_src,
        *per_example,
        emit_function("_l_val", ["f", "c", "o"], [*un_f, *un_c, *un_y], [], returns=x(ell)),
        emit_function("_l_der", ["f", "c", "o", "l1", "l2", "l3"], [*un_f, *un_c, *un_y], l_out, returns=x(ell)),
        _LOOPS,
    ]
    return "\n\n".join(parts)
