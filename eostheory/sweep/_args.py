"""The arguments of a swept command: names, base configuration, one point's command line and key.

A sweep runs one of the commands ``run``, ``compare``, ``thresholds`` and ``train``, whose
arguments are read from the command's own parser (its module's ``add_arguments``), so every
argument the command takes can be an axis without a list kept here.  A point is the base
configuration with some arguments replaced; it becomes a canonical command line (each
option as ``--name=value``, in the parser's order, defaults left out) which is hashed into
the point's key, stored with its results and parsed again, by the same parser, where the
point runs.  Values are always text handed to that parser: nothing is evaluated here.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import importlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eostheory._errors import EosInputError
from eostheory._names import check_name, suggest

__all__ = [
    "ASSIGNMENT_OPTIONS",
    "COMMANDS",
    "MANAGED",
    "CommandSpec",
    "Point",
    "command_spec",
    "value_text",
]

#: the commands a sweep can run
COMMANDS = ("run", "compare", "thresholds", "train")

#: arguments the sweep sets itself for every point (never axes, never in the base)
MANAGED = ("help", "json", "out", "resume", "no_progress")

#: options whose value is a list ``NAME=VALUE,...``: the axis ``OPTION.NAME`` sets one entry
ASSIGNMENT_OPTIONS = ("set", "verify", "data_opt")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class _RaisingParser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`EosInputError` (one line) instead of an exit."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise EosInputError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        raise EosInputError((message or f"{self.prog}: exited with status {status}").strip())


def value_text(value: Any) -> str:
    """The command-line text of one value given from Python.

    Args:
        value: a string (kept as is), a bool, an int, a float (shortest round-trip text),
            or a list/tuple of those (joined with commas, as ``--x0 0.01,1.5``).

    Returns:
        The text handed to the command's parser.

    Raises:
        EosInputError: a non-finite float, or a value of another type.

    Examples:
        >>> value_text(0.45), value_text([0.01, 1.5]), value_text(True), value_text(20000)
        ('0.45', '0.01,1.5', 'true', '20000')
    """
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EosInputError(f"a swept value must be finite, got {value!r}")
        return repr(value)
    if isinstance(value, list | tuple):
        return ",".join(value_text(v) for v in value)
    raise EosInputError(
        f"a swept value must be text, a number, a bool or a list of numbers, got {type(value).__name__}"
    )


def _canonical(name: str) -> str:
    return name.strip().lstrip("-").replace("-", "_")


def _option_string(action: argparse.Action) -> str:
    longs = [s for s in action.option_strings if s.startswith("--")]
    return (longs or action.option_strings)[0]


def _split_pairs(text: str | None) -> dict[str, str]:
    """``"S=3,Q=1"`` as ordered text pairs (the values are checked by the command itself)."""
    out: dict[str, str] = {}
    if not text:
        return out
    for part in str(text).split(","):
        if "=" not in part:
            out[part.strip()] = ""  # left for the command to refuse, with its own message
            continue
        k, v = (s.strip() for s in part.split("=", 1))
        out[k] = v
    return out


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its axis values, canonical command line and key.

    Attributes:
        values: axis name -> the text given to the command.
        argv: the command's canonical arguments (without ``--json``/``--out``).
        key: 16 hex digits of the SHA-256 of the command and ``argv``.
    """

    values: dict[str, str]
    argv: tuple[str, ...]
    key: str


