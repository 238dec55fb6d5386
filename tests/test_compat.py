"""The torch/torchaudio pair: the real extension loads, and a broken pair stops every command in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from asrkit import compat
from asrkit.cli import main


def test_the_installed_pair_loads_and_runs_the_compiled_extension():
    """Fails loudly in CI when a new release breaks the pinned pair (forced_align runs in C++)."""
    import torchaudio
    import torchaudio._extension
    import torchaudio.functional

    assert torchaudio._extension._IS_TORCHAUDIO_EXT_AVAILABLE
    log_probs = torch.tensor([[[-0.1, -3.0, -3.0], [-3.0, -0.1, -3.0], [-3.0, -3.0, -0.1]]])
    path, _ = torchaudio.functional.forced_align(log_probs, torch.tensor([[1, 2]], dtype=torch.int32), blank=0)
    assert path.tolist() == [[0, 1, 2]]
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, n_mels=8)(torch.ones(1, 1600))
    assert mel.shape == (1, 8, 9)
    assert compat.check_torch_pair().problem is None


def test_the_repair_command_uses_the_exact_pins_of_pyproject(repo_root):
    text = (repo_root / "pyproject.toml").read_text()
    pins = compat.pinned_requirements()
    for name in compat.PAIR:
        assert f'"{pins[name]}"' in text
        assert pins[name].startswith(f"{name}==") and pins[name].count(".") == 2  # ==X.Y.Z, never a wildcard
    assert compat.repair_command() == f"pip install --force-reinstall '{pins['torch']}' '{pins['torchaudio']}'"


def test_a_missing_torchaudio_is_named(monkeypatch):
    real = compat.installed_version
    monkeypatch.setattr(compat, "installed_version", lambda name: None if name == "torchaudio" else real(name))
    problem = compat.check_torch_pair().problem
    assert problem.startswith(f"torchaudio is not installed (torch {real('torch')} and torchaudio (not installed))")
    assert problem.endswith(compat.repair_command())


@pytest.fixture
def broken_pair(tmp_path: Path) -> dict[str, str]:
    """An environment whose torchaudio 2.11.1 fails to load its extension, as it did against torch 2.11.0."""
    package = tmp_path / "torchaudio"
    package.mkdir()
    (package / "__init__.py").write_text(
        "raise OSError('/x/libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace')\n"
    )
    metadata = tmp_path / "torchaudio-2.11.1.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: torchaudio\nVersion: 2.11.1\n")
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["list-plugins"], ["run", "recipes/mini.yaml"]])
def test_a_broken_pair_stops_every_command_in_one_line(broken_pair, args, repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "asrkit", *args], env=broken_pair, cwd=repo_root, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    torch_version = compat.installed_version("torch")
    assert lines[0].startswith(f"error: torch {torch_version} and torchaudio 2.11.1 do not load together (OSError: ")
    assert "undefined symbol" in lines[0]
    assert lines[0].endswith(f"repair with: {compat.repair_command()}")


def test_doctor_reports_a_broken_pair_instead_of_stopping(broken_pair):
    result = subprocess.run(
        [sys.executable, "-m", "asrkit", "doctor", "--json"], env=broken_pair, capture_output=True, text=True
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["torchaudio"] == "2.11.1" and report["torch_pair_ok"] is False
    assert len(report["problems"]) == 1 and "and torchaudio 2.11.1 do not load together" in report["problems"][0]
    assert "plugins" not in report  # nothing about plugins can be known without torchaudio


def test_doctor_json_describes_this_environment():
    result = CliRunner().invoke(main, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["torch"] == torch.__version__.split("+")[0] and report["torch_pair_ok"] is True
    assert report["python"] == ".".join(map(str, sys.version_info[:3]))
    assert report["devices"][0] == "cpu" and report["threads"] == torch.get_num_threads()
    assert set(report["extras"]) == set(compat_extras())
    builtins = {p["plugin"]: p for p in report["plugins"]["loaded"]}
    assert builtins["asrkit_encoders"]["components"] >= 1
    assert report["plugins"]["broken"] == [] and report["problems"] == []


def compat_extras() -> list[str]:
    from asrkit.doctor import OPTIONAL_MODULES

    return list(OPTIONAL_MODULES)


def test_doctor_names_a_plugin_that_registers_nothing(monkeypatch):
    import types

    from asrkit import hookimpl
    from asrkit.plugins import EXTRA_PLUGINS, PluginSource

    empty = types.ModuleType("empty_plugin")
    empty.asrkit_register_encoders = hookimpl(lambda: [])
    monkeypatch.setattr(
        "asrkit.plugins.EXTRA_PLUGINS", [*EXTRA_PLUGINS, ("empty", empty, PluginSource("empty-pkg", "1"))]
    )
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "plugin 'empty' registers no component" in result.output


def test_troubleshooting_gives_the_real_repair_command_and_every_other_requirement(repo_root):
    import tomllib

    page = (repo_root / "docs" / "troubleshooting.md").read_text()
    assert f"\n{compat.repair_command()}\n" in page
    assert f"repair with: {compat.repair_command()}\n" in page
    dependencies = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["dependencies"]
    others = " ".join(f"'{d}'" for d in dependencies if d.split("=")[0] not in compat.PAIR)
    assert f"\npip install {others}\n" in page
