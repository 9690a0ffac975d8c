r"""Small models for experiments at the edge of stability: MLPs and a small CNN.

Users may bring any :class:`torch.nn.Module`; these builders cover the usual cases of
the literature (Cohen et al. 2021 use tanh MLPs and small CNNs with the MSE loss).

Activations are chosen by name from :data:`ACTIVATION_SPECS` (case-insensitive, with
aliases: ``swish`` is SiLU, ``leaky_relu`` is leaky-relu, ``linear`` is the identity).
Each entry records its smoothness class :math:`C^k`.  The sharpness is a continuous
function of the parameters only when the activation is :math:`C^2`, and the flows' third
derivative :math:`\nabla^3 L[u,u]` exists only when it is :math:`C^3`: ReLU, leaky-ReLU,
SELU, hardtanh, ReLU6 and hardswish are only :math:`C^0` (a kink), ELU/CELU and softsign
:math:`C^1` (a jump of the second derivative).  Training and sharpness tracking work with
all of them; a third-derivative check on a model that contains one warns
(:func:`nonsmooth_modules`).  The default, tanh, is smooth.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from eostheory._errors import EosInputError
from eostheory._validate import positive_int
from eostheory.torch._backend import require_torch

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_SPECS",
    "MODELS",
    "ActivationSpec",
    "activation",
    "build_model",
    "cnn",
    "mlp",
    "nonsmooth_modules",
    "resolve_activation",
]

#: :math:`C^\infty`, as a smoothness order.
SMOOTH = math.inf


@dataclass(frozen=True)
class ActivationSpec:
    r"""One activation of the registry.

    Attributes:
        name: the canonical name (what :func:`resolve_activation` returns).
        module: the :mod:`torch.nn` class that implements it.
        formula: :math:`\sigma(z)` in words, for the documentation and ``--help``.
        smoothness: :math:`k` of the class :math:`C^k` (``math.inf`` for smooth functions).
        aliases: other accepted names.
        kwargs: constructor arguments of ``module``.
    """

    name: str
    module: str
    formula: str
    smoothness: float
    aliases: tuple[str, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def c2(self) -> bool:
        """Whether the activation is twice continuously differentiable (continuous Hessian)."""
        return self.smoothness >= 2

    @property
    def c3(self) -> bool:
        r"""Whether the third derivative :math:`\nabla^3 L` the flows use exists everywhere."""
        return self.smoothness >= 3

    def build(self) -> Any:
        """A new instance of the module."""
        return getattr(require_torch().nn, self.module)(**dict(self.kwargs))


_SPECS = (
    ActivationSpec("tanh", "Tanh", "tanh z", SMOOTH),
    ActivationSpec("sigmoid", "Sigmoid", "1/(1+e^-z)", SMOOTH, ("logistic",)),
    ActivationSpec("silu", "SiLU", "z·sigmoid(z)", SMOOTH, ("swish",)),
    ActivationSpec("gelu", "GELU", "z·Φ(z) (exact, erf)", SMOOTH),
    ActivationSpec("gelu-tanh", "GELU", "GELU's tanh approximation", SMOOTH, (), (("approximate", "tanh"),)),
    ActivationSpec("softplus", "Softplus", "log(1+e^z) (linear above z = 20, as in torch)", SMOOTH),
    ActivationSpec("mish", "Mish", "z·tanh(softplus(z))", SMOOTH),
    ActivationSpec("logsigmoid", "LogSigmoid", "log sigmoid(z)", SMOOTH),
    ActivationSpec("tanhshrink", "Tanhshrink", "z − tanh z", SMOOTH),
    ActivationSpec("identity", "Identity", "z (a deep linear network)", SMOOTH, ("linear", "none")),
    ActivationSpec("elu", "ELU", "z for z > 0, e^z − 1 otherwise", 1),
    ActivationSpec("celu", "CELU", "ELU with α = 1 (the same function)", 1),
    ActivationSpec("softsign", "Softsign", "z/(1+|z|)", 1),
    ActivationSpec("relu", "ReLU", "max(z, 0)", 0),
    ActivationSpec("leaky-relu", "LeakyReLU", "max(z, 0.01 z)", 0, ("leakyrelu", "lrelu")),
    ActivationSpec("selu", "SELU", "scaled ELU (its slope jumps at 0)", 0),
    ActivationSpec("relu6", "ReLU6", "min(max(z, 0), 6)", 0),
    ActivationSpec("hardtanh", "Hardtanh", "clip(z, −1, 1)", 0),
    ActivationSpec("hardswish", "Hardswish", "z·relu6(z+3)/6", 0),
)

#: Activations by canonical name.
ACTIVATION_SPECS: dict[str, ActivationSpec] = {a.name: a for a in _SPECS}

#: Canonical activation names accepted by :func:`mlp` and :func:`cnn` (aliases too).
ACTIVATIONS: tuple[str, ...] = tuple(ACTIVATION_SPECS)

_LOOKUP: dict[str, str] = {}
for _a in _SPECS:
    for _n in (_a.name, *_a.aliases):
        _LOOKUP[_n] = _a.name
        _LOOKUP[_n.replace("-", "_")] = _a.name
        _LOOKUP[_n.replace("-", "")] = _a.name


def _key(name: str) -> str:
    return " ".join(str(name).split()).lower().replace(" ", "-")


def resolve_activation(name: Any) -> ActivationSpec:
    """The registry entry of an activation name (case-insensitive; ``-``, ``_`` or nothing between words).

    Args:
        name: e.g. ``"SiLU"``, ``"swish"``, ``"leaky_relu"``, ``"GELU"``.

    Returns:
        The :class:`ActivationSpec`.

    Raises:
        EosInputError: an unknown name; the message lists the known names and the closest one.

    Examples:
        >>> resolve_activation("Swish").name
        'silu'
        >>> resolve_activation("leaky_relu").c2
        False
    """
    if not isinstance(name, str):
        raise EosInputError(f"an activation is given by name, got {type(name).__name__}")
    key = _key(name)
    if key in _LOOKUP:
        return ACTIVATION_SPECS[_LOOKUP[key]]
    close = difflib.get_close_matches(key, list(_LOOKUP), n=1, cutoff=0.6)
    hint = ""
    if close:
        canon = _LOOKUP[close[0]]
        hint = f" (did you mean {canon!r}?)" if close[0] == canon else f" (did you mean {close[0]!r}, i.e. {canon!r}?)"
    raise EosInputError(f"unknown activation {name!r}{hint}; known: {', '.join(ACTIVATIONS)}")


def activation(name: Any) -> Any:
    """A new :mod:`torch.nn` module for the activation ``name`` (see :func:`resolve_activation`)."""
    return resolve_activation(name).build()


def nonsmooth_modules(model: Any, order: int = 3) -> list[tuple[str, str, float]]:
    r"""The activation modules of ``model`` that are not :math:`C^{\text{order}}`.

    Only modules of the registry's classes are seen (an activation called as a function in
    a custom ``forward`` is not); ``nn.GELU(approximate="tanh")`` is told apart by its
    argument, ``nn.PReLU`` counts as :math:`C^0`.

    Args:
        model: a :class:`torch.nn.Module`.
        order: the smoothness needed (3 for third derivatives, 2 for a continuous Hessian).

    Returns:
        ``(module path, canonical name, smoothness)`` for each offending module.
    """
    by_class = {}
    for a in _SPECS:
        by_class.setdefault(a.module, a)
    out: list[tuple[str, str, float]] = []
    for path, m in model.named_modules():
        cls = type(m).__name__
        if cls == "PReLU":
            out.append((path or "<root>", "prelu", 0))
            continue
        spec = by_class.get(cls)
        if spec is not None and spec.smoothness < order and type(m).__module__.startswith("torch.nn"):
            out.append((path or "<root>", spec.name, spec.smoothness))
    return out


def _widths(widths: Any) -> tuple[int, ...]:
    if isinstance(widths, str):
        widths = [w for w in widths.replace("x", ",").split(",") if w.strip()]
    try:
        out = tuple(positive_int("width", w) for w in widths)
    except TypeError:
        raise EosInputError(f"widths must be a list of positive integers, got {widths!r}") from None
    return out


def mlp(
    in_features: int, out_features: int, widths: Any = (64, 64, 64), activation: str = "tanh", bias: bool = True
) -> Any:
    """A fully connected network ``in → widths… → out`` with one activation after each hidden layer.

    Args:
        in_features: input dimension.
        out_features: output dimension (number of classes, or targets).
        widths: hidden widths, e.g. ``(64, 64, 64)``; ``()`` gives a linear model.
        activation: a name of :data:`ACTIVATION_SPECS` or an alias (default tanh).
        bias: whether the layers have biases.

    Returns:
        A :class:`torch.nn.Sequential` with PyTorch's default initialisation.

    Examples:
        >>> net = mlp(64, 10, (64, 64, 64))
        >>> sum(p.numel() for p in net.parameters())
        13130
    """
    nn = require_torch().nn
    spec = resolve_activation(activation)
    sizes = (positive_int("in_features", in_features), *_widths(widths), positive_int("out_features", out_features))
    layers: list[Any] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=bias))
        if i < len(sizes) - 2:
            layers.append(spec.build())
    return nn.Sequential(*layers)


def cnn(image_shape: Any = (1, 8, 8), out_features: int = 10, channels: Any = (8, 16), activation: str = "tanh") -> Any:
    """A small CNN for flattened images: conv 3×3 layers with average pooling, then a linear layer.

    The network takes rows of ``C·H·W`` features (as :class:`Dataset` stores them) and
    unflattens them first.  Each conv layer keeps the spatial size (padding 1) and is
    followed by the activation and a 2×2 average pooling while the size allows it.

    Args:
        image_shape: ``(C, H, W)``.
        out_features: outputs.
        channels: output channels of the conv layers.
        activation: a name of :data:`ACTIVATION_SPECS` or an alias (default tanh).

    Returns:
        A :class:`torch.nn.Sequential`.
    """
    nn = require_torch().nn
    if image_shape is None or len(tuple(image_shape)) != 3:
        raise EosInputError(f"a CNN needs an image shape (C, H, W), got {image_shape!r}")
    c, h, w = (positive_int("image_shape", s) for s in image_shape)
    spec = resolve_activation(activation)
    layers: list[Any] = [nn.Unflatten(1, (c, h, w))]
    for ch in _widths(channels):
        layers += [nn.Conv2d(c, ch, 3, padding=1), spec.build()]
        if h >= 4 and w >= 4:
            layers.append(nn.AvgPool2d(2))
            h, w = h // 2, w // 2
        c = ch
    layers += [nn.Flatten(), nn.Linear(c * h * w, positive_int("out_features", out_features))]
    return nn.Sequential(*layers)


#: Model builders by the name the CLI takes (``--model NAME``).
MODELS = ("mlp", "cnn", "linear")


def build_model(name: str, data: Any, *, widths: Any = (64, 64, 64), activation: str = "tanh", seed: int = 0) -> Any:
    """Build a named model sized for ``data`` (a :class:`~eostheory.torch.Dataset`), seeded.

    Args:
        name: ``"mlp"``, ``"cnn"`` (needs ``data.image_shape``) or ``"linear"``.
        data: the data set (gives input and output sizes).
        widths: hidden widths (MLP) or conv channels (CNN).
        activation: a name of :data:`ACTIVATION_SPECS` or an alias (default tanh).
        seed: seed of the initialisation.

    Returns:
        The module, in float32 on the CPU.

    Raises:
        EosInputError: an unknown name, or a CNN on data without an image shape.
    """
    torch = require_torch()
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))
    try:
        if name == "mlp":
            return mlp(data.in_features, data.out_features, widths, activation)
        if name == "linear":
            return mlp(data.in_features, data.out_features, (), activation)
        if name == "cnn":
            shape = data.image_shape
            if shape is None:
                side = math.isqrt(data.in_features)
                if side * side != data.in_features:
                    raise EosInputError(f"--model cnn needs image data; {data.name} has no image shape")
                shape = (1, side, side)
            return cnn(shape, data.out_features, widths, activation)
        raise EosInputError(f"unknown model {name!r}; known: {', '.join(MODELS)} (or bring an nn.Module)")
    finally:
        torch.random.set_rng_state(gen_state)
