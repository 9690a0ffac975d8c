"""Device, dtype and CPU-thread settings for the torch backend (the only module that checks torch is there).

CPU threads: ``import eostheory.torch`` sets torch's intra-op thread count to
:data:`DEFAULT_CPU_THREADS` (one) unless the user has chosen one — the environment variable
``EOSTHEORY_TORCH_THREADS`` (a number, or ``torch`` to keep torch's own default),
``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` (torch reads them itself), or a
:func:`torch.set_num_threads` call made before the import that differs from torch's default.
A call after the import always wins.  The default comes from ``benchmarks/bench_threads.py``:
on a shared 2-core machine, Hessian-vector products of the digits MLP (13 130 parameters)
took 12.2 ms with one thread and 83.4 ms with two at a load of 1.3 (6.8× slower), 41.6 ms
and 699 ms at a load of 5 (17× slower); the best case seen for two threads was 1.25× faster.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from eostheory._errors import EosInputError

__all__ = [
    "DEFAULT_CPU_THREADS",
    "THREADS_ENV",
    "TORCH_MISSING",
    "apply_default_threads",
    "require_torch",
    "resolve_device",
    "resolve_dtype",
    "thread_setting",
]

#: torch's CPU thread count set by ``import eostheory.torch`` when the user chose none.
DEFAULT_CPU_THREADS = 1
#: The environment variable that overrides it (a positive integer, or ``torch``).
THREADS_ENV = "EOSTHEORY_TORCH_THREADS"

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


def _torch_default_candidates() -> set[int]:
    """The thread counts torch may pick by itself here (physical cores, CPUs, CPUs available)."""
    out = {os.cpu_count() or 1}
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return out
    out.add(len(cpus))
    cores_all: set[tuple[str, str]] = set()
    cores_mine: set[tuple[str, str]] = set()
    base = "/sys/devices/system/cpu"
    try:
        names = [d for d in os.listdir(base) if d.startswith("cpu") and d[3:].isdigit()]
        for d in names:
            with open(f"{base}/{d}/topology/core_id") as f1, open(f"{base}/{d}/topology/physical_package_id") as f2:
                key = (f2.read().strip(), f1.read().strip())
            cores_all.add(key)
            if int(d[3:]) in cpus:
                cores_mine.add(key)
    except OSError:
        return out
    out |= {len(c) for c in (cores_all, cores_mine) if c}
    return out


_DECISION: tuple[int | None, str] | None = None


def thread_setting() -> tuple[int | None, str]:
    """The CPU thread count ``import eostheory.torch`` applied (or would apply), and why.

    Returns:
        ``(threads, reason)``; ``threads`` is ``None`` when torch's own setting was kept.
    """
    return _DECISION if _DECISION is not None else _decide()


def _decide() -> tuple[int | None, str]:
    torch = require_torch()
    raw = os.environ.get(THREADS_ENV, "").strip().lower()
    if raw:
        if raw in ("torch", "auto", "default"):
            return None, f"{THREADS_ENV}={raw}: torch's own default"
        if raw.isdigit() and int(raw) >= 1:
            return int(raw), f"{THREADS_ENV}={raw}"
        warnings.warn(
            f"{THREADS_ENV}={raw!r} is not a positive integer or 'torch'; using {DEFAULT_CPU_THREADS} thread(s)",
            RuntimeWarning,
            stacklevel=4,
        )
        return DEFAULT_CPU_THREADS, f"default (bad {THREADS_ENV} ignored)"
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var, "").strip():
            return None, f"{var} is set: torch follows it"
    current = torch.get_num_threads()
    if current not in _torch_default_candidates():
        return None, f"torch.set_num_threads({current}) was called before the import"
    return DEFAULT_CPU_THREADS, "default (benchmarks/bench_threads.py)"


def apply_default_threads() -> int:
    """Apply :func:`thread_setting` (done once by ``import eostheory.torch``).

    Returns:
        torch's intra-op thread count afterwards.
    """
    global _DECISION
    torch = require_torch()
    _DECISION = _decide()
    n = _DECISION[0]
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return int(torch.get_num_threads())
