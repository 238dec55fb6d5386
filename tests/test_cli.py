"""The CLI through real subprocesses: list-plugins, show, recipe validate, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from asrkit.cli.plugins import component_yaml
from asrkit.config import build_config
from asrkit.registry import load_registry


def asrkit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "asrkit", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def test_list_plugins_json_lists_every_builtin_component():
    result = asrkit("list-plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    components = [r for r in rows if r["kind"]]
    assert components
    for row in components:
        assert {"kind", "name", "plugin", "package", "version", "description"} <= row.keys()
    found = {(r["kind"], r["name"]) for r in components}
    registry = load_registry()
    assert found == {(c.kind, c.name) for c in registry.components()}
    assert [r for r in rows if r["error"]] == [], "a built-in plugin is broken"


def test_list_plugins_table_and_kind_filter():
    result = asrkit("list-plugins", "--kind", "encoder")
    assert result.returncode == 0, result.stderr
    assert "rescnn_bigru" in result.stdout and "log_mel" not in result.stdout
    assert "asrkit-plugin" in result.stdout  # how to find more


@pytest.mark.parametrize("columns", [80, 140])
def test_list_plugins_table_fits_the_terminal(columns: int) -> None:
    result = asrkit("list-plugins", env={**os.environ, "COLUMNS": str(columns)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= columns
    header = next(line for line in lines if line.strip().startswith("Kind"))
    assert ("Plugin" in header) == (columns >= 120)  # the entry point's name needs room; --json always has it
    assert "rescnn_bigru" in result.stdout and "0.2.0" in result.stdout


def test_list_plugins_unknown_kind_is_one_line():
    result = asrkit("list-plugins", "--kind", "encodr")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "did you mean 'encoders'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["encoders", "features", "tokenizers", "decoders", "augmenters", "loggers"])
def test_show_prints_yaml_that_pastes_into_a_recipe(kind):
    registry = load_registry()
    for info in registry.components(kind):
        text = component_yaml(info)
        node = yaml.safe_load(text)
        assert node["name"] == info.name
        if "???" not in text:
            params = {k: v for k, v in node.items() if k != "name"}
            assert build_config(info.cls.Config, params, info.name) == info.cls.Config()


def test_show_through_the_cli():
    result = asrkit("show", "encoder", "rescnn_bigru")
    assert result.returncode == 0, result.stderr
    node = yaml.safe_load(result.stdout)
    assert node["name"] == "rescnn_bigru" and node["rnn_dim"] == 512
    assert "# int" in result.stdout


def test_show_unknown_component():
    result = asrkit("show", "encoder", "rescnn")
    assert result.returncode == 1
    assert "did you mean 'rescnn_bigru'" in result.stderr and "Traceback" not in result.stderr


def test_recipe_validate_prints_the_resolved_recipe(repo_root):
    result = asrkit("recipe", "validate", str(repo_root / "recipes" / "mini.yaml"), "train.epochs=1")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["train"]["epochs"] == 1 and resolved["encoder"]["name"] == "rescnn_bigru"


def test_recipe_validate_fails_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("encoder: {name: rescnn_bigru, rnn_dim: 'wide'}\n")
    result = asrkit("recipe", "validate", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith("error: encoder.rnn_dim: expected int, got 'wide' (str)")
    assert result.stderr.strip().count("\n") == 0


def test_version():
    result = asrkit("--version")
    assert result.returncode == 0 and "asrkit, version" in result.stdout