class CommandSpec:
    """The arguments of one command, read from its own parser.

    Args:
        name: ``run``, ``compare``, ``thresholds`` or ``train``.

    Raises:
        EosInputError: ``name`` is not a command a sweep can run.
    """

    def __init__(self, name: str) -> None:
        self.name = check_name("command to sweep", name, COMMANDS)
        self.module = importlib.import_module(f"eostheory.cli._cmd_{self.name}")
        self.parser = self._build()
        self._relaxed = self._build()
        for action in self._relaxed._actions:
            action.required = False
        self.actions: list[argparse.Action] = [
            a for a in self.parser._actions if not isinstance(a, argparse._HelpAction | argparse._VersionAction)
        ]
        self._by_name: dict[str, argparse.Action] = {}
        for action in self.actions:
            for alias in [action.dest, action.dest.rstrip("_"), *action.option_strings]:
                self._by_name.setdefault(_canonical(alias), action)

    def _build(self) -> _RaisingParser:
        p = _RaisingParser(prog=f"eostheory {self.name}", add_help=False)
        self.module.add_arguments(p)
        return p

    @property
    def names(self) -> list[str]:
        """The argument names that can be swept (canonical: ``batch_size``, ``set.NAME`` …)."""
        out = []
        for a in self.actions:
            name = self.canonical_name(a)
            if name in MANAGED:
                continue
            out.append(f"{name}.NAME" if name in ASSIGNMENT_OPTIONS else name)
        return out

    @staticmethod
    def canonical_name(action: argparse.Action) -> str:
        """An action's canonical name: its long option without dashes (``-`` as ``_``), or its dest."""
        if action.option_strings:
            return _canonical(_option_string(action))
        return action.dest

    def resolve(self, name: str, *, whole: bool = False) -> tuple[str, argparse.Action, str | None]:
        """The canonical name, parser action and (for ``set.S``) entry of a swept argument.

        Args:
            name: as typed: ``eta``, ``--eta``, ``batch-size``, ``set.S``, ``verify.beta``.
            whole: accept an assignment option as a whole (``set``: a base value
                ``"S=1,Q=1"``), which an axis may not be.

        Returns:
            ``(canonical, action, key)``, ``key`` being the entry of an assignment option.

        Raises:
            EosInputError: an argument the command does not take (the nearest names are
                suggested), one the sweep sets itself, or ``OPTION.KEY`` on an option
                that is not a list of assignments.
        """
        text = str(name).strip()
        if not text:
            raise EosInputError("an axis has no name: write NAME=VALUES, e.g. --grid eta=0.1:0.5:9")
        head, dot, entry = text.partition(".")
        canon = _canonical(head)
        action = self._by_name.get(canon)
        if action is None:
            known = self.names
            hint = suggest(canon, [n.split(".")[0] for n in known])
            raise EosInputError(
                f"unknown argument {text!r} for eostheory {self.name}; {hint + ' ' if hint else ''}"
                f"its arguments: {', '.join(known)}"
            )
        canon = self.canonical_name(action)
        if canon in MANAGED:
            why = {
                "out": "each point writes its run directory under the sweep's --out DIR",
                "json": "each point's --json result is what the sweep stores",
                "resume": "a re-run skips the points already stored, and train points resume",
                "no_progress": "points never draw progress bars",
                "help": "",
            }[canon]
            raise EosInputError(
                f"--{canon.replace('_', '-')} is set by the sweep itself for every point ({why}): leave it out"
            )
        if dot:
            if canon not in ASSIGNMENT_OPTIONS:
                raise EosInputError(
                    f"{text!r}: only options that take NAME=VALUE lists ({', '.join(ASSIGNMENT_OPTIONS)}) "
                    f"have entries; write {canon}=VALUES"
                )
            if not entry.isidentifier():
                raise EosInputError(f"{text!r}: {entry!r} is not a name")
            return f"{canon}.{entry}", action, entry
        if canon in ASSIGNMENT_OPTIONS and not whole:
            raise EosInputError(
                f"{text!r}: sweep one entry of --{canon.replace('_', '-')} at a time, e.g. {canon}.NAME=1,2,3"
            )
        return canon, action, None

    def parse_base(self, base: Sequence[str] | Mapping[str, Any] | None) -> argparse.Namespace:
        """The base configuration, as the command's parser reads it (required arguments may be swept).

        Args:
            base: command-line tokens (``["--potential", "selfstab", "--steps", "20000"]``)
                or a mapping ``{"potential": "selfstab", "x0": [0.01, 1.5]}`` (names as
                :meth:`resolve` takes them, values as :func:`value_text` takes them).

        Returns:
            The parsed namespace.

        Raises:
            EosInputError: an option the command does not take, a bad choice, or an
                option the sweep sets itself.
        """
        tokens = list(self.tokens(base)) if isinstance(base, Mapping) else [str(t) for t in base or []]
        ns = self._relaxed.parse_args(tokens)
        for action in self.actions:
            name = self.canonical_name(action)
            if name in MANAGED and getattr(ns, action.dest, action.default) != action.default:
                self.resolve(name)  # raises: the sweep sets it for every point
        return ns

    def tokens(self, mapping: Mapping[str, Any]) -> list[str]:
        """Command-line tokens of a mapping of argument names to values."""
        out: list[str] = []
        positional: list[str] = []
        for name, value in mapping.items():
            canon, action, entry = self.resolve(name, whole=True)
            if entry is not None:
                out.append(f"{_option_string(action)}={entry}={value_text(value)}")
            elif not action.option_strings:
                positional.append(value_text(value))
            elif action.nargs == 0:
                if _flag(canon, value_text(value)):
                    out.append(_option_string(action))
            elif isinstance(action, argparse._AppendAction):
                lines = [value] if isinstance(value, str) else list(value)
                out.extend(f"{_option_string(action)}={value_text(v)}" for v in lines)
            else:
                out.append(f"{_option_string(action)}={value_text(value)}")
        return out + (["--", *positional] if positional else [])

    def point(self, base: argparse.Namespace, values: Mapping[str, str]) -> Point:
        """The point ``base`` with ``values`` (canonical axis name -> text) in place.

        Raises:
            EosInputError: a bad choice, a required argument missing, or a command line
                the command's parser refuses.
        """
        ns = copy.deepcopy(base)
        for name, text in values.items():
            canon, action, entry = self.resolve(name)
            if entry is not None:
                pairs = _split_pairs(getattr(ns, action.dest))
                pairs[entry] = text
                setattr(ns, action.dest, ",".join(f"{k}={v}" for k, v in pairs.items()))
            elif action.nargs == 0:
                on = _flag(canon, text)
                setattr(ns, action.dest, action.const if on else action.default)
            elif isinstance(action, argparse._AppendAction):
                setattr(ns, action.dest, [text])
            else:
                if action.choices is not None and text not in action.choices:
                    hint = suggest(text, [str(c) for c in action.choices])
                    raise EosInputError(
                        f"{canon}={text!r} is not a choice of eostheory {self.name}; {hint + ' ' if hint else ''}"
                        f"choices: {', '.join(map(str, action.choices))}"
                    )
                setattr(ns, action.dest, text)
        for action in self.parser._actions:
            if action.required and getattr(ns, action.dest, None) is None:
                name = self.canonical_name(action)
                raise EosInputError(
                    f"eostheory {self.name} needs --{name.replace('_', '-')}: give it with the command "
                    f"or sweep it (--grid {name}=...)"
                )
        argv = self.argv(ns)
        self.parser.parse_args(list(argv))  # the point runs exactly this: refuse it now, not on a worker
        digest = hashlib.sha256(json.dumps({"command": self.name, "argv": list(argv)}).encode()).hexdigest()
        return Point(values=dict(values), argv=argv, key=digest[:16])

    def argv(self, ns: argparse.Namespace) -> tuple[str, ...]:
        """The canonical command line of a namespace: ``--name=value`` in the parser's order, defaults left out."""
        out: list[str] = []
        positional: list[str] = []
        for action in self.actions:
            if self.canonical_name(action) in MANAGED:
                continue
            value = getattr(ns, action.dest, action.default)
            if value == action.default or value is None:
                continue
            if not action.option_strings:
                positional.extend([str(v) for v in value] if isinstance(value, list) else [str(value)])
            elif isinstance(action, argparse._CountAction):
                out.extend([_option_string(action)] * int(value))
            elif action.nargs == 0:
                if value == action.const:
                    out.append(_option_string(action))
            elif isinstance(action, argparse._AppendAction):
                out.extend(f"{_option_string(action)}={v}" for v in value)
            else:
                out.append(f"{_option_string(action)}={value}")
        if positional:
            out.extend(["--", *positional] if any(p.startswith("-") for p in positional) else positional)
        return tuple(out)

    def namespace(self, argv: Iterable[str]) -> argparse.Namespace:
        """``argv`` parsed by the command's parser (raising :class:`EosInputError`)."""
        return self.parser.parse_args(list(argv))


def _flag(name: str, text: str) -> bool:
    low = str(text).strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise EosInputError(f"{name} is a flag: its values are true or false, got {text!r}")


@functools.cache
def command_spec(name: str) -> CommandSpec:
    """The (cached) :class:`CommandSpec` of a command."""
    return CommandSpec(name)
