"""Named toy potentials used in the edge-of-stability literature.

Each entry is a formula, its parameters in order, default constants and a one-line
description with its source.  ``toy(name, **constants)`` builds the
:class:`~eostheory.symbolic.potential.Potential`; ``--set`` on the command line
overrides the constants.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from eostheory._errors import EosInputError
from eostheory.symbolic.potential import ConstantValue, Potential

__all__ = ["TOYS", "ToySpec", "toy", "unknown_toy_message"]


@dataclass(frozen=True)
class ToySpec:
    """A named toy: formula, parameter order, default constants, description."""

    formula: str
    params: tuple[str, ...]
    constants: dict[str, float] = field(default_factory=dict)
    description: str = ""


TOYS: dict[str, ToySpec] = {
    "quadratic-1d": ToySpec("lam*w**2/2", ("w",), {"lam": 1.0}, "1-D quadratic; sharpness lam everywhere"),
    "quadratic": ToySpec(
        "(l1*x**2 + l2*y**2)/2",
        ("x", "y"),
        {"l1": 1.0, "l2": 4.0},
        "diagonal 2-D quadratic; sharpness max(l1, l2)",
    ),
    "quadratic-general": ToySpec(
        "(a*x**2 + 2*b*x*y + c*y**2)/2",
        ("x", "y"),
        {"a": 3.0, "b": 1.0, "c": 2.0},
        "general 2-D quadratic with Hessian [[a, b], [b, c]]",
    ),
    "quartic": ToySpec(
        "S*w**2/2 - Q*w**4/4",
        ("w",),
        {"S": 1.0, "Q": 1.0},
        "1-D quartic, supercritical flip at eta*S = 2; GD 2-cycle w*^2 = (S - 2/eta)/Q for eta*S in (2, 3)",
    ),
    "quartic-plus": ToySpec(
        "S*w**2/2 + Q*w**4/4",
        ("w",),
        {"S": 1.0, "Q": 1.0},
        "1-D quartic with +Q/4 w^4: subcritical flip, GD blows up past eta*S = 2",
    ),
    "canonical": ToySpec(
        "(s0 + y)*x**2/2 - c*y",
        ("x", "y"),
        {"s0": 1.0, "c": 0.1},
        "canonical EoS toy of self-stabilization (Damian et al. 2022): sharpness s0 + y rises at rate c",
    ),
    "selfstab": ToySpec(
        "(1 + y**2)*x**2/2 + (y - 2)**2/2",
        ("x", "y"),
        {},
        "toy with a stable GD 2-cycle at 1 + y^2 = 2/eta, x^2 = (2 - y)/y; sharpness 5 at the minimum",
    ),
    "scalar-factorization": ToySpec(
        "(a*b - 1)**2/2",
        ("a", "b"),
        {},
        "scalar factorization; sharpness a^2 + b^2 at a minimum (balanced minima are flattest)",
    ),
    "deep-scalar": ToySpec(
        "(a*b*c - 1)**2/2",
        ("a", "b", "c"),
        {},
        "depth-3 scalar linear network",
    ),
    "xy-quartic": ToySpec(
        "(x**2*y**2 - 1)**2/4",
        ("x", "y"),
        {},
        "minimalist EoS example (Zhu et al. 2023): minima on the hyperbola |xy| = 1",
    ),
    "rosenbrock": ToySpec(
        "(a - x)**2 + b*(y - x**2)**2",
        ("x", "y"),
        {"a": 1.0, "b": 100.0},
        "Rosenbrock valley; sharpness about 2(1 + 4b) near the minimum (a, a^2)",
    ),
    "valley": ToySpec(
        "x**2/2 + k*(y - x**2)**2/2",
        ("x", "y"),
        {"k": 10.0},
        "curved valley y = x^2 of stiffness k; a smooth Rosenbrock-type test of curved edges",
    ),
    "logistic-1d": ToySpec(
        "log(1 + exp(-w)) + lam*w**2/2",
        ("w",),
        {"lam": 0.1},
        "1-D regularized logistic loss",
    ),
}


def unknown_toy_message(name: str) -> str:
    """The message for an unknown toy name: the nearest names, or the full list.

    Examples:
        >>> unknown_toy_message("selfsta")
        "unknown potential 'selfsta'; did you mean 'selfstab'?"
    """
    near = difflib.get_close_matches(name, list(TOYS), n=3, cutoff=0.6)
    if near:
        return f"unknown potential {name!r}; did you mean {', '.join(repr(n) for n in near)}?"
    return f"unknown potential {name!r}; known toys: {', '.join(sorted(TOYS))} (see 'eostheory potentials')"


def toy(name: str, **constants: ConstantValue) -> Potential:
    """Build the named toy potential, with ``constants`` overriding its defaults.

    Raises:
        EosInputError: unknown name or unknown constant.

    Examples:
        >>> toy("quartic", S=3).constants
        {S: 3.0, Q: 1.0}
    """
    try:
        spec = TOYS[name]
    except KeyError:
        raise EosInputError(unknown_toy_message(name)) from None
    unknown = set(constants) - set(spec.constants)
    if unknown:
        raise EosInputError(f"toy {name!r} has no constant(s) {sorted(unknown)}; it has {sorted(spec.constants)}")
    values: dict[str, ConstantValue] = {**spec.constants, **constants}
    return Potential(spec.formula, params=spec.params, constants=values, name=name)
