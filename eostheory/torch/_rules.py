r"""Apply an optimizer's :class:`~eostheory.symbolic.UpdateRule` to torch tensors.

The torch runner never re-implements an optimizer: it evaluates the assignments of
``eostheory.optimizers.get_optimizer(name).rule`` — the single definition that the
symbolic stability analysis and the compiled numba step also use — on flat tensors.
Each assignment's sympy expression is turned once into a small Python closure tree
(sums, products, powers, elementwise functions); the reductions ``norm(g)``,
``norm1(g)``, ``norminf(g)`` are computed once per step as 0-dim tensors, so nothing
leaves the device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic.rules import G, UpdateRule, W, norm, norm1, norminf
from eostheory.torch._backend import require_torch

__all__ = ["TorchStep"]

torch = require_torch()

Env = dict[str, Any]
Node = Callable[[Env], Any]


def _both(tfun: Callable[[Any], Any], mfun: Callable[[float], float]) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        return tfun(x) if isinstance(x, torch.Tensor) else mfun(x)

    return f


def _msign(x: float) -> float:
    return float((x > 0) - (x < 0))


_FUNCS: dict[type, Callable[[Any], Any]] = {
    sp.sign: _both(torch.sign, _msign),
    sp.Abs: _both(torch.abs, abs),
    sp.exp: _both(torch.exp, math.exp),
    sp.log: _both(torch.log, math.log),
    sp.tanh: _both(torch.tanh, math.tanh),
    sp.sinh: _both(torch.sinh, math.sinh),
    sp.cosh: _both(torch.cosh, math.cosh),
    sp.sin: _both(torch.sin, math.sin),
    sp.cos: _both(torch.cos, math.cos),
    sp.tan: _both(torch.tan, math.tan),
    sp.atan: _both(torch.atan, math.atan),
    sp.asin: _both(torch.asin, math.asin),
    sp.acos: _both(torch.acos, math.acos),
    sp.erf: _both(torch.erf, math.erf),
}


def _node(expr: sp.Basic, names: Mapping[sp.Symbol, str]) -> Node:
    if expr in names:
        key = names[expr]  # type: ignore[index]
        return lambda env: env[key]
    if expr.is_Number or expr.is_NumberSymbol:
        c = float(expr)  # type: ignore[arg-type]
        return lambda env: c
    if isinstance(expr, sp.Symbol):
        raise EosInputError(f"the update rule uses {expr}, which has no value")
    args = [_node(a, names) for a in expr.args]
    if isinstance(expr, sp.Add):

        def add(env: Env) -> Any:
            out = args[0](env)
            for a in args[1:]:
                out = out + a(env)
            return out

        return add
    if isinstance(expr, sp.Mul):

        def mul(env: Env) -> Any:
            out = args[0](env)
            for a in args[1:]:
                out = out * a(env)
            return out

        return mul
    if isinstance(expr, sp.Pow):
        base, ex = args
        e = expr.args[1]
        if e == sp.Rational(1, 2):
            sq = _FUNCS_SQRT
            return lambda env: sq(base(env))
        if e == -1:
            return lambda env: 1.0 / base(env)
        return lambda env: base(env) ** ex(env)
    if isinstance(expr, sp.Max | sp.Min):
        pick_t = torch.maximum if isinstance(expr, sp.Max) else torch.minimum
        pick_m = max if isinstance(expr, sp.Max) else min

        def mm(env: Env) -> Any:
            vals = [a(env) for a in args]
            out = vals[0]
            for v in vals[1:]:
                if isinstance(out, torch.Tensor) or isinstance(v, torch.Tensor):
                    out = pick_t(torch.as_tensor(out), torch.as_tensor(v))
                else:
                    out = pick_m(out, v)
            return out

        return mm
    fn = _FUNCS.get(type(expr))  # type: ignore[arg-type]
    if fn is not None and len(args) == 1:
        (a0,) = args
        return lambda env: fn(a0(env))
    raise EosInputError(f"the torch runner cannot evaluate {expr} in an update rule")


_FUNCS_SQRT = _both(torch.sqrt, math.sqrt)


class TorchStep:
    r"""One optimizer step on flat torch tensors, evaluated from an :class:`UpdateRule`.

    Lines run in order; ``w`` is the parameter vector, ``g`` the gradient at ``w`` before
    the step, every other assigned name a state buffer that starts at zero.

    Args:
        rule: the update rule (e.g. ``get_optimizer("nesterov").rule``).
        hyperparameters: values of the rule's hyperparameters by name (``eta``, ``beta``, …).

    Raises:
        EosInputError: a hyperparameter without a value, or an expression the torch runner
            cannot evaluate.

    Examples:
        >>> import torch
        >>> from eostheory.optimizers import get_optimizer
        >>> step = TorchStep(get_optimizer("heavy-ball").rule, {"eta": 0.1, "beta": 0.5})
        >>> w, s = torch.tensor([1.0]), step.init_state(torch.tensor([1.0]))
        >>> for _ in range(2):
        ...     w, s = step(w, 2 * w, s)  # L = w², g = 2w
        >>> round(float(w), 10)  # v1 = 2, w1 = 0.8; v2 = 0.5*2 + 1.6 = 2.6, w2 = 0.54
        0.54
    """

    def __init__(self, rule: UpdateRule, hyperparameters: Mapping[str, float]) -> None:
        if not isinstance(rule, UpdateRule):
            raise EosInputError(f"rule must be an UpdateRule, got {type(rule).__name__}")
        self.rule = rule
        missing = [h.name for h in rule.hyperparameters if h.name not in hyperparameters]
        if missing:
            raise EosInputError(f"update rule '{rule}' needs values for {missing}")
        self.hyperparameters = {h.name: float(hyperparameters[h.name]) for h in rule.hyperparameters}
        self.state_names = tuple(s.name for s in rule.state)
        self._reductions = []
        names: dict[sp.Symbol, str] = {W: "w", G: "g"}
        for s in rule.state:
            names[s] = f"s:{s.name}"
        for h in rule.hyperparameters:
            names[h] = f"h:{h.name}"
        for i, red in enumerate(rule.reductions):
            key = f"r:{i}"
            names[red] = key  # type: ignore[index]
            if isinstance(red, norm):
                self._reductions.append((key, lambda g: torch.linalg.vector_norm(g)))
            elif isinstance(red, norm1):
                self._reductions.append((key, lambda g: torch.linalg.vector_norm(g, ord=1)))
            elif isinstance(red, norminf):
                self._reductions.append((key, lambda g: torch.linalg.vector_norm(g, ord=math.inf)))
        self._lines = [(names[a.target], _node(a.expr, names)) for a in rule.assignments]

    def init_state(self, w: Any) -> dict[str, Any]:
        """Zero buffers shaped like ``w``, one per state variable."""
        return {name: torch.zeros_like(w) for name in self.state_names}

    def __call__(self, w: Any, g: Any, state: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Return the new parameters and state (the inputs are not modified)."""
        env: Env = {"w": w, "g": g}
        env.update({f"h:{k}": v for k, v in self.hyperparameters.items()})
        env.update({f"s:{k}": v for k, v in state.items()})
        for key, red in self._reductions:
            env[key] = red(g)
        for target, node in self._lines:
            val = node(env)
            if not isinstance(val, torch.Tensor):
                val = torch.full_like(w, float(val))
            elif val.shape != w.shape:
                val = val.expand_as(w).clone()
            env[target] = val
        return env["w"], {k: env[f"s:{k}"] for k in self.state_names}
