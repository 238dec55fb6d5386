"""``asrkit new-plugin`` writes a package that passes its own tests; it and the example build wheels twine accepts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from asrkit.cli import main

ROOT = Path(__file__).resolve().parent.parent


def python(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )


def wheel_passes_twine_check(project: Path, out: Path) -> None:
    built = python("-m", "build", "--wheel", "--sdist", "--no-isolation", "--outdir", str(out), str(project), cwd=out)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    files = sorted(str(p) for p in out.iterdir() if p.suffix in (".whl", ".gz"))
    assert len(files) == 2, files
    checked = python("-m", "twine", "check", "--strict", *files, cwd=out)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_new_plugin_refuses_a_bad_name_and_an_existing_folder(tmp_path: Path) -> None:
    bad = CliRunner().invoke(main, ["new-plugin", "My-Plugin", "--dir", str(tmp_path)])
    assert bad.exit_code == 1 and "'My-Plugin' is not a plugin name" in bad.output
    assert CliRunner().invoke(main, ["new-plugin", "gain", "--dir", str(tmp_path)]).exit_code == 0
    again = CliRunner().invoke(main, ["new-plugin", "gain", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "already exists" in again.output


@pytest.mark.slow
def test_the_generated_plugin_passes_its_tests_and_builds_a_wheel_twine_accepts(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new-plugin", "room_gain", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    project = tmp_path / "asrkit-room-gain"
    tested = python(
        "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=project, PYTHONPATH=str(project / "src")
    )
    assert tested.returncode == 0 and "2 passed" in tested.stdout, tested.stdout + tested.stderr
    (tmp_path / "dist").mkdir()
    wheel_passes_twine_check(project, tmp_path / "dist")


@pytest.mark.slow
def test_the_example_plugin_builds_a_wheel_twine_accepts(tmp_path: Path) -> None:
    project = tmp_path / "example"
    shutil.copytree(
        ROOT / "examples" / "asrkit-plugin-example", project, ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    (tmp_path / "dist").mkdir()
    wheel_passes_twine_check(project, tmp_path / "dist")
