"""The example third-party package, installed for real with pip, is discovered through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install`` the example package into its own folder (not the test environment)."""
    repo = Path(__file__).resolve().parent.parent
    target = tmp_path_factory.mktemp("example-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(repo / "examples" / "asrkit-plugin-example")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def run_with(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(site), **env}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=environ, timeout=120)


def components(result: subprocess.CompletedProcess) -> dict[tuple[str, str], dict]:
    assert result.returncode == 0, result.stderr
    return {(r["kind"], r["name"]): r for r in json.loads(result.stdout) if r["kind"]}


def test_installed_plugin_appears_in_list_plugins(example_site):
    found = components(run_with(example_site, "-m", "asrkit", "list-plugins", "--json"))
    row = found[("augmenters", "random_gain")]
    assert (row["plugin"], row["package"], row["version"]) == ("example", "asrkit-plugin-example", "0.1.0")
    assert row["description"].startswith("Scale each training utterance")


def test_autoload_off_and_allowlist_hide_it(example_site):
    off = components(
        run_with(example_site, "-m", "asrkit", "list-plugins", "--json", ASRKIT_DISABLE_PLUGIN_AUTOLOAD="1")
    )
    assert ("augmenters", "random_gain") not in off and ("encoders", "rescnn_bigru") in off
    allowed = components(run_with(example_site, "-m", "asrkit", "list-plugins", "--json", ASRKIT_LOAD_PLUGINS="other"))
    assert ("augmenters", "random_gain") not in allowed
    named = components(
        run_with(example_site, "-m", "asrkit", "list-plugins", "--json", ASRKIT_LOAD_PLUGINS="asrkit-plugin-example")
    )
    assert ("augmenters", "random_gain") in named


def test_recipe_uses_the_plugin(example_site, tmp_path, repo_root):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text((repo_root / "recipes" / "mini.yaml").read_text() + "\n" + "requires: [asrkit-plugin-example]\n")
    result = run_with(
        example_site, "-m", "asrkit", "recipe", "validate", str(recipe),
        "augmenters=[{name: random_gain, min_db: -3.0}]",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "random_gain" in result.stdout and "min_db: -3.0" in result.stdout


def test_recipe_requiring_it_fails_clearly_without_it(tmp_path, repo_root):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text((repo_root / "recipes" / "mini.yaml").read_text() + "\nrequires: [asrkit-plugin-example]\n")
    result = subprocess.run(
        [sys.executable, "-m", "asrkit", "recipe", "validate", str(recipe)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "install it with: pip install 'asrkit-plugin-example'" in result.stderr


def test_the_example_passes_its_own_contract_tests(example_site, repo_root):
    tests = repo_root / "examples" / "asrkit-plugin-example" / "tests"
    result = run_with(example_site, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_check_plugin_takes_an_installed_distributions_name(example_site):
    code = "from asrkit.testing import check_plugin; print(check_plugin('asrkit-plugin-example').components)"
    result = run_with(example_site, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'augmenters': ['random_gain']}"
