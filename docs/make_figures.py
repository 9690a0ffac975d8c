"""Regenerate the figures embedded in the documentation (``docs/figures/*.png``).

Each figure is drawn by one of the worked examples, run in a temporary directory; the PNG it
writes is copied to ``docs/figures/`` under a stable name.  Run from the repository root::

    MPLBACKEND=Agg python docs/make_figures.py                 # every figure (about 3 minutes on 2 cores)
    MPLBACKEND=Agg python docs/make_figures.py rod_quartic     # only the figures named

A figure over the size limit (200 kB) is an error: the images live in the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES_DIR = ROOT / "docs" / "figures"
MAX_BYTES = 200_000

#: (figure name, worked example, its arguments, the PNG it writes relative to --out)
FIGURES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("gd_selfstab", "gd_edge_of_stability.py", (), "selfstab_gd_eta0.5.png"),
    ("spectral_radius", "thresholds.py", ("--quick",), "spectral_radius.png"),
    ("reduced_map", "flow_selfstab.py", (), "canonical/reduced_map.png"),
    ("central_selfstab", "flow_central.py", ("--quick",), "selfstab/compare.png"),
    ("rod_quartic", "flow_rod.py", (), "etaS3.2/compare.png"),
    ("edge_quartic", "flow_edge.py", (), "quartic/compare.png"),
)


def make(names: set[str] | None = None) -> list[Path]:
    """Run the worked examples and copy their figures into ``docs/figures``.

    Args:
        names: the figure names to make (all when ``None``).

    Returns:
        The paths written.

    Raises:
        SystemExit: an unknown figure name, a worked example that fails, or a figure over
            ``MAX_BYTES``.
    """
    known = {name for name, *_ in FIGURES}
    if names and names - known:
        raise SystemExit(f"unknown figure(s) {sorted(names - known)}; known: {sorted(known)}")
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    runs: dict[tuple[str, tuple[str, ...]], Path] = {}
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, args, produced in FIGURES:
            if names and name not in names:
                continue
            key = (script, args)
            if key not in runs:
                out = Path(tmp) / f"run{len(runs)}"
                cmd = [sys.executable, str(ROOT / "worked_examples" / script), *args, "--out", str(out)]
                print("running", " ".join([script, *args]), flush=True)
                subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
                runs[key] = out
            src = runs[key] / produced
            size = src.stat().st_size
            if size > MAX_BYTES:
                raise SystemExit(f"{name}: {size} bytes is over the {MAX_BYTES}-byte limit for committed figures")
            dst = FIGURES_DIR / f"{name}.png"
            shutil.copyfile(src, dst)
            print(f"  {dst.relative_to(ROOT)} ({size / 1000:.0f} kB)")
            written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="figures to make (default: all)")
    args = ap.parse_args(argv)
    make(set(args.names) or None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
