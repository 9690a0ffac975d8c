r"""Small models for experiments at the edge of stability: MLPs and a small CNN.

Users may bring any :class:`torch.nn.Module`; these builders cover the usual cases of
the literature (Cohen et al. 2021 use tanh MLPs and small CNNs with the MSE loss).
Activations are smooth by default (tanh) because the flows and the third-derivative
contraction need a twice-differentiable Hessian; ReLU works for training and sharpness.
"""

from __future__ import annotations

import math
from typing import Any

from eostheory._errors import EosInputError
from eostheory._validate import positive_int
from eostheory.torch._backend import require_torch

__all__ = ["ACTIVATIONS", "MODELS", "build_model", "cnn", "mlp"]

#: Activation names accepted by :func:`mlp` and :func:`cnn`.
ACTIVATIONS = ("tanh", "relu", "elu", "softplus", "gelu")


def _activation(name: str) -> Any:
    nn = require_torch().nn
    table = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "softplus": nn.Softplus, "gelu": nn.GELU}
    try:
        return table[str(name).lower()]()
    except KeyError:
        raise EosInputError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


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
        activation: one of :data:`ACTIVATIONS`.
        bias: whether the layers have biases.

    Returns:
        A :class:`torch.nn.Sequential` with PyTorch's default initialisation.

    Examples:
        >>> net = mlp(64, 10, (64, 64, 64))
        >>> sum(p.numel() for p in net.parameters())
        13130
    """
    nn = require_torch().nn
    sizes = (positive_int("in_features", in_features), *_widths(widths), positive_int("out_features", out_features))
    layers: list[Any] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=bias))
        if i < len(sizes) - 2:
            layers.append(_activation(activation))
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
        activation: one of :data:`ACTIVATIONS`.

    Returns:
        A :class:`torch.nn.Sequential`.
    """
    nn = require_torch().nn
    if image_shape is None or len(tuple(image_shape)) != 3:
        raise EosInputError(f"a CNN needs an image shape (C, H, W), got {image_shape!r}")
    c, h, w = (positive_int("image_shape", s) for s in image_shape)
    layers: list[Any] = [nn.Unflatten(1, (c, h, w))]
    for ch in _widths(channels):
        layers += [nn.Conv2d(c, ch, 3, padding=1), _activation(activation)]
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
        activation: one of :data:`ACTIVATIONS`.
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
