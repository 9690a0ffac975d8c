"""Shared test configuration: headless matplotlib, no stray run directories."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
