"""docs/reliability.md: every row names a test that exists, and every hardening test has a row."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "reliability.md"
TEST_REFERENCE = re.compile(r"`(tests/test_\w+\.py)::(test_\w+)`")
HARDENING_SUITES = (
    "tests/test_archive.py",
    "tests/test_hostile_recipes.py",
    "tests/test_hostile_manifests.py",
    "tests/test_bad_audio.py",
    "tests/test_resume_guard.py",
)


def functions_of(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def referenced() -> set[tuple[str, str]]:
    rows = [line for line in PAGE.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    return {pair for row in rows for pair in TEST_REFERENCE.findall(row.rsplit("|", 2)[-2])}


def test_every_row_names_tests_that_exist() -> None:
    pairs = referenced()
    assert len(pairs) >= 20
    missing = [f"{path}::{name}" for path, name in sorted(pairs) if name not in functions_of(path)]
    assert not missing


def test_every_hardening_test_has_a_row() -> None:
    pairs = referenced()
    undocumented = [
        f"{path}::{name}"
        for path in HARDENING_SUITES
        for name in functions_of(path) - {n for p, n in pairs if p == path}
    ]
    assert not undocumented, "add these to docs/reliability.md"
