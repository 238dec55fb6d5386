"""The built-in loggers: console lines, the metrics.jsonl file, and real offline Comet archives (with --resume)."""

from __future__ import annotations

import io
import json
import random
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
from asrkit_plugins.loggers.comet_logger import CometLogger, flatten
from asrkit_plugins.loggers.console_logger import ConsoleLogger, format_value
from asrkit_plugins.loggers.jsonl_logger import JsonlLogger

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
    # The key --resume continues is the archive's.
    assert json.loads((run_dir / "comet" / "experiment.json").read_text()) == {
        "experiment_key": experiment["offline_id"]
    }
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


def read_archives(directory: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each offline archive's experiment.json and its messages."""
    archives = []
    for archive in sorted(directory.glob("*.zip")):
        bundle = zipfile.ZipFile(archive)
        messages = [json.loads(line) for line in bundle.read("messages.json").decode().splitlines()]
        archives.append((json.loads(bundle.read("experiment.json")), messages))
    return archives


def logged_metrics(messages: list[dict[str, Any]]) -> dict[tuple[str, int], float]:
    """``{(name, step): value}`` of the metrics asrkit logged (not comet's own ``process duration``)."""
    metrics = (m["payload"]["metric"] for m in messages if m["type"] == "metric_msg")
    return {(m["metricName"], m["step"]): m["metricValue"] for m in metrics if m["metricName"] != "process duration"}


def comet_run(run_dir: Path, resumed: bool, console: Console | None = None, **options: Any) -> CometLogger:
    extra = {"console": console} if console is not None else {}
    return CometLogger(CometLogger.Config(**options), run=RunInfo(run_dir, RECIPE, extra=extra, resumed=resumed))


def test_comet_resume_continues_the_interrupted_runs_experiment(tmp_path: Path, comet_offline: list[Any]) -> None:
    run_dir = tmp_path / "run"
    random.seed(7)  # as the engine seeds before building loggers: the resumed run's archive must not overwrite
    first = comet_run(run_dir, resumed=False)
    first.log_hyperparams(RECIPE)
    first.log_metrics({"train/loss": 2.0}, step=1, epoch=1)
    first.close()
    key = json.loads((run_dir / "comet" / "experiment.json").read_text())["experiment_key"]

    out = io.StringIO()
    random.seed(7)
    resumed = comet_run(run_dir, resumed=True, console=Console(file=out, width=200, color_system=None))
    assert random.random() == random.Random(7).random(), "the run's random sequence is left as it was"
    resumed.log_metrics({"train/loss": 1.0}, step=2, epoch=1)
    resumed.log_metrics({"valid/dev/wer": 0.5}, step=2, epoch=1)
    resumed.close()

    assert out.getvalue() == ""
    assert resumed.experiment.get_key() == key
    archives = read_archives(run_dir / "comet")
    assert [experiment["offline_id"] for experiment, _ in archives] == [key, key]
    # Both archives say "append if the experiment exists", so they upload in either order.
    assert [experiment["resume_strategy"] for experiment, _ in archives] == ["get_or_create"] * 2
    metrics = {}
    for _, messages in archives:
        metrics.update(logged_metrics(messages))
    assert metrics == {("train/loss", 1): 2.0, ("train/loss", 2): 1.0, ("valid/dev/wer", 2): 0.5}
    assert json.loads((run_dir / "comet" / "experiment.json").read_text()) == {"experiment_key": key}
    assert comet_offline == []


@pytest.mark.parametrize(
    ("kept", "reason"),
    [
        (None, "does not exist"),
        ("{not json", "is unreadable"),
        ('{"experiment_key": "short"}', "holds no Comet experiment key"),
    ],
)
def test_comet_resume_without_a_kept_key_starts_a_new_experiment_and_says_so(
    tmp_path: Path, comet_offline: list[Any], kept: str | None, reason: str
) -> None:
    run_dir = tmp_path / "run"
    key_file = run_dir / "comet" / "experiment.json"
    if kept is not None:
        key_file.parent.mkdir(parents=True)
        key_file.write_text(kept)
    out = io.StringIO()
    logger = comet_run(run_dir, resumed=True, console=Console(file=out, width=300, color_system=None))
    logger.log_metrics({"train/loss": 1.0}, step=5, epoch=1)
    logger.close()

    (line,) = out.getvalue().splitlines()
    assert line.startswith(f"warning: comet: no experiment of the interrupted run to continue ({key_file} {reason}")
    assert line.endswith("); logging to a new Comet experiment")
    ((experiment, messages),) = read_archives(run_dir / "comet")
    assert logged_metrics(messages) == {("train/loss", 5): 1.0}
    # The new experiment's key is kept, for the next --resume.
    assert json.loads(key_file.read_text()) == {"experiment_key": experiment["offline_id"]}
    assert comet_offline == []


def test_comet_resume_online_asks_comet_for_the_kept_experiment(
    tmp_path: Path, comet_offline: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests have no network: the online request is recorded and stopped before comet_ml sends it."""
    import comet_ml

    run_dir = tmp_path / "run"
    comet_run(run_dir, resumed=False).close()
    key = json.loads((run_dir / "comet" / "experiment.json").read_text())["experiment_key"]

    class Stop(Exception):
        pass

    requests: list[dict[str, Any]] = []

    def record(**request: Any) -> Any:
        requests.append(request)
        raise Stop

    monkeypatch.setenv("COMET_API_KEY", "not-a-real-key")
    monkeypatch.setattr(comet_ml, "start", record)
    with pytest.raises(Stop):
        comet_run(run_dir, resumed=True)
    (request,) = requests
    assert (request["online"], request["mode"], request["experiment_key"]) == (True, "get_or_create", key)
    assert comet_offline == []


@pytest.mark.slow
def test_asrkit_run_resume_logs_to_the_same_comet_experiment(tmp_path: Path, comet_offline: list[Any]) -> None:
    """``asrkit run`` for one epoch, then ``--resume`` for a second: one experiment holds both."""
    from click.testing import CliRunner

    from asrkit.cli import main

    root = Path(__file__).resolve().parent.parent
    corpus = str(root / "tests" / "fixtures" / "librispeech")
    run_dir = tmp_path / "run"
    command = [
        "run",
        str(root / "tests" / "fixtures" / "tiny_recipe.yaml"),
        f"data.train.0.root={corpus}",
        f"data.valid.0.root={corpus}",
        "data.test=[]",
        "loggers=[{name: jsonl}, {name: comet}]",
        "train.schedule.name=constant",  # so that --resume may add an epoch
        "--out",
        str(run_dir),
        "--quiet",
    ]
    first = CliRunner().invoke(main, [*command, "train.epochs=1"])
    assert first.exit_code == 0, first.output
    resumed = CliRunner().invoke(main, [*command, "train.epochs=2", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "warning: comet" not in resumed.output

    key = json.loads((run_dir / "comet" / "experiment.json").read_text())["experiment_key"]
    archives = read_archives(run_dir / "comet")
    assert [experiment["offline_id"] for experiment, _ in archives] == [key, key]
    epochs = set()
    for _, messages in archives:
        epochs |= {m["payload"]["metric"]["epoch"] for m in messages if m["type"] == "metric_msg"}
    assert {1, 2} <= epochs
    logged = {(name, step) for _, messages in archives for name, step in logged_metrics(messages)}
    in_jsonl = {(name, line["step"]) for line in read_jsonl(run_dir / "metrics.jsonl") for name in line}
    assert logged == {pair for pair in in_jsonl if pair[0] not in ("step", "epoch", "time")}
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
