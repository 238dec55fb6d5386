"""The built-in loggers: console lines, the metrics.jsonl file, and a real offline Comet archive."""

from __future__ import annotations

import io
import json
import socket
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from asrkit.errors import PluginError
from asrkit.interfaces import RunInfo
from asrkit.testing import check_component
from asrkit_plugins.comet_logger import CometLogger, flatten
from asrkit_plugins.console_logger import ConsoleLogger, format_value
from asrkit_plugins.jsonl_logger import JsonlLogger

RECIPE = {
    "encoder": {"name": "rescnn_bigru", "hidden": 256},
    "loggers": [{"name": "console"}, {"name": "comet", "tags": ["a", "b"]}],
    "train": {"epochs": 3, "lr": 0.001},
}


@pytest.mark.parametrize("cls", [ConsoleLogger, JsonlLogger, CometLogger])
def test_builtin_loggers_pass_the_contract(cls: type, comet_offline: list[Any]) -> None:
    check_component("loggers", cls)


def test_the_kind_module_registers_all_three(asrkit_plugin_manager: Any) -> None:
    from asrkit.registry import Registry

    names = {info.name for info in Registry(asrkit_plugin_manager).components("loggers")}
    assert {"console", "jsonl", "comet"} <= names


# console


def console_logger(tmp_path: Path, **options: Any) -> tuple[ConsoleLogger, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    run = RunInfo(run_dir=tmp_path, recipe=RECIPE, extra={"console": console})
    return ConsoleLogger(ConsoleLogger.Config(**options), run=run), out


def test_console_prints_validation_reports_and_skips_step_reports(tmp_path: Path) -> None:
    logger, out = console_logger(tmp_path)
    logger.log_metrics({"train/loss": 1.23456, "train/lr": 3e-4}, step=10, epoch=1)
    assert out.getvalue() == ""
    logger.log_metrics({"valid/dev/wer": 0.123456, "valid/dev/loss": 0.5}, step=20, epoch=2)
    assert out.getvalue() == "epoch 2 step 20  valid/dev/wer 12.35%  valid/dev/loss 0.5000\n"


def test_console_every_step_and_quiet(tmp_path: Path) -> None:
    logger, out = console_logger(tmp_path, every_step=True)
    logger.log_metrics({"train/loss": 1.23456, "train/lr": 3e-4}, step=10, epoch=None)
    assert out.getvalue() == "step 10  train/loss 1.2346  train/lr 3.00e-04\n"
    quiet, quiet_out = console_logger(tmp_path, every_step=True, quiet=True)
    quiet.log_metrics({"valid/dev/wer": 0.1}, step=1, epoch=1)
    assert quiet_out.getvalue() == ""


def test_console_makes_its_own_console_without_the_trainers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    logger = ConsoleLogger(ConsoleLogger.Config(), run=RunInfo(run_dir=tmp_path, recipe={}))
    logger.log_metrics({"test/test-clean/greedy/wer": 0.05}, step=3, epoch=None)
    assert "test/test-clean/greedy/wer 5.00%" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("valid/dev/wer", 0.25, "25.00%"),
        ("valid/dev/cer", 1.5, "150.00%"),
        ("train/loss", 12.0, "12.0000"),
        ("train/lr", 0.1, "1.00e-01"),
        ("train/grad_norm", 0.0001234, "1.23e-04"),
        ("train/audio_seconds_per_second", 1234.567, "1234.6"),
        ("train/audio_seconds_per_second", 12.3456, "12.35"),
        ("train/utterances", 64.0, "64"),
        ("train/loss", float("nan"), "nan"),
    ],
)
def test_console_number_formats(name: str, value: float, shown: str) -> None:
    assert format_value(name, value) == shown


# jsonl


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_writes_one_flushed_line_per_report_and_appends_on_resume(tmp_path: Path) -> None:
    run = RunInfo(run_dir=tmp_path, recipe=RECIPE)
    logger = JsonlLogger(JsonlLogger.Config(), run=run)
    logger.log_hyperparams(RECIPE)
    logger.log_metrics({"train/loss": 1.5, "train/lr": 0.001}, step=1, epoch=1)
    # Readable before close: what a crashed run leaves behind.
    (line,) = read_jsonl(tmp_path / "metrics.jsonl")
    assert line == {"step": 1, "epoch": 1, "time": line["time"], "train/loss": 1.5, "train/lr": 0.001}
    logger.close()
    logger.close()

    resumed = JsonlLogger(JsonlLogger.Config(), run=run)
    resumed.log_metrics({"train/loss": float("nan"), "valid/dev/wer": 0.25}, step=2, epoch=None)
    resumed.close()
    first, second = read_jsonl(tmp_path / "metrics.jsonl")
    assert list(first) == ["step", "epoch", "time", "train/loss", "train/lr"]
    assert second == {"step": 2, "epoch": None, "time": second["time"], "train/loss": None, "valid/dev/wer": 0.25}
    assert 1e9 < first["time"] <= second["time"]


