"""The ``comet`` logger: the run's recipe, metrics and artifacts as a Comet experiment.

Online when an API key is configured (``COMET_API_KEY``, or ``comet login``)
and ``offline`` is false; otherwise an offline experiment whose zip archive
lands in ``offline_directory`` (default ``<run_dir>/comet``), to be sent later
with ``comet upload <archive>``.

Each experiment is given a key chosen here, kept in
``<run_dir>/comet/experiment.json``; ``asrkit run --resume`` reads it back and
logs the rest of the run to the same experiment, online or offline. A resumed
offline run writes a second archive for the same experiment: upload both, in
any order.

comet_ml is imported only when this logger is built, so a missing comet_ml
breaks nothing else. Comet's automatic logging is switched off: asrkit logs
what matters explicitly, and the automatic parts either patch other libraries
at import, capture stdout (which breaks rich's progress bar), or, offline,
still reach the network (the host details probe cloud metadata addresses and
comet.com).
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from asrkit.config import param
from asrkit.errors import PluginError
from asrkit.files import write_atomic
from asrkit.interfaces import Logger, RunInfo

# Read by comet_ml when it is first imported; setdefault keeps a user's own choice.
COMET_ENVIRONMENT = {
    "COMET_DISABLE_AUTO_LOGGING": "1",  # no import hooks patching torch and friends
    "COMET_ERROR_TRACKING_ENABLE": "false",  # no crash reports to Comet's Sentry
}

KEY_FILE = Path("comet") / "experiment.json"
"""Where, in the run directory, the key of the run's experiment is kept for ``--resume``."""

EXPERIMENT_KEY = re.compile(r"[A-Za-z0-9]{32,50}")
"""What comet_ml accepts as an experiment key."""


def flatten(tree: dict[str, Any] | list[Any], prefix: str = "") -> dict[str, Any]:
    """Nested recipe data as ``{"train.epochs": 3, "loggers.0.name": "comet"}``.

    Lists of mappings are numbered; lists of plain values stay one value.
    """
    flat: dict[str, Any] = {}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for key, value in items:
        name = f"{prefix}{key}"
        nested = isinstance(value, dict) or (
            isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value)
        )
        if nested:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def read_experiment_key(path: Path) -> str:
    """The experiment key kept in ``path``; ``ValueError`` saying why there is none to use."""
    try:
        key = json.loads(path.read_text(encoding="utf-8"))["experiment_key"]
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is unreadable ({exc})") from None
    if not isinstance(key, str) or not EXPERIMENT_KEY.fullmatch(key):
        raise ValueError(f"{path} holds no Comet experiment key")
    return key


def write_experiment_key(path: Path, key: str) -> None:
    write_atomic(path, json.dumps({"experiment_key": key}) + "\n")  # a killed run leaves no half key to resume


@contextmanager
def unseeded_random() -> Iterator[None]:
    """Python's ``random`` seeded from the OS's entropy inside, and put back as it was after.

    Outside ``create`` mode comet_ml names an offline archive ``<key>-<suffix>.zip``, the suffix
    drawn from ``random``, which the run has seeded by the time its loggers are built: the same seed
    would give a resumed run's archive the interrupted run's file name, and overwrite it. Putting
    the state back leaves the run's own random sequence as if comet_ml had drawn nothing.
    """
    state = random.getstate()
    random.seed()
    try:
        yield
    finally:
        random.setstate(state)


def import_comet() -> Any:
    for key, value in COMET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    try:
        import comet_ml
    except ImportError:
        raise PluginError("the comet logger needs comet_ml: pip install 'asrkit[comet]'") from None
    return comet_ml


class CometLogger(Logger):
    """Tracks the run in Comet: recipe, metrics, artifacts (an offline archive without an API key)."""

    name = "comet"

    @dataclass(frozen=True)
    class Config:
        project_name: str | None = param(None, help="Comet project (null: COMET_PROJECT_NAME or Comet's default)")
        workspace: str | None = param(None, help="Comet workspace (null: COMET_WORKSPACE or your default)")
        offline: bool = param(False, help="write an offline archive even when an API key is configured")
        offline_directory: str | None = param(None, help="where the offline archive goes (null: <run_dir>/comet)")
        experiment_name: str | None = param(None, help="experiment name (null: the run directory's name)")
        tags: tuple[str, ...] = param((), help="tags of the experiment")

    def __init__(self, config: Config, run: RunInfo) -> None:
        comet_ml = import_comet()
        online = not config.offline and bool(comet_ml.get_config().get_string(None, "comet.api_key"))
        directory = Path(config.offline_directory) if config.offline_directory else run.run_dir / "comet"
        experiment_config = comet_ml.ExperimentConfig(
            name=config.experiment_name or run.run_dir.name,
            tags=list(config.tags),
            offline_directory=str(directory),
            log_env_details=online,
            log_git_metadata=online,
            log_git_patch=False,
            log_code=False,
            log_graph=False,
            parse_args=False,
            auto_output_logging=False,
            auto_param_logging=False,
            auto_metric_logging=False,
            auto_log_co2=False,
            display_summary_level=0,
        )
        key_file = run.run_dir / KEY_FILE
        key = (self._interrupted_run_key(key_file, run) if run.resumed else None) or uuid.uuid4().hex
        write_experiment_key(key_file, key)
        # get_or_create with our own key, new runs included: an offline archive records the mode, so
        # a run's archive and its resumption's upload in either order (the first creates, the other
        # appends), and a run started offline can resume online. With a key given, comet_ml never
        # hands back another experiment still running in this process.
        with unseeded_random():
            self.experiment = comet_ml.start(
                workspace=config.workspace,
                project_name=config.project_name,
                experiment_key=key,
                mode="get_or_create",
                online=online,
                experiment_config=experiment_config,
            )
        self._ended = False

    @staticmethod
    def _interrupted_run_key(key_file: Path, run: RunInfo) -> str | None:
        """The interrupted run's experiment key; ``None``, with a warning line, when it was not kept."""
        try:
            return read_experiment_key(key_file)
        except ValueError as reason:
            console = run.extra.get("console") or Console(stderr=True, highlight=False)
            console.print(
                f"warning: comet: no experiment of the interrupted run to continue ({reason}); "
                "logging to a new Comet experiment",
                style="yellow",
                highlight=False,
                soft_wrap=True,
            )
            return None

    def log_hyperparams(self, params: dict[str, Any]) -> None:
        self.experiment.log_parameters(flatten(params))

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        self.experiment.log_metrics({name: float(value) for name, value in metrics.items()}, step=step, epoch=epoch)

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        self.experiment.log_asset(str(path), file_name=name or Path(path).name)

    def close(self) -> None:
        if not self._ended:
            self._ended = True
            self.experiment.end()
