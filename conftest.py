"""Root pytest configuration: doctests of modules whose optional dependency is missing are skipped."""

from __future__ import annotations

import importlib.util

collect_ignore_glob: list[str] = []
if importlib.util.find_spec("torch") is None:
    collect_ignore_glob.append("eostheory/torch/*")
