"""Compiled optimizer steps and the run loop, generated from an update rule."""

from __future__ import annotations

import sympy as sp

from eostheory.compile._codegen import _print, module_header, rename
from eostheory.symbolic.rules import G, UpdateRule, W, norm, norm1, norminf

__all__ = ["run_module_source", "step_source"]


def step_source(rule: UpdateRule) -> str:
    """Source of ``opt_step(w, g, s, h)``: one step of ``rule`` in place.

    ``w`` parameters, ``g`` gradient at ``w``, ``s`` state of shape ``(k, n)`` (one row per
    state variable), ``h`` hyperparameters in :attr:`UpdateRule.hyperparameters` order.
    """
    hmap = rename(rule.hyperparameters, "_h")
    smap = rename(rule.state, "_s")
    rmap = {red: sp.Symbol(f"_r{i}") for i, red in enumerate(rule.reductions)}
    sub: dict[sp.Basic, sp.Basic] = {**hmap, **smap, **rmap, W: sp.Symbol("_w"), G: sp.Symbol("_g")}
    lines = ["@jit", "def opt_step(w, g, s, h):", "    n = DIM"]
    lines += [f"    {hmap[h]} = h[{k}]" for k, h in enumerate(rule.hyperparameters)]
    for red, sym in rmap.items():
        if isinstance(red, norm):
            lines += [
                f"    {sym} = 0.0",
                "    for i in range(n):",
                f"        {sym} += g[i] * g[i]",
                f"    {sym} = math.sqrt({sym})",
            ]
        elif isinstance(red, norm1):
            lines += [f"    {sym} = 0.0", "    for i in range(n):", f"        {sym} += abs(g[i])"]
        elif isinstance(red, norminf):
            lines += [f"    {sym} = 0.0", "    for i in range(n):", f"        {sym} = max({sym}, abs(g[i]))"]
    lines += ["    for i in range(n):", "        _g = g[i]", "        _w = w[i]"]
    lines += [f"        {smap[s]} = s[{k}, i]" for k, s in enumerate(rule.state)]
    for a in rule.assignments:
        target = "_w" if a.target == W else str(smap[a.target])
        lines.append(f"        {target} = {_print(a.expr.xreplace(sub))}")
    lines += [f"        s[{k}, i] = {smap[s]}" for k, s in enumerate(rule.state)]
    lines.append("        w[i] = _w")
    return "\n".join(lines) + "\n"


_RUN_LOOP = '''
@jit
def run_loop(w, s, c, h, steps, stride, avg_start, gtol, maxabs, rec_t, rec_w, rec_loss, rec_sharp, tail_w, sums):
    """Run ``steps`` optimizer steps from ``w`` (in place).

    Records (t, w, loss, sharpness) every ``stride`` steps, keeps the last iterates in the
    ring buffer ``tail_w``, accumulates sums of w, loss and sharpness for ``t >= avg_start``.
    Stops when the gradient norm is <= gtol (status 1) or when the gradient or an iterate
    is not finite or exceeds ``maxabs`` (status 2; ``w`` is put back to the last iterate
    whose gradient was finite).  Returns (steps taken, status, records, averaged steps).
    """
    n = DIM
    g = np.empty(n)
    ntail = tail_w.shape[0]
    nrec_max = rec_t.shape[0]
    gtol2 = gtol * gtol
    status = 0
    nrec = 0
    navg = 0
    t = 0
    next_rec = 0
    k = 0
    while t < steps:
        if t == next_rec and nrec < nrec_max:
            next_rec += stride
            rec_t[nrec] = t
            for i in range(n):
                rec_w[nrec, i] = w[i]
            rec_loss[nrec] = loss(w, c)
            rec_sharp[nrec] = sharp(w, c)
            nrec += 1
        grad(w, c, g)
        gn2 = 0.0
        for i in range(n):
            gn2 += g[i] * g[i]
        if not gn2 < 1e300:
            status = 2
            break
        if gn2 <= gtol2:
            status = 1
            break
        if t >= avg_start:
            for i in range(n):
                sums[i] += w[i]
            sums[n] += loss(w, c)
            sums[n + 1] += sharp(w, c)
            navg += 1
        for i in range(n):
            tail_w[k, i] = w[i]
        opt_step(w, g, s, h)
        ok = True
        for i in range(n):
            if not abs(w[i]) <= maxabs:
                ok = False
        if not ok:
            for i in range(n):
                w[i] = tail_w[k, i]
            status = 2
            break
        t += 1
        k += 1
        if k == ntail:
            k = 0
    return t, status, nrec, navg
'''


def run_module_source(pot_module: str, rule: UpdateRule, backend_name: str) -> str:
    """Source of a run module: imports the potential kernels, defines ``opt_step`` and ``run_loop``."""
    header = module_header(f"run loop for {rule}", backend_name, [f"update: {rule}"])
    imports = f"from {pot_module} import DIM, loss, grad, sharp\n"
    return "\n".join([header, imports, f"N_STATE = {len(rule.state)}\n", step_source(rule), _RUN_LOOP])
