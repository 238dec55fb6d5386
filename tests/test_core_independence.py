"""The core names no built-in component: every built-in can be left out or replaced by a plugin's own."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from asrkit import hookimpl
from asrkit.cli import main
from asrkit.config import param
from asrkit.interfaces import Decoder, Hypothesis, Logger, RunInfo
from asrkit.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "asrkit"

NOT_COMPONENTS = {
    ("asrkit/interfaces.py", "console"),  # RunInfo.extra["console"]: what the engine lends its loggers
    ("asrkit/engine/loggers.py", "console"),
    ("asrkit/cli/data.py", "manifest"),  # `asrkit data check MANIFEST`: a command-line argument
}
"""Strings that equal a built-in component's name but mean something else."""


def builtin_component_names() -> set[str]:
    registry = load_registry(autoload=False)
    return {info.name for info in registry.components() if info.package == "asrkit"}


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose may mention a component)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_no_core_module_imports_or_names_a_builtin_component() -> None:
    names = builtin_component_names()
    assert {"greedy", "char", "jsonl", "ctc", "librispeech", "manifest", "log_mel"} <= names
    offences = []
    for path in sorted(CORE.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        prose = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                modules = []
            offences += [f"{where}:{node.lineno} imports {m}" for m in modules if m.startswith("asrkit_plugins")]
            named = isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
            if named and id(node) not in prose and (where, node.value) not in NOT_COMPONENTS:
                offences.append(f"{where}:{node.lineno} names the built-in component '{node.value}'")
    assert not offences, "\n".join(offences)


class ShoutingDecoder(Decoder):
    """Best path, upper-cased: a decoder that is not asrkit's."""

    name = "shouting"

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Config, tokenizer) -> None:
        self.tokenizer = tokenizer

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor, frame_seconds: float | None = None):
        hypotheses = []
        for row, length in zip(log_probs.argmax(-1), lengths.tolist(), strict=True):
            ids = torch.unique_consecutive(row[:length]).tolist()
            text = self.tokenizer.decode([i for i in ids if i != self.tokenizer.blank_id])
            hypotheses.append(Hypothesis(text.upper(), words=() if frame_seconds is not None else None))
        return hypotheses


class ListLogger(Logger):
    """Keeps every report in a file of its own."""

    name = "listing"

    @dataclass(frozen=True)
    class Config:
        filename: str = param("listing.json", help="where the reports go, in the run directory")

    def __init__(self, config: Config, run: RunInfo) -> None:
        self.path = run.run_dir / config.filename
        self.reports: list[dict] = []

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        self.reports.append({"step": step, **metrics})

    def close(self) -> None:
        self.path.write_text(json.dumps(self.reports))


class OwnDecodingPlugin:
    @hookimpl
    def asrkit_register_decoders(self) -> list[type]:
        return [ShoutingDecoder]

    @hookimpl
    def asrkit_register_loggers(self) -> list[type]:
        return [ListLogger]


WITHOUT_DECODERS_AND_LOGGERS = (
    "asrkit_datasets,asrkit_features,asrkit_augmenters,asrkit_encoders,asrkit_objectives,asrkit_tokenizers,own"
)


@pytest.mark.slow
def test_training_runs_without_the_builtin_decoders_and_loggers(
    asrkit_register_plugin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asrkit_register_plugin(OwnDecodingPlugin(), name="own", package="own-package")
    monkeypatch.setenv("ASRKIT_LOAD_PLUGINS", WITHOUT_DECODERS_AND_LOGGERS)
    monkeypatch.chdir(ROOT)
    registry = load_registry()
    assert registry.names("decoders") == ["shouting"] and registry.names("loggers") == ["listing"]
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "run",
            "tests/fixtures/tiny_recipe.yaml",
            "--out",
            str(out),
            "--quiet",
            "decoder={name: shouting}",
            "loggers=[{name: listing}]",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert {r["decoder"] for r in results["test"]} == {"shouting"}  # validation fell back to the recipe's decoder
    assert (out / "metrics.jsonl").read_text().count("train/loss") >= 1  # the engine's own metrics file
    assert any("train/loss" in report for report in json.loads((out / "listing.json").read_text()))


def test_a_recipe_leaving_out_a_section_nobody_provides_says_what_is_missing(
    asrkit_register_plugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    asrkit_register_plugin(OwnDecodingPlugin(), name="own", package="own-package")
    monkeypatch.setenv("ASRKIT_LOAD_PLUGINS", "own")
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["recipe", "validate", "recipes/mini.yaml"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "objective: required section is missing" in lines[0] and "ASRKIT_LOAD_PLUGINS" in lines[0]


def test_the_allowlist_applies_to_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASRKIT_LOAD_PLUGINS", "asrkit_decoders")
    registry = load_registry()
    assert "greedy" in registry.names("decoders") and registry.names("encoders") == []
    monkeypatch.setenv("ASRKIT_LOAD_PLUGINS", "asrkit")  # the distribution: every built-in
    assert {"rescnn_bigru"} <= set(load_registry().names("encoders"))