def test_jsonl_filename_is_configurable(tmp_path: Path) -> None:
    logger = JsonlLogger(JsonlLogger.Config(filename="logs/m.jsonl"), run=RunInfo(run_dir=tmp_path, recipe={}))
    logger.log_metrics({"valid/dev/wer": 0.5}, step=7)
    logger.close()
    assert read_jsonl(tmp_path / "logs" / "m.jsonl")[0]["step"] == 7
    assert not (tmp_path / "metrics.jsonl").exists()


# comet


@pytest.fixture
def comet_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    """No Comet API key anywhere (env, ~/.comet.config, ./.env) and no network: attempts are recorded."""
    monkeypatch.delenv("COMET_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COMET_CONFIG", str(tmp_path / "no-such.config"))
    monkeypatch.chdir(tmp_path)
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("tests have no network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def read_archive(directory: Path) -> tuple[list[dict[str, Any]], zipfile.ZipFile]:
    (archive,) = directory.glob("*.zip")
    bundle = zipfile.ZipFile(archive)
    messages = [json.loads(line) for line in bundle.read("messages.json").decode().splitlines()]
    return messages, bundle


def test_comet_offline_archive_holds_recipe_metrics_and_assets(tmp_path: Path, comet_offline: list[Any]) -> None:
    run_dir = tmp_path / "run-42"
    run_dir.mkdir()
    artifact = run_dir / "results.tsv"
    artifact.write_text("utt1\tthe cat\n")
    logger = CometLogger(CometLogger.Config(project_name="asrkit-tests", tags=("ci",)), run=RunInfo(run_dir, RECIPE))
    try:
        logger.log_hyperparams(RECIPE)
        logger.log_metrics({"train/loss": 1.25, "train/lr": 0.001}, step=10, epoch=1)
        logger.log_metrics({"valid/dev/wer": 0.5}, step=20, epoch=2)
        logger.log_artifact(artifact, name="dev-results.tsv")
    finally:
        logger.close()
    logger.close()  # a second close (the trainer's error path) is harmless

    messages, bundle = read_archive(run_dir / "comet")
    experiment = json.loads(bundle.read("experiment.json"))
    assert experiment["project_name"] == "asrkit-tests" and experiment["tags"] == ["ci"]
    # comet_ml stores a list-valued parameter under "params", a scalar under "param".
    logged = [m["payload"].get("param") or m["payload"]["params"] for m in messages if m["type"] == "parameter_msg"]
    params = {p["paramName"]: p["paramValue"] for p in logged if p["source"] == "manual"}
    assert params["train.epochs"] == 3 and params["encoder.hidden"] == 256
    assert params["loggers.1.name"] == "comet" and params["loggers.1.tags"] == ["a", "b"]
    metrics = {
        (m["payload"]["metric"]["metricName"], m["payload"]["metric"]["step"], m["payload"]["metric"]["epoch"]): m[
            "payload"
        ]["metric"]["metricValue"]
        for m in messages
        if m["type"] == "metric_msg"
    }
    assert metrics[("train/loss", 10, 1)] == 1.25
    assert metrics[("valid/dev/wer", 20, 2)] == 0.5
    names = {m["payload"]["key"]: m["payload"]["value"] for m in messages if m["type"] == "log_other"}
    assert names["Name"] == "run-42"
    (upload,) = [m["payload"] for m in messages if m["type"] == "file_upload"]
    assert upload["additional_params"]["fileName"] == "dev-results.tsv"
    assert bundle.read(upload["file_path"]) == b"utt1\tthe cat\n"
    assert comet_offline == [], "offline mode must not touch the network"


def test_comet_offline_flag_wins_over_an_api_key(
    tmp_path: Path, comet_offline: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMET_API_KEY", "not-a-real-key")
    config = CometLogger.Config(offline=True, offline_directory=str(tmp_path / "archives"), experiment_name="x")
    logger = CometLogger(config, run=RunInfo(tmp_path / "run", {}))
    logger.log_metrics({"valid/dev/wer": 0.1}, step=1, epoch=1)
    logger.close()
    messages, _ = read_archive(tmp_path / "archives")
    assert any(m["type"] == "metric_msg" for m in messages)
    assert comet_offline == []


def test_comet_without_comet_ml_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "comet_ml", None)
    with pytest.raises(PluginError, match=r"the comet logger needs comet_ml: pip install 'asrkit\[comet\]'"):
        CometLogger(CometLogger.Config(), run=RunInfo(tmp_path, {}))
    # The other loggers of the same plugin module are unaffected.
    check_component("loggers", JsonlLogger)


def test_flatten_uses_dotted_keys_and_numbers_lists_of_mappings() -> None:
    assert flatten(RECIPE) == {
        "encoder.name": "rescnn_bigru",
        "encoder.hidden": 256,
        "loggers.0.name": "console",
        "loggers.1.name": "comet",
        "loggers.1.tags": ["a", "b"],
        "train.epochs": 3,
        "train.lr": 0.001,
    }
    assert flatten({"a": {}, "b": [], "c": [[1, 2], [3]]}) == {"b": [], "c.0": [1, 2], "c.1": [3]}
