"""Explicit optimizers, each defined once as an update rule.

The same :class:`Optimizer` feeds the symbolic stability analysis (through
:attr:`Optimizer.rule`), the compiled numba step (generated from the rule) and the torch
runner.  Conventions follow PyTorch: momentum buffers start at zero, dampening 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from eostheory._errors import EosInputError
from eostheory._validate import finite_float, positive_float, unit_interval
from eostheory.symbolic.rules import UpdateRule

__all__ = ["OPTIMIZERS", "Optimizer", "get_optimizer", "register_optimizer"]


@dataclass(frozen=True)
class Optimizer:
    """An explicit optimizer: a name and its update rule (see :class:`UpdateRule`).

    Args:
        name: the name used by the CLI (``--optimizer NAME``).
        update: the assignments of one step.
        defaults: default values of hyperparameters other than ``eta``.
        description: one line for ``--help`` and the docs.
        unit: hyperparameters other than ``beta`` that must lie in [0, 1) (``beta1``, ``beta2`` of Adam).
        positive: hyperparameters other than ``eta`` that must be > 0 (``eps``).

    Examples:
        >>> hb = get_optimizer("heavy-ball")
        >>> [str(h) for h in hb.hyperparameters]
        ['beta', 'eta']
        >>> hb.hyperparameter_values(eta=0.1, beta=0.5)
        [0.5, 0.1]
    """

    name: str
    update: tuple[str, ...]
    defaults: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    unit: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()

    @cached_property
    def rule(self) -> UpdateRule:
        """The parsed update rule (the single definition every backend uses)."""
        return UpdateRule(self.update, name=self.name)

    @property
    def hyperparameters(self) -> tuple:
        """Hyperparameter symbols in the order of :meth:`hyperparameter_values`."""
        return self.rule.hyperparameters

    @property
    def state(self) -> tuple:
        """State (buffer) symbols, each a vector of the parameters' size, zero at start."""
        return self.rule.state

    def hyperparameter_values(self, **values: float | None) -> list[float]:
        """Validate hyperparameters and return them in :attr:`hyperparameters` order.

        ``eta`` must be > 0, ``beta`` in [0, 1) (and those named in :attr:`unit`), those
        named in :attr:`positive` > 0, any other one finite.  A value of
        ``None`` takes the default.  A value for a hyperparameter this optimizer does not
        have is an error (``gd`` takes no ``beta``).
        """
        names = [h.name for h in self.hyperparameters]
        given = {k: v for k, v in values.items() if v is not None}
        extra = set(given) - set(names)
        if extra:
            raise EosInputError(f"optimizer {self.name!r} has no hyperparameter(s) {sorted(extra)}; it has {names}")
        out = []
        for h in names:
            v = given.get(h, self.defaults.get(h))
            if v is None:
                raise EosInputError(f"optimizer {self.name!r} needs a value for {h}")
            if h == "eta" or h in self.positive:
                out.append(positive_float(h, v))
            elif h == "beta" or h in self.unit:
                out.append(unit_interval(h, v))
            else:
                out.append(finite_float(h, v))
        return out


OPTIMIZERS: dict[str, Optimizer] = {}


def register_optimizer(opt: Optimizer, *, replace: bool = False) -> Optimizer:
    """Add an optimizer to the registry (parses its rule now, so errors surface early)."""
    if opt.name in OPTIMIZERS and not replace:
        raise EosInputError(f"optimizer {opt.name!r} already exists")
    _ = opt.rule
    OPTIMIZERS[opt.name] = opt
    return opt


def get_optimizer(name: str | Optimizer) -> Optimizer:
    """Look an optimizer up by name (an :class:`Optimizer` is returned as is)."""
    if isinstance(name, Optimizer):
        return name
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise EosInputError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}") from None


for _opt in [
    Optimizer("gd", ("w = w - eta*g",), description="gradient descent"),
    Optimizer(
        "heavy-ball",
        ("v = beta*v + g", "w = w - eta*v"),
        {"beta": 0.9},
        "heavy-ball (Polyak) momentum, PyTorch SGD(momentum=beta)",
    ),
    Optimizer(
        "nesterov",
        ("v = beta*v + g", "w = w - eta*(g + beta*v)"),
        {"beta": 0.9},
        "Nesterov momentum, PyTorch SGD(momentum=beta, nesterov=True)",
    ),
    Optimizer(
        "ema-momentum",
        ("m = beta*m + (1 - beta)*g", "w = w - eta*m"),
        {"beta": 0.9},
        "exponential-moving-average momentum (Adam's first moment without preconditioning)",
    ),
    Optimizer("normalized-gd", ("w = w - eta*g/norm(g)",), description="normalized GD: steps of length eta"),
    Optimizer("sign-gd", ("w = w - eta*sign(g)",), description="sign descent (normalized steepest descent in l-inf)"),
    Optimizer(
        "linf-descent",
        ("w = w - eta*norm1(g)*sign(g)",),
        description="steepest descent in the l-inf norm: w - eta*||g||_1 sign(g)",
    ),
    # Adaptive methods: their state update is not linear in (w, state, g), so the linear
    # stability analysis refuses them; the numba and torch steps evaluate them as written.
    Optimizer(
        "rmsprop",
        ("s = alpha*s + (1 - alpha)*g**2", "w = w - eta*g/(sqrt(s) + eps)"),
        {"alpha": 0.99, "eps": 1e-8},
        "RMSProp, PyTorch RMSprop(alpha, eps) (not centered, no momentum)",
        unit=("alpha",),
        positive=("eps",),
    ),
    Optimizer(
        "adam",
        (
            "m = beta1*m + (1 - beta1)*g",
            "v = beta2*v + (1 - beta2)*g**2",
            "c1 = beta1*c1 + 1 - beta1",
            "c2 = beta2*c2 + 1 - beta2",
            "w = w - (eta/c1)*m/(sqrt(v)/sqrt(c2) + eps)",
        ),
        {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        "Adam with bias correction, PyTorch Adam(betas=(beta1, beta2), eps); c1 = 1 - beta1^t and "
        "c2 = 1 - beta2^t are kept as buffers",
        unit=("beta1", "beta2"),
        positive=("eps",),
    ),
]:
    register_optimizer(_opt)
