r"""A module's parameters as one flat vector, and back, in one documented order.

Every estimator of :mod:`eostheory.torch` sees a network as a function of one vector
:math:`\theta\in\mathbb R^n` (:class:`~eostheory.torch.NetworkObjective`).  The order of
:math:`\theta` is fixed here, once:

1. the module's trainable parameters in the order of :meth:`torch.nn.Module.named_parameters`
   (registration order: for an ``nn.Sequential``, layer by layer; within an ``nn.Linear``,
   ``weight`` before ``bias``), skipping those with ``requires_grad=False`` and counting a
   shared (tied) parameter once;
2. each parameter flattened in row-major (C) order: an ``nn.Linear(d_in, d_out)`` weight of
   shape ``(d_out, d_in)`` contributes ``W[0, 0], W[0, 1], …, W[0, d_in-1], W[1, 0], …``.

So ``mlp(3, 2, ())`` (one linear layer) has :math:`\theta = (W_{00}, W_{01}, W_{02}, W_{10},
W_{11}, W_{12}, b_0, b_1)`.  This is the order of ``NetworkObjective(model, …).theta0``, of the
``final_state`` of a flow and of a training checkpoint.

To load weights from another framework, convert them to a dict of named numpy arrays with
torch's shapes (an ``nn.Linear`` weight is ``(out, in)``: a Keras/JAX kernel of shape
``(in, out)`` is its transpose) and call :func:`load_params_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory.torch._backend import require_torch

__all__ = ["ParamSlot", "flat_params", "load_flat_params", "load_params_dict", "param_layout", "params_dict"]


@dataclass(frozen=True)
class ParamSlot:
    """Where one parameter sits in the flat vector.

    Attributes:
        name: its name in :meth:`torch.nn.Module.named_parameters` (e.g. ``"0.weight"``).
        shape: its shape.
        offset: index of its first entry in the flat vector.
        size: number of entries (the product of ``shape``).
    """

    name: str
    shape: tuple[int, ...]
    offset: int
    size: int

    @property
    def stop(self) -> int:
        """One past its last index: the parameter is ``theta[offset:stop]``."""
        return self.offset + self.size


def _module(model: Any) -> Any:
    torch = require_torch()
    if not isinstance(model, torch.nn.Module):
        raise EosInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _trainable(model: Any) -> list[tuple[str, Any]]:
    named = [(n, p) for n, p in _module(model).named_parameters() if p.requires_grad]
    if not named:
        raise EosInputError("the model has no trainable parameters")
    return named


def param_layout(model: Any) -> list[ParamSlot]:
    """The layout of the flat vector: one :class:`ParamSlot` per trainable parameter, in order.

    Args:
        model: a :class:`torch.nn.Module`.

    Returns:
        The slots, in the order of the flat vector (see the module docstring).

    Examples:
        >>> import eostheory.torch as et
        >>> [(s.name, s.shape, s.offset) for s in et.param_layout(et.mlp(3, 2, ()))]
        [('0.weight', (2, 3), 0), ('0.bias', (2,), 6)]
    """
    out: list[ParamSlot] = []
    offset = 0
    for name, p in _trainable(model):
        out.append(ParamSlot(name, tuple(p.shape), offset, p.numel()))
        offset += p.numel()
    return out


def flat_params(model: Any) -> Any:
    r"""The trainable parameters of ``model`` as one flat vector :math:`\theta` (a detached copy).

    Args:
        model: a :class:`torch.nn.Module`.

    Returns:
        A 1-D tensor on the parameters' device and in their dtype, in the documented order.

    Raises:
        EosInputError: not a module, no trainable parameters, or parameters of mixed dtypes
            or devices.
    """
    torch = require_torch()
    named = _trainable(model)
    kinds = {(p.dtype, p.device) for _, p in named}
    if len(kinds) > 1:
        raise EosInputError(
            f"the parameters have mixed dtypes or devices ({sorted(map(str, kinds))}); cast the model first"
        )
    return torch.cat([p.detach().reshape(-1) for _, p in named]).clone()


def load_flat_params(model: Any, vector: Any) -> Any:
    r"""Copy a flat vector :math:`\theta` into ``model``'s trainable parameters (in place).

    The inverse of :func:`flat_params`: ``load_flat_params(m, flat_params(m))`` changes nothing.

    Args:
        model: a :class:`torch.nn.Module`.
        vector: :math:`n` numbers (tensor, numpy array or sequence) in the documented order;
            cast to each parameter's dtype and device.

    Returns:
        ``model`` (for chaining).

    Raises:
        EosInputError: the wrong number of entries, or non-finite entries.
    """
    torch = require_torch()
    named = _trainable(model)
    n = sum(p.numel() for _, p in named)
    try:
        v = torch.as_tensor(np.asarray(vector, dtype=np.float64) if not isinstance(vector, torch.Tensor) else vector)
    except (TypeError, ValueError):
        raise EosInputError(f"the flat vector must be numbers, got {type(vector).__name__}") from None
    v = v.detach().reshape(-1)
    if v.numel() != n:
        raise EosInputError(f"the flat vector has {v.numel()} entries, the model has {n} trainable parameters")
    if not bool(torch.all(torch.isfinite(v))):
        raise EosInputError("the flat vector has non-finite entries")
    with torch.no_grad():
        offset = 0
        for _, p in named:
            k = p.numel()
            p.copy_(v[offset : offset + k].reshape(p.shape).to(device=p.device, dtype=p.dtype))
            offset += k
    return model


def params_dict(model: Any, vector: Any = None) -> dict[str, np.ndarray]:
    """The trainable parameters as a dict of named float64 numpy arrays (torch's names and shapes).

    Args:
        model: a :class:`torch.nn.Module` (gives names and shapes).
        vector: a flat vector to split instead of the model's current values (e.g. a flow's
            ``final_state``); ``None`` for the model's own parameters.

    Returns:
        ``{name: array}`` in the documented order (dicts keep insertion order).
    """
    torch = require_torch()
    layout = param_layout(model)
    if vector is None:
        v = flat_params(model)
    else:
        v = torch.as_tensor(vector).detach().reshape(-1)
        if v.numel() != layout[-1].stop:
            raise EosInputError(f"the flat vector has {v.numel()} entries, the model has {layout[-1].stop}")
    arr = v.to(device="cpu", dtype=torch.float64).numpy()
    return {s.name: arr[s.offset : s.stop].reshape(s.shape).copy() for s in layout}


def load_params_dict(model: Any, arrays: Mapping[str, Any], *, strict: bool = True) -> Any:
    """Load named arrays (e.g. weights from another framework) into ``model`` (in place).

    Args:
        model: a :class:`torch.nn.Module`.
        arrays: ``{parameter name: array}`` with torch's names and shapes.
        strict: every trainable parameter must be given (default); with ``False`` the
            missing ones keep their values.

    Returns:
        ``model``.

    Raises:
        EosInputError: an unknown name (with the known ones), a missing name when strict,
            a shape that differs (a transposed weight is named as such), or non-finite values.
    """
    torch = require_torch()
    if not isinstance(arrays, Mapping):
        raise EosInputError(f"arrays must be a dict of name -> array, got {type(arrays).__name__}")
    named = dict(_trainable(model))
    unknown = [k for k in arrays if k not in named]
    if unknown:
        raise EosInputError(f"unknown parameter name(s) {unknown}; the model has {list(named)}")
    missing = [k for k in named if k not in arrays]
    if strict and missing:
        raise EosInputError(f"missing parameter(s) {missing} (pass strict=False to keep their values)")
    values: dict[str, np.ndarray] = {}
    for k, a in arrays.items():
        try:
            x = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
        except (TypeError, ValueError):
            raise EosInputError(f"parameter {k}: not an array of numbers") from None
        shape = tuple(named[k].shape)
        if x.shape != shape:
            hint = " (it is the transpose: torch stores a linear weight as (out, in))" if x.T.shape == shape else ""
            raise EosInputError(f"parameter {k}: shape {x.shape} given, the model's is {shape}{hint}")
        if not np.all(np.isfinite(x)):
            raise EosInputError(f"parameter {k}: non-finite values")
        values[k] = x
    with torch.no_grad():
        for k, x in values.items():
            p = named[k]
            p.copy_(torch.from_numpy(x).to(device=p.device, dtype=p.dtype))
    return model
