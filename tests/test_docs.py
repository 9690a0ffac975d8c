"""The documentation stands alone: no pointer to notes users do not have, and the site builds.

The scan covers what a user reads (the docs, docstrings and comments of the package, the
worked examples, the benchmarks, the README); the site is built with ``mkdocs build --strict``,
which fails on a page missing from the navigation, a broken link or anchor, or a missing image.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: (file or folder under the repository root, file suffixes scanned inside a folder)
SCANNED = [
    ("docs", (".md", ".py", ".js")),
    ("eostheory", (".py",)),
    ("worked_examples", (".py",)),
    ("benchmarks", (".py", ".md")),
    ("README.md", ()),
    ("mkdocs.yml", ()),
    ("tests", (".py",)),
]

#: (what is forbidden, regex, texts it must catch, texts it must leave alone)
FORBIDDEN = [
    (
        "THEORY.md",
        r"(?<![A-Za-z0-9_])THEORY(?![A-Za-z0-9_])",
        ["see THEORY.md §4", "(THEORY §5)", "THEORY's full extent", "THEORY.md"],
        ["EOSTHEORY_CACHE_DIR", "$EOSTHEORY_DISABLE_NUMBA", "the theory page", "THEORY_TABLE"],
    ),
    (
        "DESIGN.md",
        r"(?<![A-Za-z0-9_])DESIGN\.md",
        ["as in DESIGN.md", "(DESIGN.md)"],
        ["a design decision", "docs/architecture.md"],
    ),
]

#: the figures the pages embed, each made by ``docs/make_figures.py``
FIGURES = ["gd_selfstab", "spectral_radius", "reduced_map", "central_selfstab", "rod_quartic", "edge_quartic"]
MAX_FIGURE_BYTES = 200_000


def _files(entry: str, suffixes: tuple[str, ...]) -> list[Path]:
    path = ROOT / entry
    if path.is_file():
        return [path]
    here = Path(__file__).resolve()  # this file names the forbidden strings on purpose
    return sorted(
        p for p in path.rglob("*") if p.suffix in suffixes and "__pycache__" not in p.parts and p.resolve() != here
    )


@pytest.mark.parametrize(("name", "pattern", "hits", "misses"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_forbidden_pattern_is_not_vacuous(name: str, pattern: str, hits: list[str], misses: list[str]) -> None:
    rx = re.compile(pattern)
    assert [t for t in hits if not rx.search(t)] == [], f"the {name} pattern misses a reference"
    assert [t for t in misses if rx.search(t)] == [], f"the {name} pattern flags an innocent text"


@pytest.mark.parametrize(("entry", "suffixes"), SCANNED, ids=[s[0] for s in SCANNED])
@pytest.mark.parametrize(("name", "pattern"), [f[:2] for f in FORBIDDEN], ids=[f[0] for f in FORBIDDEN])
def test_no_reference_to_internal_notes(entry: str, suffixes: tuple[str, ...], name: str, pattern: str) -> None:
    files = _files(entry, suffixes)
    assert files, f"nothing to scan under {entry}: the list of scanned paths is stale"
    rx = re.compile(pattern)
    found = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in files
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if rx.search(line)
    ]
    assert found == [], f"{len(found)} reference(s) to {name}, a file users do not have:\n" + "\n".join(found)


@pytest.mark.parametrize("name", FIGURES)
def test_figures_are_committed_small_and_embedded(name: str) -> None:
    png = ROOT / "docs" / "figures" / f"{name}.png"
    assert png.is_file(), f"{png.relative_to(ROOT)} missing: run python docs/make_figures.py {name}"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size <= MAX_FIGURE_BYTES
    pages = [p.name for p in (ROOT / "docs").glob("*.md") if f"figures/{name}.png" in p.read_text(encoding="utf-8")]
    assert pages, f"no page embeds figures/{name}.png"
    script = (ROOT / "docs" / "make_figures.py").read_text(encoding="utf-8")
    assert f'"{name}"' in script, f"{name}.png is not made by docs/make_figures.py"


def _mkdocs_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("mkdocs", "material", "pymdownx"))


needs_mkdocs = pytest.mark.skipif(
    not _mkdocs_available(), reason="the docs extra is not installed (pip install -e '.[docs]')"
)


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@needs_mkdocs
def test_site_builds_strict_with_every_page_and_rendered_maths(tmp_path: Path) -> None:
    r = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING" not in r.stderr
    pages = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
    built = [p for p in pages if (tmp_path / "site" / ("" if p == "index" else p) / "index.html").is_file()]
    assert built == pages
    theory = (tmp_path / "site" / "theory" / "index.html").read_text(encoding="utf-8")
    assert theory.count('class="arithmatex"') > 50  # the maths is handed to MathJax, not left as text
    for name in FIGURES:
        assert (tmp_path / "site" / "figures" / f"{name}.png").is_file()
    assert not (tmp_path / "site" / "make_figures.py").exists()


#: (what is broken, file, text replaced, replacement, what mkdocs must say)
BROKEN = [
    ("anchor", "flows.md", "theory.md#rod-flow", "theory.md#no-such-anchor", "no-such-anchor"),
    ("page link", "index.md", "(theory.md)", "(no-such-page.md)", "no-such-page.md"),
    ("image", "stability.md", "figures/spectral_radius.png", "figures/missing.png", "missing.png"),
]


@needs_mkdocs
@pytest.mark.parametrize(("what", "page", "old", "new", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_strict_build_refuses_a_broken_reference(
    tmp_path: Path, what: str, page: str, old: str, new: str, message: str
) -> None:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    path = tmp_path / "docs" / page
    text = path.read_text(encoding="utf-8")
    assert old in text, f"the {what} to break is gone from {page}: update this table"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    r = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert r.returncode != 0
    assert message in r.stdout + r.stderr
