"""Device and dtype resolution for the torch backend (the only module that checks torch is there)."""

from __future__ import annotations

from typing import Any

from eostheory._errors import EosInputError

__all__ = ["TORCH_MISSING", "require_torch", "resolve_device", "resolve_dtype"]

#: The message shown when the torch extra is not installed.
TORCH_MISSING = "this needs the torch extra: pip install 'eostheory[torch]'"


def require_torch() -> Any:
    """Import and return :mod:`torch`, or raise :class:`ImportError` with the install command."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(TORCH_MISSING) from exc
    return torch


def resolve_device(device: Any = "auto") -> Any:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a :class:`torch.device` into a device.

    ``"auto"`` picks CUDA when :func:`torch.cuda.is_available` says so and the CPU
    otherwise; nothing in eostheory assumes CUDA.

    Raises:
        EosInputError: an unknown device name, or CUDA asked for but not available.
    """
    torch = require_torch()
    if isinstance(device, torch.device):
        dev = device
    else:
        name = "auto" if device is None else str(device).strip().lower()
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(name)
        except (RuntimeError, ValueError):
            raise EosInputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EosInputError(f"device {device!r} asked for, but CUDA is not available here; use --device auto or cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise EosInputError(f"device type {dev.type!r} is not supported; use auto, cpu or cuda")
    return dev


_DTYPES = {"float32": "float32", "float": "float32", "fp32": "float32", "float64": "float64", "double": "float64"}


def resolve_dtype(dtype: Any = "float32") -> Any:
    """Turn ``"float32"``/``"float64"`` (or a torch floating dtype) into a :class:`torch.dtype`.

    Raises:
        EosInputError: anything but float32 or float64.
    """
    torch = require_torch()
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise EosInputError(f"dtype {dtype} is not supported; use float32 or float64")
        return dtype
    name = _DTYPES.get(str(dtype).strip().lower().replace("torch.", ""))
    if name is None:
        raise EosInputError(f"unknown dtype {dtype!r}; use float32 or float64")
    return getattr(torch, name)
